-- `ticket_view_last_position` indexed a column that every event changes, so every update of a
-- ticket's row stopped being HOT and wrote an entry in each of `ticket_view`'s indexes, two GIN
-- indexes without a pending list among them: the cost `ticket_recency` was made to avoid. The
-- order the SLA timer reads changed rows in moves to that narrow table, written by the same
-- statement as the row, and `ticket_view` keeps the column unindexed.
ALTER TABLE ticket_recency ADD COLUMN last_position bigint NOT NULL DEFAULT 0;

UPDATE ticket_recency r
   SET last_position = v.last_position
  FROM ticket_view v
 WHERE v.ticket_id = r.ticket_id;

-- The SLA timer: the tickets changed since the position it last read.
CREATE INDEX ticket_recency_last_position ON ticket_recency (last_position);

DROP INDEX ticket_view_last_position;
