-- Business-hours calendars (CONTRACT 9), as an admin wrote them; checked by the engine before
-- they are stored, so every row reads back as a valid calendar.
CREATE TABLE calendars (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    time_zone   text        NOT NULL,
    -- {"mon": [["08:00","18:00"]], ...}: local HH:MM pairs; a missing weekday is closed.
    hours       jsonb       NOT NULL,
    -- ["2026-12-25", ...]: dates in the calendar's zone.
    holidays    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
