-- Read models served by the query API (CONTRACT 2.5). Projections fill them from the event
-- store; every table but `ticket_reads` can be dropped and rebuilt from the events at any time.
-- No foreign keys and no serial columns: a rebuild recreates these tables in a shadow schema
-- and swaps them in, and rows of one table may be applied before those of another.

-- `ILIKE '%…%'` search on titles and descriptions through trigram indexes. A trusted
-- extension (Postgres 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per ticket: everything `GET /tickets/{id}` shows except the comments, plus the facts
-- the list, the board and the statistics filter, sort and aggregate on.
CREATE TABLE ticket_view
(
    -- The ticket (the aggregate id).
    ticket_id                      uuid PRIMARY KEY,
    -- The short number for humans (#1042).
    number                         bigint      NOT NULL,
    -- Current title.
    title                          text        NOT NULL,
    -- Current description.
    description                    text        NOT NULL,
    -- Current category.
    category                       text        NOT NULL,
    -- Current priority: low, medium, high or urgent.
    priority                       text        NOT NULL,
    -- The priority as a number for sorting: 1 low … 4 urgent (0 for a name this build does not know).
    priority_rank                  smallint GENERATED ALWAYS AS (
        CASE priority WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 WHEN 'urgent' THEN 4 ELSE 0 END
        ) STORED,
    -- Where the ticket came from: web, email, chat, api or phone.
    channel                        text        NOT NULL,
    -- open, in_progress or closed.
    status                         text        NOT NULL,
    -- Who the ticket is for.
    requester_id                   uuid        NOT NULL,
    -- The requester's name as `ticket.created` recorded it.
    requester_name                 text        NOT NULL,
    -- The current assignee, if any.
    assignee_id                    uuid,
    -- The current assignee's name as the latest `ticket.assigned` recorded it.
    assignee_name                  text,
    -- Time of `ticket.created`.
    created_at                     timestamptz NOT NULL,
    -- Time of the latest event.
    updated_at                     timestamptz NOT NULL,
    -- Time of the first comment by someone other than the requester.
    first_response_at              timestamptz,
    -- Time of the latest `ticket.closed` while the ticket is closed; NULL while it is not.
    closed_at                      timestamptz,
    -- The resolution given by the latest close.
    resolution                     text,
    -- The latest rating's score (1–5).
    rating_score                   smallint,
    -- The latest rating's comment.
    rating_comment                 text,
    -- Time of the latest rating.
    rated_at                       timestamptz,
    -- When the first response is due (recomputed on a priority change).
    first_response_due             timestamptz NOT NULL,
    -- When the resolution is due (recomputed on a priority change).
    resolution_due                 timestamptz NOT NULL,
    -- `ticket.sla_breached` was recorded for the first response.
    first_response_breach_recorded boolean     NOT NULL DEFAULT false,
    -- `ticket.sla_breached` was recorded for the resolution.
    resolution_breach_recorded     boolean     NOT NULL DEFAULT false,
    -- The first response came in time (false also while it has not come).
    first_response_met             boolean GENERATED ALWAYS AS (
        first_response_at IS NOT NULL AND first_response_at <= first_response_due
            AND NOT first_response_breach_recorded
        ) STORED,
    -- The ticket is closed and its latest close came in time (false also while it is not closed).
    resolution_met                 boolean GENERATED ALWAYS AS (
        closed_at IS NOT NULL AND closed_at <= resolution_due AND NOT resolution_breach_recorded
        ) STORED,
    -- The ticket's version: `seq` of the latest applied event.
    version                        bigint      NOT NULL,
    -- Global position of the latest applied event (what `POST /tickets/{id}/read` marks read).
    last_position                  bigint      NOT NULL
);

-- GET /tickets: one index per sort order; each ends with the id, the keyset tie-breaker.
-- Both directions of a sort use the same index (scanned backwards).
CREATE INDEX ticket_view_created ON ticket_view (created_at, ticket_id);
CREATE INDEX ticket_view_updated ON ticket_view (updated_at, ticket_id);
CREATE INDEX ticket_view_number ON ticket_view (number, ticket_id);
-- Requesters list their own tickets; /me counts requested and assigned tickets.
CREATE INDEX ticket_view_requester ON ticket_view (requester_id, created_at);
CREATE INDEX ticket_view_assignee ON ticket_view (assignee_id, created_at) WHERE assignee_id IS NOT NULL;
-- GET /board and the priority sort: one column per status, urgent first, oldest first.
CREATE INDEX ticket_view_board ON ticket_view (status, priority_rank DESC, created_at, ticket_id);
-- `q`: substring search on title and description.
CREATE INDEX ticket_view_title_trgm ON ticket_view USING gin (title gin_trgm_ops);
CREATE INDEX ticket_view_description_trgm ON ticket_view USING gin (description gin_trgm_ops);

-- Every comment, internal ones included (requesters are served without them).
CREATE TABLE ticket_comments
(
    -- The comment's id (`data.comment_id`).
    comment_id  uuid PRIMARY KEY,
    -- The ticket it belongs to.
    ticket_id   uuid        NOT NULL,
    -- The author's id.
    author_id   uuid        NOT NULL,
    -- The author's name as the event recorded it.
    author_name text        NOT NULL,
    -- The role the author wrote in: requester, agent or admin.
    author_role text        NOT NULL,
    -- The text.
    body        text        NOT NULL,
    -- Hidden from requesters.
    internal    boolean     NOT NULL,
    -- Time of the `ticket.commented` event.
    created_at  timestamptz NOT NULL,
    -- Global position of the event: the comments' order.
    position    bigint      NOT NULL
);

-- GET /tickets/{id}: a ticket's comments in order.
CREATE INDEX ticket_comments_ticket ON ticket_comments (ticket_id, position);

-- Who did something to a ticket, and whether requesters may see it: the input of the unread rule.
CREATE TABLE ticket_activity
(
    -- The ticket.
    ticket_id uuid    NOT NULL,
    -- Global position of the event.
    position  bigint  NOT NULL,
    -- The user who caused it; NULL for the engine itself (SLA breaches).
    actor_id  uuid,
    -- An internal comment, which requesters never see.
    internal  boolean NOT NULL,
    PRIMARY KEY (ticket_id, position)
);

-- User state, not a projection: written by POST /tickets/{id}/read and kept across rebuilds.
CREATE TABLE ticket_reads
(
    -- The reader.
    user_id   uuid        NOT NULL,
    -- The ticket read.
    ticket_id uuid        NOT NULL,
    -- Activity up to this global position has been read.
    position  bigint      NOT NULL,
    -- When the user last marked it read.
    read_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, ticket_id)
);

