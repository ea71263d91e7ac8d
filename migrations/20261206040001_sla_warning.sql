-- SLA warnings (CONTRACT 9): the timer looks for targets at 80 % not yet warned.
ALTER TABLE ticket_view
    -- The engine recorded `ticket.sla_warning` for the first response.
    ADD COLUMN first_response_warning_recorded boolean NOT NULL DEFAULT false,
    -- The engine recorded `ticket.sla_warning` for the resolution.
    ADD COLUMN resolution_warning_recorded     boolean NOT NULL DEFAULT false;

-- The timer's warning sweep, per priority (each has its own target) by due time; partial, so
-- the indexes hold only tickets still to be warned.
CREATE INDEX ticket_view_first_response_unwarned ON ticket_view (priority, first_response_due)
    WHERE status NOT IN ('closed', 'pending') AND first_response_at IS NULL
      AND NOT first_response_warning_recorded AND NOT first_response_breach_recorded;
CREATE INDEX ticket_view_resolution_unwarned ON ticket_view (priority, resolution_due)
    WHERE status NOT IN ('closed', 'pending')
      AND NOT resolution_warning_recorded AND NOT resolution_breach_recorded;
