-- E-mail in and out (CONTRACT 7).

-- Every mail that came in, one row per Message-ID (a mail without one is named by the SHA-256 of
-- its bytes): what it did, or why it was ignored. Operators read this table to see why a mail
-- did not become a ticket. The row is written after the event it caused committed; the event's
-- idempotency key (`email:<message id>`, unique per sender with the event) is what makes a
-- message apply once, and a redelivery writes a missing row again.
CREATE TABLE email_inbound
(
    -- Without angle brackets.
    message_id  text PRIMARY KEY,
    -- How it arrived first: 'smtp' or 'imap'.
    received_via text       NOT NULL CHECK (received_via IN ('smtp', 'imap')),
    -- The From address, when the mail had one.
    sender      text,
    subject     text,
    -- 'created' (a new ticket), 'commented' (a reply on a ticket) or 'ignored'.
    outcome     text        NOT NULL CHECK (outcome IN ('created', 'commented', 'ignored')),
    -- Why it was ignored, or why a reply became a new ticket instead of a comment.
    reason      text,
    -- The ticket it created or commented on.
    ticket_id   uuid,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Threading: the messages of a ticket, latest last.
CREATE INDEX email_inbound_ticket ON email_inbound (ticket_id, received_at)
    WHERE ticket_id IS NOT NULL;

-- Mail to send, one row per (event, recipient), written with the mail-out checkpoint
-- (`relay_checkpoints` row 'email_out') in one transaction, so that each event is mailed to
-- each recipient once however often the engine restarts; `sent_at` is set once the SMTP server
-- accepted the message.
CREATE TABLE email_outbox
(
    -- The event's CloudEvents id (`<ticket_id>:<seq>`).
    event_id        text        NOT NULL,
    recipient       text        NOT NULL,
    ticket_id       uuid        NOT NULL,
    -- The event's global position: mails go out in this order.
    position        bigint      NOT NULL,
    -- The Message-ID the mail is sent with (without angle brackets), fixed when queued so that
    -- a retry sends the same message and replies thread back onto the ticket.
    message_id      text        NOT NULL UNIQUE,
    -- The last message of the ticket's thread when queued (without angle brackets).
    in_reply_to     text,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    -- Set when the SMTP server refused the message for good (a 5xx): it is not tried again.
    failed_at       timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    PRIMARY KEY (event_id, recipient)
);

CREATE INDEX email_outbox_unsent ON email_outbox (position)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX email_outbox_ticket ON email_outbox (ticket_id, position);
