-- Free-text search moves out of `ticket_view` into a table of its own. Every event rewrites its
-- ticket's `ticket_view` row, and a row version that is not HOT gets an entry in every index of
-- the table: with the trigram indexes there, each comment re-extracted the trigrams of the
-- title and the whole description. `ticket_search` changes only when the text does (creation,
-- `ticket.updated` with a title or description). It belongs to the ticket view projection and is
-- rebuilt with it.
CREATE TABLE ticket_search
(
    -- The ticket (`ticket_view.ticket_id`).
    ticket_id   uuid PRIMARY KEY,
    -- Current title.
    title       text NOT NULL,
    -- Current description.
    description text NOT NULL
);

INSERT INTO ticket_search (ticket_id, title, description)
SELECT ticket_id, title, description
FROM ticket_view;

DROP INDEX ticket_view_title_trgm;
DROP INDEX ticket_view_description_trgm;
CREATE INDEX ticket_search_title_trgm ON ticket_search USING gin (title gin_trgm_ops);
CREATE INDEX ticket_search_description_trgm ON ticket_search USING gin (description gin_trgm_ops);
