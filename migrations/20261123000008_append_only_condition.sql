-- The append-only rule of `events` becomes the UPDATE trigger's condition. The sequencer updates
-- every row once (to give it its position); evaluated as a trigger condition the check costs no
-- PL/pgSQL call per row, and the function runs only to refuse. DELETE keeps its own trigger, since
-- a condition for DELETE cannot name NEW.
DROP TRIGGER events_append_only ON events;

CREATE TRIGGER events_append_only
    BEFORE UPDATE ON events
    FOR EACH ROW
    WHEN (NOT (OLD.position IS NULL AND NEW.position IS NOT NULL
               AND (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type,
                    NEW.event_version, NEW.payload::text, NEW.metadata::text, NEW.transaction_id,
                    NEW.insertion_id, NEW.recorded_at, NEW.idempotency_key, NEW.actor_id,
                    NEW.request_digest)
                   IS NOT DISTINCT FROM
                   (OLD.aggregate_type, OLD.aggregate_id, OLD.sequence, OLD.event_type,
                    OLD.event_version, OLD.payload::text, OLD.metadata::text, OLD.transaction_id,
                    OLD.insertion_id, OLD.recorded_at, OLD.idempotency_key, OLD.actor_id,
                    OLD.request_digest)))
    EXECUTE FUNCTION events_append_only();

CREATE TRIGGER events_no_delete
    BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
