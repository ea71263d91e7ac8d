-- Statistics per team (`GET /stats` `teams`): the ticket view projection now also keeps, in
-- `ticket_stats`, per team its open tickets, its closed ones with their resolution times and its
-- rated ones with their scores (metrics `team_open`, `team_closed`, `team_rated`, key the team's
-- id), summed like the agents' figures.

-- A ticket shows its team as `{id, name}` (`GET /tickets/{id}`, list items): its name as the
-- event that gave the ticket to the team recorded it, as the assignee's is.
ALTER TABLE ticket_view ADD COLUMN team_name text;

-- The new rows are filled by applying every event again.
TRUNCATE ticket_view, ticket_recency, ticket_comments, ticket_search, ticket_stats, my_tickets,
    my_counts, ticket_tag_counts;
DELETE FROM projection_checkpoints WHERE name = 'ticket_view';
