-- The channel and requester statistics of `GET /stats` read every ticket of the window (three
-- scans of `ticket_view`). The ticket view projection now also keeps, in `ticket_stats`, per
-- channel the closed tickets and histograms of first-response and resolution times, and per
-- requester their tickets (metrics `channel_closed`, `channel_first_response_histogram`,
-- `channel_resolution_histogram`, `requester`), so that they are summed like the rest.

-- The new rows are filled by applying every event again.
TRUNCATE ticket_view, ticket_recency, ticket_comments, ticket_search, ticket_stats, my_tickets,
    my_counts;
DELETE FROM projection_checkpoints WHERE name = 'ticket_view';
