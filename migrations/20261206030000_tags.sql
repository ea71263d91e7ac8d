-- Tags (CONTRACT 10): the set a ticket carries, kept by the ticket view projection.
-- `GET /tickets?tag=` and the board filter with `tags @> ARRAY[$1]`, which the GIN index
-- serves; an empty array for an untagged ticket keeps every row the same shape.
ALTER TABLE ticket_view ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
-- fastupdate off: the projector writes all the time, and a pending list (scanned linearly by
-- every query until a vacuum merges it) made a rare tag's page 14 ms instead of 0.7 ms at 100,000
-- tickets.
CREATE INDEX ticket_view_tags ON ticket_view USING gin (tags) WITH (fastupdate = off);

-- `GET /tags`: how many tickets carry each tag, kept as tickets are tagged (one row per tag in
-- use) so that the answer does not read every ticket. A tag no ticket carries any more has no row.
CREATE TABLE ticket_tag_counts
(
    -- The tag.
    tag   text   PRIMARY KEY,
    -- How many tickets carry it; always > 0.
    count bigint NOT NULL CHECK (count > 0)
);
