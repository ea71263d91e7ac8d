-- Statistics kept as tickets change instead of computed from every ticket of a window at query
-- time: what each ticket adds to its creation day (and to that day's month), by metric and key.
-- `GET /stats` sums the days and months of its window. Kept by the ticket view projection in
-- the same transaction as `ticket_view`, and rebuilt with it.
CREATE TABLE ticket_stats
(
    -- `day`, or `month` for the sum of a month's days.
    grain  text    NOT NULL,
    -- The UTC day the tickets were created, or the first of their month.
    period date    NOT NULL,
    -- What is counted (`status`, `resolution`, `agent_closed`, …: see the projection).
    metric text    NOT NULL,
    -- The status, category, score, agent id or histogram bucket; '' for none.
    key    text    NOT NULL,
    -- How many tickets.
    n      bigint  NOT NULL,
    -- Their durations in microseconds, or their scores, summed (exact at any size).
    total  numeric NOT NULL,
    PRIMARY KEY (grain, period, metric, key)
);

-- What depends on the time of the question (targets passed while still awaited) is counted at
-- query time over the tickets still open, through this index.
CREATE INDEX ticket_view_open_created ON ticket_view (created_at) WHERE closed_at IS NULL;

-- The table is filled by applying every event again: the ticket view starts over from the first
-- position (the projector catches up at startup; `min_position` waits for it as usual).
TRUNCATE ticket_view, ticket_recency, ticket_comments, ticket_search;
DELETE FROM projection_checkpoints WHERE name = 'ticket_view';
