-- Attachments (CONTRACT 10): the files' metadata beside their content in the object store. The
-- event log stays the source of truth: a file belongs to a comment when a `ticket.commented`
-- event lists it (with its SHA-256); `referenced_at` only spares the janitor that look-up.
CREATE TABLE attachments
(
    id            uuid PRIMARY KEY,
    ticket_id     uuid        NOT NULL,
    filename      text        NOT NULL,
    content_type  text        NOT NULL,
    size          bigint      NOT NULL CHECK (size >= 0),
    sha256        text        NOT NULL,
    uploaded_by   uuid        NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    referenced_at timestamptz
);

-- The janitor's queue: files never referenced, oldest first.
CREATE INDEX attachments_unreferenced ON attachments (uploaded_at) WHERE referenced_at IS NULL;
