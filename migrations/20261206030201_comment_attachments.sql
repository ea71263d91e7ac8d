-- The files each comment lists (CONTRACT 10), as `ticket.commented.data.attachments` has them,
-- so that the ticket view shows them beside the comment.
ALTER TABLE ticket_comments ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]';
