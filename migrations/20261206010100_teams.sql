-- Teams (CONTRACT 11): named groups of users, created by admins. A team's name is unique
-- whatever its case; membership is one row per member so that a team of 10,000 is paged and
-- changed in batches, never rewritten whole.

CREATE TABLE teams (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name ON teams (lower(name));

CREATE TABLE team_members (
    team_id uuid NOT NULL REFERENCES teams (id),
    user_id uuid NOT NULL REFERENCES users (id),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
-- "Which teams is this user in?"
CREATE INDEX team_members_user ON team_members (user_id);
