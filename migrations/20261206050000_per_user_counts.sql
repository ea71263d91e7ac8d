-- `GET /me` counted every ticket a user requested or is assigned to, with the unread rule per
-- ticket: an agent with 50,000 tickets waited half a second. The ticket view projection now
-- keeps, per user, one row per ticket of theirs (`my_tickets`) and their counts (`my_counts`),
-- so that `/me` reads a few rows however many tickets the user has.

-- Who acted on the ticket last, and the latest position of an event by anyone else: enough to
-- tell, for any user, the latest event by someone other than them (the unread rule), also for
-- a user who becomes assignee later. The `public_` columns count only what requesters may see
-- (no internal comments). 0: no such event. The actor is NULL for the engine itself.
ALTER TABLE ticket_view
    ADD COLUMN last_actor_id          uuid,
    ADD COLUMN last_actor_position    bigint NOT NULL DEFAULT 0,
    ADD COLUMN other_actor_position   bigint NOT NULL DEFAULT 0,
    ADD COLUMN public_actor_id        uuid,
    ADD COLUMN public_actor_position  bigint NOT NULL DEFAULT 0,
    ADD COLUMN public_other_position  bigint NOT NULL DEFAULT 0;

-- One row per user and ticket they requested or are assigned to.
CREATE TABLE my_tickets
(
    -- The requester or the assignee.
    user_id     uuid        NOT NULL,
    -- The ticket.
    ticket_id   uuid        NOT NULL,
    -- The user is the ticket's requester.
    requested   boolean     NOT NULL,
    -- The user is the ticket's current assignee.
    assigned    boolean     NOT NULL,
    -- The ticket's status.
    status      text        NOT NULL,
    -- The ticket's creation time.
    created_at  timestamptz NOT NULL,
    -- Position of the latest event by someone other than the user (0: none).
    seen        bigint      NOT NULL,
    -- The same among the events requesters may see.
    seen_public bigint      NOT NULL,
    PRIMARY KEY (user_id, ticket_id)
);

-- A user's counts: `requested_<status>`, `assigned_<status>`, and `seen` / `seen_public`, their
-- tickets with an event by someone else (unread unless `ticket_reads` covers it). Rows at 0 go.
CREATE TABLE my_counts
(
    user_id uuid   NOT NULL,
    metric  text   NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (user_id, metric)
);

-- The `me` WebSocket channel decides from the store (before any read model has caught up)
-- which tickets a user requested and which were ever assigned to them.
--
-- Reading a member of a `json` payload parses the whole document, and a document holding
-- \u0000 cannot be read as text: an index on `payload -> ... ->> 'id'` would refuse to store
-- such an event. The log keeps every event it is given, so the indexed expression answers
-- NULL for that document instead (the subtransaction of the handler is paid only by the
-- events the partial indexes cover).
CREATE FUNCTION event_member_id(payload json, member text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN payload -> member ->> 'id';
EXCEPTION WHEN untranslatable_character THEN
    RETURN NULL;
END
$$;
CREATE INDEX events_ticket_requester ON events (event_member_id(payload, 'requester'))
    WHERE event_type = 'ticket.created';
CREATE INDEX events_ticket_assignee ON events (event_member_id(payload, 'assignee'))
    WHERE event_type = 'ticket.assigned';

-- The new columns and tables are filled by applying every event again.
TRUNCATE ticket_view, ticket_recency, ticket_comments, ticket_search, ticket_stats;
DELETE FROM projection_checkpoints WHERE name = 'ticket_view';

-- A search in creation order orders its matches by `ticket_search`'s own copy of the creation
-- time (which never changes), then reads only a page of `ticket_view` rows: a word in one
-- ticket of 200 matched 5,000 tickets at 1,000,000, each read from `ticket_view` to be sorted.
ALTER TABLE ticket_search ADD COLUMN created_at timestamptz NOT NULL;
-- A common word matches most tickets: then the newest matches are found by walking this
-- index and testing each ticket's text, and the planner chooses between the two.
CREATE INDEX ticket_search_created ON ticket_search (created_at, ticket_id);
