-- Accounts and sessions (CONTRACT 11): refresh tokens, password-reset codes, credential
-- failure counters. Tokens and codes are stored as SHA-256 digests only.

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    -- Every token rotated from one login shares its family: reuse or logout revokes them all.
    family uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set when the token was traded for its successor: presenting it again is reuse.
    rotated_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_live_by_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- One live reset code per user: a new request replaces the old code.
CREATE TABLE password_resets (
    user_id uuid PRIMARY KEY REFERENCES users (id),
    code_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0
);

-- Failures per account (normalized e-mail) in a window, shared by every instance.
CREATE TABLE credential_failures (
    kind text NOT NULL,
    subject text NOT NULL,
    failures integer NOT NULL,
    window_start timestamptz NOT NULL,
    PRIMARY KEY (kind, subject)
);
