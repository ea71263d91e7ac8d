-- Committing a transaction that sent a NOTIFY takes a database-wide lock that is held until the
-- commit is durable, so that notifications are queued in commit order. With the insert trigger
-- notifying, every command's commit waited for the one before it to reach disk, and no two
-- commits could share a WAL flush. The engine now announces committed events itself, after the
-- commit, from a statement that writes nothing (whose commit needs no flush); the sequencer's
-- poll covers writers that do not announce.
DROP TRIGGER events_notify_insert ON events;
DROP FUNCTION events_notify_insert();
