-- Files an integration uploads for an intake (CONTRACT 10): stored before any ticket exists,
-- so without a ticket until the intake that lists them gives them one; `uploaded_by` is then
-- the integration's id. The janitor removes those no intake listed within 24 h, as any other.
ALTER TABLE attachments ALTER COLUMN ticket_id DROP NOT NULL;
