-- GET /tickets with one filter, newest first (the default order) or oldest first: each filter
-- column leads an index that then holds the order, so a page reads about `limit` entries however
-- many tickets exist and however rare the value is. Status, priority and category change rarely
-- (a comment, the commonest event, changes none of them, so its update stays HOT); the channel
-- never changes.
CREATE INDEX ticket_view_status_created ON ticket_view (status, created_at, ticket_id);
CREATE INDEX ticket_view_priority_created ON ticket_view (priority, created_at, ticket_id);
CREATE INDEX ticket_view_category_created ON ticket_view (category, created_at, ticket_id);
CREATE INDEX ticket_view_channel_created ON ticket_view (channel, created_at, ticket_id);
-- The requester's and the assignee's own lists, with the keyset's tie-breaker.
CREATE INDEX ticket_view_requester_created ON ticket_view (requester_id, created_at, ticket_id);
CREATE INDEX ticket_view_assignee_created ON ticket_view (assignee_id, created_at, ticket_id)
    WHERE assignee_id IS NOT NULL;
DROP INDEX ticket_view_requester;
DROP INDEX ticket_view_assignee;
