-- A rebuild swapped in copies whose indexes had generated names (`ticket_view_created_at_idx`
-- for `ticket_view_open_created`): on a database rebuilt once, a migration that names an index
-- failed and the engine did not start. Rebuilds now give the indexes their live names back;
-- this gives those of databases rebuilt before that their migrations' names, each index found by
-- its definition (without its name and table) among the read models' tables.
DO $$
DECLARE
    want record;
    found text;
BEGIN
    FOR want IN SELECT * FROM (VALUES
    ('my_counts', 'my_counts_pkey', 'CREATE UNIQUE INDEX ON USING btree (user_id, metric)'),
    ('my_tickets', 'my_tickets_pkey', 'CREATE UNIQUE INDEX ON USING btree (user_id, ticket_id)'),
    ('requester_counts', 'requester_counts_by_tickets', 'CREATE INDEX ON USING btree (tickets DESC)'),
    ('requester_counts', 'requester_counts_pkey', 'CREATE UNIQUE INDEX ON USING btree (requester_id)'),
    ('requester_gaps', 'requester_gaps_pkey', 'CREATE UNIQUE INDEX ON USING btree (day, depth, gap) INCLUDE (n)'),
    ('requester_periods', 'requester_periods_pkey', 'CREATE UNIQUE INDEX ON USING btree (grain, period, requester_id)'),
    ('requester_tickets', 'requester_tickets_created', 'CREATE INDEX ON USING btree (created_at) INCLUDE (prev1_at, prev2_at)'),
    ('requester_tickets', 'requester_tickets_order', 'CREATE UNIQUE INDEX ON USING btree (requester_id, created_at, ticket_id)'),
    ('requester_tickets', 'requester_tickets_pkey', 'CREATE UNIQUE INDEX ON USING btree (ticket_id)'),
    ('requester_tickets', 'requester_tickets_prev1', 'CREATE INDEX ON USING btree (prev1_at) INCLUDE (created_at) WHERE (prev1_at IS NOT NULL)'),
    ('requester_tickets', 'requester_tickets_prev2', 'CREATE INDEX ON USING btree (prev2_at) INCLUDE (created_at) WHERE (prev2_at IS NOT NULL)'),
    ('requester_tickets', 'requester_tickets_prev4', 'CREATE INDEX ON USING btree (prev4_at) WHERE (prev4_at IS NOT NULL)'),
    ('requester_tickets', 'requester_tickets_prev8', 'CREATE INDEX ON USING btree (prev8_at) WHERE (prev8_at IS NOT NULL)'),
    ('ticket_comments', 'ticket_comments_pkey', 'CREATE UNIQUE INDEX ON USING btree (comment_id)'),
    ('ticket_comments', 'ticket_comments_ticket', 'CREATE INDEX ON USING btree (ticket_id, "position")'),
    ('ticket_histograms', 'ticket_histograms_pkey', 'CREATE UNIQUE INDEX ON USING btree (grain, period, metric, key)'),
    ('ticket_recency', 'ticket_recency_last_position', 'CREATE INDEX ON USING btree (last_position)'),
    ('ticket_recency', 'ticket_recency_pkey', 'CREATE UNIQUE INDEX ON USING btree (ticket_id)'),
    ('ticket_recency', 'ticket_recency_updated', 'CREATE INDEX ON USING btree (updated_at, ticket_id)'),
    ('ticket_search', 'ticket_search_created', 'CREATE INDEX ON USING btree (created_at, ticket_id)'),
    ('ticket_search', 'ticket_search_description_trgm', 'CREATE INDEX ON USING gin (lower_description gin_trgm_ops)'),
    ('ticket_search', 'ticket_search_pkey', 'CREATE UNIQUE INDEX ON USING btree (ticket_id)'),
    ('ticket_search', 'ticket_search_title_trgm', 'CREATE INDEX ON USING gin (lower_title gin_trgm_ops)'),
    ('ticket_stats', 'ticket_stats_pkey', 'CREATE UNIQUE INDEX ON USING btree (grain, period, metric, key)'),
    ('ticket_tag_counts', 'ticket_tag_counts_pkey', 'CREATE UNIQUE INDEX ON USING btree (tag)'),
    ('ticket_totals', 'ticket_totals_pkey', 'CREATE UNIQUE INDEX ON USING btree (metric, key)'),
    ('ticket_view', 'ticket_view_assignee_created', 'CREATE INDEX ON USING btree (assignee_id, created_at, ticket_id) WHERE (assignee_id IS NOT NULL)'),
    ('ticket_view', 'ticket_view_board', 'CREATE INDEX ON USING btree (status, priority_rank DESC, created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_category_created', 'CREATE INDEX ON USING btree (category, created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_channel_created', 'CREATE INDEX ON USING btree (channel, created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_created', 'CREATE INDEX ON USING btree (created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_field_values', 'CREATE INDEX ON USING gin (field_values) WITH (fastupdate=off)'),
    ('ticket_view', 'ticket_view_first_response_pending', 'CREATE INDEX ON USING btree (first_response_due) WHERE ((status <> ''closed''::text) AND (first_response_at IS NULL) AND (NOT first_response_breach_recorded))'),
    ('ticket_view', 'ticket_view_number', 'CREATE INDEX ON USING btree (number, ticket_id)'),
    ('ticket_view', 'ticket_view_open_created', 'CREATE INDEX ON USING btree (created_at) WHERE (closed_at IS NULL)'),
    ('ticket_view', 'ticket_view_pending_until', 'CREATE INDEX ON USING btree (pending_until) WHERE ((status = ''pending''::text) AND (pending_until IS NOT NULL))'),
    ('ticket_view', 'ticket_view_pkey', 'CREATE UNIQUE INDEX ON USING btree (ticket_id)'),
    ('ticket_view', 'ticket_view_priority_created', 'CREATE INDEX ON USING btree (priority, created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_requester_created', 'CREATE INDEX ON USING btree (requester_id, created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_resolution_pending', 'CREATE INDEX ON USING btree (resolution_due) WHERE ((status <> ''closed''::text) AND (NOT resolution_breach_recorded))'),
    ('ticket_view', 'ticket_view_status_created', 'CREATE INDEX ON USING btree (status, created_at, ticket_id)'),
    ('ticket_view', 'ticket_view_tags', 'CREATE INDEX ON USING gin (tags) WITH (fastupdate=off)'),
    ('ticket_view', 'ticket_view_team', 'CREATE INDEX ON USING btree (team_id, status, priority_rank DESC, created_at, ticket_id) WHERE (team_id IS NOT NULL)')
    ) AS w(tbl, name, definition)
    LOOP
        CONTINUE WHEN to_regclass(format('public.%I', want.tbl)) IS NULL
            OR to_regclass(format('public.%I', want.name)) IS NOT NULL;
        SELECT i.relname INTO found
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = format('public.%I', want.tbl)::regclass
          AND regexp_replace(pg_get_indexdef(i.oid), '^CREATE (UNIQUE )?INDEX \S+ ON \S+ ',
                             'CREATE \1INDEX ON ') = want.definition
        ORDER BY i.relname
        LIMIT 1;
        IF found IS NOT NULL THEN
            EXECUTE format('ALTER INDEX public.%I RENAME TO %I', found, want.name);
        END IF;
    END LOOP;
END
$$;
