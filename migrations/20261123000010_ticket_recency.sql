-- Every comment changes a ticket's `updated_at`. While `ticket_view` indexed that column, each
-- comment rewrote the row with new entries in all seven of its indexes (an update that changes an
-- indexed column cannot be HOT). The recency order now lives in a narrow table of its own, kept
-- by the same projection in the same statement, and `ticket_view` leaves room on its pages so
-- that the new row version fits beside the old one (a HOT update writes no index entry).
CREATE TABLE ticket_recency
(
    -- The ticket.
    ticket_id  uuid PRIMARY KEY,
    -- `ticket_view.updated_at`, always equal to it.
    updated_at timestamptz NOT NULL
);

INSERT INTO ticket_recency (ticket_id, updated_at)
SELECT ticket_id, updated_at FROM ticket_view;

-- GET /tickets?sort=updated_at and -updated_at (both directions; the id breaks ties).
CREATE INDEX ticket_recency_updated ON ticket_recency (updated_at, ticket_id);

DROP INDEX ticket_view_updated;

ALTER TABLE ticket_view SET (fillfactor = 75);
