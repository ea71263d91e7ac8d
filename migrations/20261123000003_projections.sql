-- Where each projector stands: the position of the last event it applied. A projector moves its
-- row in the same transaction as the read-model rows it writes (exactly once), and locks it
-- (`FOR UPDATE`) for that transaction, so that projectors of several engine instances take turns.
CREATE TABLE projection_checkpoints
(
    name       text PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz
);
