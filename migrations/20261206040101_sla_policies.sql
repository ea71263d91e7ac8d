-- SLA policies per priority (CONTRACT 9): `PUT /sla-policies/{priority}` replaces a row. A
-- priority without a row keeps the configured targets (`TICKETD_SLA`) on the default calendar.
CREATE TABLE sla_policies (
    priority            text PRIMARY KEY CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    first_response_secs bigint NOT NULL CHECK (first_response_secs BETWEEN 60 AND 31536000),
    next_response_secs  bigint CHECK (next_response_secs BETWEEN 60 AND 31536000),
    resolution_secs     bigint NOT NULL CHECK (resolution_secs BETWEEN 60 AND 31536000),
    -- A calendar in use cannot be deleted (there is no delete route; the key says it anyway).
    calendar_id         uuid REFERENCES calendars (id),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
