-- Custom fields (CONTRACT 10).
--
-- Definitions are versioned: a change of a field's definition adds a row with the next version
-- and never alters an earlier one, so a ticket `as_of` an instant is read with the definitions
-- of that instant (which fields a requester may see). The current definition of a key is its
-- highest version.
CREATE TABLE field_definitions
(
    key                  text        NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    version              integer     NOT NULL CHECK (version > 0),
    label                text        NOT NULL,
    type                 text        NOT NULL CHECK (type IN ('text', 'number', 'select', 'date', 'user')),
    options              text[]      NOT NULL DEFAULT '{}',
    required_on_create   boolean     NOT NULL,
    visible_to_requester boolean     NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by          uuid        NOT NULL,
    PRIMARY KEY (key, version)
);

-- The values a ticket carries, kept by the ticket view projection from `ticket.created`'s
-- `fields` and `ticket.updated`'s `fields.<key>` changes.
ALTER TABLE ticket_view ADD COLUMN fields jsonb NOT NULL DEFAULT '{}';
-- `key=value` per value (a string as it is, a number as its JSON): `GET /tickets?field.k=v`
-- filters with `field_values @> ARRAY['k=v']`, which the GIN index serves, as for tags (and
-- without a pending list for the same reason).
ALTER TABLE ticket_view ADD COLUMN field_values text[] NOT NULL DEFAULT '{}';
CREATE INDEX ticket_view_field_values ON ticket_view USING gin (field_values) WITH (fastupdate = off);
