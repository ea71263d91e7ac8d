-- SLA clocks computed by the engine with the policy in force (CONTRACT 9): the ticket view
-- keeps what they depend on beyond its due times, and the SLA timer follows changed rows.
ALTER TABLE ticket_view
    -- Every pause that ended, [[start, end], ...] in order: business time leaves them out.
    ADD COLUMN pauses                         jsonb       NOT NULL DEFAULT '[]',
    -- The requester's public comment that started the next-response clock, while it runs.
    ADD COLUMN next_response_since            timestamptz,
    -- `ticket.sla_warning` / `ticket.sla_breached` recorded for the clock running now.
    ADD COLUMN next_response_warning_recorded boolean     NOT NULL DEFAULT false,
    ADD COLUMN next_response_breach_recorded  boolean     NOT NULL DEFAULT false;

-- The SLA timer reads the rows changed since it last looked.
CREATE INDEX ticket_view_last_position ON ticket_view (last_position);

-- The timer no longer searches due times in SQL (a business calendar's warning instant is not
-- a fixed offset from the due time): its plan is computed by the engine.
DROP INDEX IF EXISTS ticket_view_first_response_unwarned;
DROP INDEX IF EXISTS ticket_view_resolution_unwarned;
