-- SLA warnings (CONTRACT 9): the timer looks for targets at 80 % not yet warned.
ALTER TABLE ticket_view
    -- The engine recorded `ticket.sla_warning` for the first response.
    ADD COLUMN first_response_warning_recorded boolean NOT NULL DEFAULT false,
    -- The engine recorded `ticket.sla_warning` for the resolution.
    ADD COLUMN resolution_warning_recorded     boolean NOT NULL DEFAULT false;
