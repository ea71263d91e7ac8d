-- Webhook endpoints (CONTRACT 8). Each is a consumer of the event log with its own checkpoint:
-- `position` is the last event position whose matching events all have a delivery row below.
-- A new endpoint starts at the head and skips events of transactions committed before its
-- creation, so it receives exactly the events committed after it.
--
-- `secret` is the Standard Webhooks signing key. The engine signs with it, so it cannot be
-- hashed; docs/adr/0014-webhook-secrets.md says how it is kept.
CREATE TABLE webhooks
(
    id              uuid PRIMARY KEY,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    description     text,
    secret          text        NOT NULL,
    status          text        NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason text,
    position        bigint      NOT NULL CHECK (position >= 0),
    -- The transactions committed when the endpoint was created: events they wrote are not
    -- delivered even if positioned after `position` (positions are assigned after commit).
    created_snapshot pg_snapshot NOT NULL,
    -- The first failed attempt since the last success: 24 h of failure disables the endpoint.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per (endpoint, event): written in the same statement that moves the endpoint's
-- checkpoint, so an event is never skipped, and sent after, so a crash re-sends (at least once).
CREATE TABLE webhook_deliveries
(
    webhook_id       uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    position         bigint      NOT NULL,
    event_id         text        NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    last_attempt_at  timestamptz,
    -- When the next attempt is due; NULL once the delivery succeeded or failed for good.
    next_attempt_at  timestamptz,
    PRIMARY KEY (webhook_id, position)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE status = 'pending';
