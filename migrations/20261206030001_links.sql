-- Links and merges (CONTRACT 10), kept by the ticket view projection: the ticket's links as
-- `[{kind, ticket_id}]` in the order they were made, and the ticket it was merged into.
ALTER TABLE ticket_view ADD COLUMN links jsonb NOT NULL DEFAULT '[]';
ALTER TABLE ticket_view ADD COLUMN merged_into uuid;
