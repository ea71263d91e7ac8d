-- Where each outbox relay stands: the position of the last event it knows to be in its
-- destination. The NATS relay keeps one row per stream (name `nats:<stream>`), so that pointing
-- the engine at a new stream copies every event into it from the start.
--
-- The relay moves its row only after JetStream has acknowledged every event up to `position`,
-- and only forward (GREATEST), so a crash republishes a little, which the stream's duplicate
-- window drops, and never skips anything.
CREATE TABLE relay_checkpoints
(
    name       text PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
