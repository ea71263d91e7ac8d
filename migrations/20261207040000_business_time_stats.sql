-- Statistics in business time (CONTRACT 9). The ticket view keeps (beside its ended pauses,
-- `pauses`, added for the SLA clocks) the business time of its first response and latest close, counted on the calendar of
-- its priority when the projector applied them; `ticket_stats` gains their sums and histograms
-- and the breaches by priority and by agent (metrics `first_response_business`,
-- `resolution_business`, their `_histogram`s, `breaches`, `agent_breaches`).
ALTER TABLE ticket_view
    ADD COLUMN first_response_business_ms bigint,
    ADD COLUMN resolution_business_ms bigint;

-- The new figures are filled by applying every event again.
TRUNCATE ticket_view, ticket_recency, ticket_comments, ticket_search, ticket_stats, my_tickets,
    my_counts, ticket_tag_counts;
DELETE FROM projection_checkpoints WHERE name = 'ticket_view';
