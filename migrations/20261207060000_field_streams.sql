-- Custom field definitions as events (field streams, `field.defined` / `field.updated`):
-- `field_definitions` becomes their projection, written in the transaction that appends each
-- event and rebuilt from the events by a full rebuild. A version is its event's `seq`, its
-- `recorded_at` the event's `time`, its `recorded_by` the event's actor.
--
-- `field_id` is the stream's id. Rows recorded before definitions were events have none: the
-- engine appends their events when it applies migrations, then fills it in.
ALTER TABLE field_definitions ADD COLUMN field_id uuid;
-- The engine itself records nothing here, but an actor that is not a user must fit.
ALTER TABLE field_definitions ALTER COLUMN recorded_by DROP NOT NULL;
