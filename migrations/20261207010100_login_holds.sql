-- A short, doubling hold after consecutive login failures (ADR 0026): the next attempt on the
-- account is refused, uncounted, until this time. Set by the statement that counts a failure,
-- cleared with the row by a right password. NULL: not held.
ALTER TABLE credential_failures ADD COLUMN held_until timestamptz;
