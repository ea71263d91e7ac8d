-- People and intake channels: contacts on users, integrations and their keys, intake's
-- external ids, and the metadata intake keeps on a ticket.

-- A requester found by intake may be known by phone only.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
-- E.164 phone number (`+5511987654321`), unique like the e-mail address.
ALTER TABLE users ADD COLUMN phone text;
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;
-- False refuses sign-in and every token of the user.
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;
-- Set when the user was merged into another, which now stands for them.
ALTER TABLE users ADD COLUMN merged_into uuid REFERENCES users (id);
CREATE INDEX users_merged_into ON users (merged_into) WHERE merged_into IS NOT NULL;

-- Other systems that open tickets through /intake/*, each with its own key.
CREATE TABLE integrations
(
    id               uuid PRIMARY KEY,
    name             text        NOT NULL,
    -- The channel of every ticket it opens: web, email, chat, api or phone.
    channel          text        NOT NULL,
    default_category text,
    default_priority text,
    -- Lowercase hex SHA-256 of the key (`tdk_…`): the key itself is shown once and never kept.
    key_hash         text        NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Set by DELETE /integrations/{id}: the key stops working at once.
    revoked_at       timestamptz
);

-- `external_id`s of intake, one ticket per (integration, external id). The row is written
-- before the ticket's creation, with the ticket's id and number, so that a concurrent or later
-- intake with the same external id answers with that ticket.
CREATE TABLE intake_tickets
(
    integration_id uuid        NOT NULL REFERENCES integrations (id),
    external_id    text        NOT NULL,
    ticket_id      uuid        NOT NULL UNIQUE,
    number         bigint      NOT NULL,
    requester_id   uuid        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, external_id)
);

-- The flat string metadata an integration attached at intake (`ticket.created.data.metadata`).
ALTER TABLE ticket_view ADD COLUMN metadata jsonb;
