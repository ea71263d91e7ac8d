-- The team a ticket is given to (CONTRACT 11), for the board's and the list's `team_id` filter.
-- Tickets stored before teams have none, so the column starts empty without a rebuild.
ALTER TABLE ticket_view ADD COLUMN team_id uuid;
CREATE INDEX ticket_view_team ON ticket_view (team_id, status, priority_rank DESC, created_at, ticket_id)
    WHERE team_id IS NOT NULL;
