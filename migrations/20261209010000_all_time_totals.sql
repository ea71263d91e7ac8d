-- The all-time statistics apart from the periods', so that reading them reads few pages.
--
-- `GET /stats` without a window read `ticket_stats`'s `all` grain: 3,300 rows at 100,000
-- tickets spread over 2,900 pages among the day, week and month rows (9 ms), plus a row per
-- requester (5,000 there, more with every new person) for `unique`, `recurring` and `top`.
--
-- - `ticket_totals`: the `all` grain's rows, in a table of their own (0.6 ms for the same rows).
--   Its fillfactor leaves room on each page for the updates every event makes to stay there.
-- - `requester_counts`: the all-time tickets per requester as recorded on the tickets, indexed
--   by count so that `top` reads the leaders only. A separate table keeps updates of the
--   totals HOT: an index on their counts would make every update write index entries.
-- - `ticket_totals` also keeps how many requesters have a ticket (`requesters`) and how many
--   have two or more (`recurring_requesters`), changed by the statement that changes the counts.
--
-- The other grains keep their per-requester rows: a window's distinct requesters are not a sum
-- of its periods'.
CREATE TABLE ticket_totals
(
    metric text    NOT NULL,
    key    text    NOT NULL,
    n      bigint  NOT NULL,
    total  numeric NOT NULL,
    PRIMARY KEY (metric, key)
) WITH (fillfactor = 50);

CREATE TABLE requester_counts
(
    requester_id uuid   PRIMARY KEY,
    tickets      bigint NOT NULL
);
CREATE INDEX requester_counts_by_tickets ON requester_counts (tickets DESC);

INSERT INTO requester_counts (requester_id, tickets)
SELECT key::uuid, n FROM ticket_stats
 WHERE grain = 'all' AND metric = 'requester' AND n <> 0;

INSERT INTO ticket_totals (metric, key, n, total)
SELECT metric, key, n, total FROM ticket_stats
 WHERE grain = 'all' AND metric <> 'requester';

INSERT INTO ticket_totals (metric, key, n, total)
SELECT 'requesters', '', count(*), 0 FROM requester_counts WHERE tickets > 0
HAVING count(*) > 0
UNION ALL
SELECT 'recurring_requesters', '', count(*), 0 FROM requester_counts WHERE tickets >= 2
HAVING count(*) > 0;

DELETE FROM ticket_stats WHERE grain = 'all';
