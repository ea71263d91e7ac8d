-- Pending (CONTRACT 9): a ticket waiting on its requester, whose SLA clocks pause.
ALTER TABLE ticket_view
    -- Time of the `ticket.pending` in force; NULL while the ticket is not pending.
    ADD COLUMN pending_since  timestamptz,
    -- The pause's `until`, when the engine resumes the ticket by itself.
    ADD COLUMN pending_until  timestamptz,
    -- Wall-clock seconds spent pending over every pause that ended.
    ADD COLUMN paused_seconds bigint NOT NULL DEFAULT 0;

-- The timer resumes pending tickets whose `until` has come.
CREATE INDEX ticket_view_pending_until ON ticket_view (pending_until)
    WHERE status = 'pending' AND pending_until IS NOT NULL;
