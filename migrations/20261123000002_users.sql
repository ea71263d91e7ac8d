-- The user directory: users added by the CLI or the API, and users first seen in a valid token.
CREATE TABLE users
(
    -- The `sub` claim of the user's tokens.
    id            uuid PRIMARY KEY,
    email         text        NOT NULL,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('requester', 'agent', 'admin', 'auditor')),
    -- Argon2id PHC string; NULL for users who only ever arrive with a token.
    password_hash text,
    -- How the user became known: 'cli', 'api' or 'token'.
    origin        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Logging in is by e-mail, so an address names one user.
CREATE UNIQUE INDEX users_email ON users (lower(email));
