-- Notification channels and automation rules (CONTRACT 8).
--
-- A channel is where a rule's `notify` action sends text: e-mail to fixed addresses or to a
-- role of the ticket, a Telegram chat, a Slack incoming webhook. `secret` holds the Telegram
-- bot token or the Slack webhook URL: the engine needs them in clear to send, and no answer of
-- the API ever carries them.
CREATE TABLE notification_channels
(
    id         uuid PRIMARY KEY,
    name       text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('email', 'telegram', 'slack')),
    -- The public part of the configuration: email {to} or {to_role}; telegram {chat_id}.
    config     jsonb       NOT NULL,
    secret     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A rule: `when` (event types and conditions on the ticket after the event) and `then` (the
-- actions, in order). `created_snapshot` holds the transactions committed when the rule was
-- made: their events are not the rule's, even when the processor reaches them afterwards.
CREATE TABLE rules
(
    id               uuid PRIMARY KEY,
    name             text        NOT NULL,
    enabled          boolean     NOT NULL DEFAULT true,
    conditions       jsonb       NOT NULL,
    actions          jsonb       NOT NULL,
    created_snapshot pg_snapshot NOT NULL DEFAULT pg_current_snapshot(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- An action that could not act (a user gone, a closed ticket, a channel deleted): recorded
-- once per (rule, event, action), so an operator sees why a rule did nothing.
CREATE TABLE rule_failures
(
    rule_id   uuid        NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    event_id  text        NOT NULL,
    action    integer     NOT NULL,
    position  bigint      NOT NULL,
    error     text        NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, event_id, action)
);

-- One notification per (rule, event, action): written with the rule processor's checkpoint in
-- one transaction, so it is queued exactly once; sent after, retried with backoff until sent
-- or failed for good. `text` is the rendered template; `recipients` the e-mail addresses
-- resolved when it was queued.
CREATE TABLE notifications
(
    id              bigserial PRIMARY KEY,
    rule_id         uuid        NOT NULL,
    event_id        text        NOT NULL,
    action          integer     NOT NULL,
    position        bigint      NOT NULL,
    channel_id      uuid        NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    subject         text        NOT NULL,
    text            text        NOT NULL,
    recipients      text[]      NOT NULL DEFAULT '{}',
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (rule_id, event_id, action)
);

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';

-- The defaults of a new install (editable like any other): the assignee is mailed on
-- assignment; agents are told of new urgent tickets.
INSERT INTO notification_channels (id, name, kind, config)
VALUES ('0193f000-0000-7000-8000-000000000001', 'Assignee by e-mail', 'email',
        '{"to_role": "assignee"}'),
       ('0193f000-0000-7000-8000-000000000002', 'Agents by e-mail', 'email',
        '{"to_role": "agents"}');

INSERT INTO rules (id, name, conditions, actions)
VALUES ('0193f000-0000-7000-8000-000000000011', 'Mail the assignee on assignment',
        '{"event_types": ["ticket.assigned"]}',
        '[{"notify": "0193f000-0000-7000-8000-000000000001",
           "template": "Ticket #{{ticket.number}} \"{{ticket.title}}\" was assigned to you by {{actor.name}}.\n{{ticket.url}}"}]'),
       ('0193f000-0000-7000-8000-000000000012', 'Notify agents of urgent tickets',
        '{"event_types": ["ticket.created"], "priority": ["urgent"]}',
        '[{"notify": "0193f000-0000-7000-8000-000000000002",
           "template": "Urgent ticket #{{ticket.number}}: {{ticket.title}}\n{{ticket.url}}"}]');

INSERT INTO relay_checkpoints (name, position)
SELECT 'rules', coalesce(max(position), 0) FROM events
ON CONFLICT (name) DO NOTHING;
