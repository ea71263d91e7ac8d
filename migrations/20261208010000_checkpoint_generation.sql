-- A read model's stored rows can change without an event: the SLA configuration moves the ticket
-- view's due times and business-time figures, a rebuild swaps new tables in. Whatever writes
-- them so bumps `generation` in the same transaction, under the projection's lock; a projector
-- that keeps rows in memory (on any instance) forgets them when it sees the number move.
ALTER TABLE projection_checkpoints
    ADD COLUMN generation bigint NOT NULL DEFAULT 0;
