-- `GET /stats` over 30 days from an instant took 46 ms at 1,000,000 tickets, a third of it in
-- three reads of the requester chains that went to the table for every row:
--
-- - the tickets of the part of a day at either end, with when their requester's 1st and 2nd
--   earlier tickets were created: found through `ticket_view` and joined to
--   `requester_tickets` by id, two random reads per ticket (12 ms for a day's 1,300 tickets);
-- - the tickets of the whole days whose earlier ticket lies in that part of a day: found by
--   `prev1_at`/`prev2_at`, then their `created_at` read from the table (5 ms);
-- - `requester_gaps` of the whole days: every (day, depth, gap) row of 31 days read from the
--   table, most of them to be filtered out by their gap (3.3 ms).
--
-- Each now reads an index alone (an index-only scan: the visibility map is kept by autovacuum,
-- as the table only grows). Together 0.8 ms.
CREATE INDEX requester_tickets_created ON requester_tickets (created_at) INCLUDE (prev1_at, prev2_at);

-- A rebuilt table's indexes carry generated names: the old ones are found by their column.
DO $$
DECLARE
    old regclass;
BEGIN
    FOR old IN
        SELECT x.indexrelid::regclass
          FROM pg_index x
          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
         WHERE x.indrelid = 'requester_tickets'::regclass
           AND x.indnatts = 1
           AND a.attname IN ('prev1_at', 'prev2_at')
    LOOP
        EXECUTE format('DROP INDEX %s', old);
    END LOOP;
END
$$;
CREATE INDEX requester_tickets_prev1 ON requester_tickets (prev1_at) INCLUDE (created_at) WHERE prev1_at IS NOT NULL;
CREATE INDEX requester_tickets_prev2 ON requester_tickets (prev2_at) INCLUDE (created_at) WHERE prev2_at IS NOT NULL;

-- The count beside its key. Its updates are no longer HOT; the table holds a row per day,
-- depth and gap, a few changed per ticket created.
ALTER TABLE requester_gaps
    DROP CONSTRAINT requester_gaps_pkey,
    ADD PRIMARY KEY (day, depth, gap) INCLUDE (n);
