-- The event store: postgres-es's `events` and `snapshots` tables, extended with what the engine
-- needs to order, chain and deduplicate events. Events are append-only (see the triggers below).

CREATE TABLE events
(
    -- postgres-es's columns, unchanged so that its repository can read this table.
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    -- The envelope's `data` member, exactly.
    payload         json                         NOT NULL,
    -- The envelope's other fixed members: source, time, actor*, correlationid, hash, prevhash.
    metadata        json                         NOT NULL,
    -- The writing transaction: the sequencer positions only rows whose transaction can no
    -- longer be in flight, so a late commit is never skipped.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Insertion order, to order rows within one transaction. Gaps and commit order do not
    -- matter: readers follow `position`, never this.
    insertion_id    bigserial   NOT NULL,
    -- When the row was written, by the database's clock (the envelope's `time` is the engine's).
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Dense global order, assigned after commit by the sequencer; NULL until then.
    position        bigint UNIQUE,
    -- Idempotency-Key of the command that wrote the event, with the caller and a digest of the
    -- request, stored in the same transaction so that a crash cannot separate them.
    idempotency_key text,
    actor_id        text,
    request_digest  text,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- One command per (caller, key). The engine writes the key on the first event of a command only.
CREATE UNIQUE INDEX events_idempotency ON events (actor_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The sequencer's work queue.
CREATE INDEX events_unpositioned ON events (transaction_id, insertion_id) WHERE position IS NULL;

-- postgres-es's snapshot table; unused while aggregates are rebuilt from their events.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Stored events never change: the only UPDATE allowed gives a row without a position its
-- position and touches nothing else. DELETE and TRUNCATE are refused.
CREATE FUNCTION events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF TG_OP = 'UPDATE'
        AND OLD.position IS NULL AND NEW.position IS NOT NULL
        AND (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type, NEW.event_version,
             NEW.payload::text, NEW.metadata::text, NEW.transaction_id, NEW.insertion_id,
             NEW.recorded_at, NEW.idempotency_key, NEW.actor_id, NEW.request_digest)
            IS NOT DISTINCT FROM
            (OLD.aggregate_type, OLD.aggregate_id, OLD.sequence, OLD.event_type, OLD.event_version,
             OLD.payload::text, OLD.metadata::text, OLD.transaction_id, OLD.insertion_id,
             OLD.recorded_at, OLD.idempotency_key, OLD.actor_id, OLD.request_digest) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Wakes the sequencer when events commit (NOTIFY is delivered at commit, once per statement).
CREATE FUNCTION events_notify_insert() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('ticketd_events_inserted', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify_insert
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_insert();

-- Short ticket numbers for humans (#1042), taken when a ticket is created.
CREATE SEQUENCE ticket_numbers START 1;
