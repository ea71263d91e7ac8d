-- The SLA timer's sweep: open tickets still waiting for a target, by due time. Partial, so the
-- indexes hold only tickets the timer may still have to act on.
CREATE INDEX ticket_view_first_response_pending ON ticket_view (first_response_due)
    WHERE status <> 'closed' AND first_response_at IS NULL AND NOT first_response_breach_recorded;
CREATE INDEX ticket_view_resolution_pending ON ticket_view (resolution_due)
    WHERE status <> 'closed' AND NOT resolution_breach_recorded;
