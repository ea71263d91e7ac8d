-- The requester members of `GET /stats` over a window (`unique`, `recurring`, `top`) summed
-- one `ticket_stats` row per requester and week: the cost of a 30-day window grew with the
-- people in it. Each ticket now records when its requester's earlier tickets were created
-- (the one before, and the 2nd, 4th and 8th before), so that:
--
-- - a requester has a ticket in `[from, to)` exactly once with no earlier one since `from`,
--   so `unique` counts the window's tickets whose previous ticket is older than `from`;
-- - `recurring` counts those whose previous ticket is in the window and the one before that
--   is not;
-- - a requester with more than k tickets in the window has one whose k-th earlier ticket is
--   in it, which an index on that time finds: the candidates for `top`.
--
-- `requester_gaps` counts, per creation day, tickets by how many days lie between them and
-- their requester's previous (depth 1) and second previous (depth 2) ticket, up to 92 days;
-- depth 0 counts the day's tickets. A window of whole days reads at most one row per day and
-- distance within it. Both tables belong to the ticket view projection and are rebuilt with it.
CREATE TABLE requester_tickets
(
    ticket_id    uuid PRIMARY KEY,
    -- As recorded on the ticket; a merge of users is applied when reading.
    requester_id uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    -- Creation times of the requester's 1st, 2nd, 4th and 8th earlier ticket (by creation
    -- time, then id), if any.
    prev1_at     timestamptz,
    prev2_at     timestamptz,
    prev4_at     timestamptz,
    prev8_at     timestamptz
);
-- Unique (the id is in it), so that a rebuild keeps it while the copy fills: the projector
-- reads a requester's latest tickets through it.
CREATE UNIQUE INDEX requester_tickets_order ON requester_tickets (requester_id, created_at, ticket_id);
CREATE INDEX requester_tickets_prev1 ON requester_tickets (prev1_at) WHERE prev1_at IS NOT NULL;
CREATE INDEX requester_tickets_prev2 ON requester_tickets (prev2_at) WHERE prev2_at IS NOT NULL;
CREATE INDEX requester_tickets_prev4 ON requester_tickets (prev4_at) WHERE prev4_at IS NOT NULL;
CREATE INDEX requester_tickets_prev8 ON requester_tickets (prev8_at) WHERE prev8_at IS NOT NULL;

CREATE TABLE requester_gaps
(
    -- Creation day (UTC) of the tickets counted.
    day   date     NOT NULL,
    -- 0: every ticket (gap 0); 1: by days since the previous ticket; 2: since the second
    -- previous.
    depth smallint NOT NULL,
    -- Whole days between the two creation days (0 to 92).
    gap   smallint NOT NULL,
    n     bigint   NOT NULL,
    PRIMARY KEY (day, depth, gap)
);

INSERT INTO requester_tickets (ticket_id, requester_id, created_at, prev1_at, prev2_at, prev4_at,
                               prev8_at)
SELECT ticket_id,
       requester_id,
       created_at,
       lag(created_at, 1) OVER w,
       lag(created_at, 2) OVER w,
       lag(created_at, 4) OVER w,
       lag(created_at, 8) OVER w
FROM ticket_view
WINDOW w AS (PARTITION BY requester_id ORDER BY created_at, ticket_id);

INSERT INTO requester_gaps (day, depth, gap, n)
SELECT day, depth, gap, count(*)
FROM (SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
             0                                     AS depth,
             0                                     AS gap
      FROM requester_tickets
      UNION ALL
      SELECT (created_at AT TIME ZONE 'UTC')::date, 1,
             (created_at AT TIME ZONE 'UTC')::date - (prev1_at AT TIME ZONE 'UTC')::date
      FROM requester_tickets
      WHERE prev1_at IS NOT NULL
      UNION ALL
      SELECT (created_at AT TIME ZONE 'UTC')::date, 2,
             (created_at AT TIME ZONE 'UTC')::date - (prev2_at AT TIME ZONE 'UTC')::date
      FROM requester_tickets
      WHERE prev2_at IS NOT NULL) t
WHERE gap <= 92
GROUP BY day, depth, gap;
