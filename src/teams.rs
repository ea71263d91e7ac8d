//! Teams (CONTRACT 11): named groups of users that admins create and fill. Membership is one
//! row per member, written in batches (one statement per batch, whatever its size) and read
//! in pages ordered by user id, so a team of 10,000 costs no more per call than a team of ten.

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Role;

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Team {
    /// Id.
    pub id: Uuid,
    /// Unique whatever its case.
    pub name: String,
    /// How many members it has.
    pub member_count: i64,
}

/// A member as a team's page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TeamMember {
    /// The user's id.
    pub id: Uuid,
    /// The user's name.
    pub name: String,
    /// The user's e-mail, if any.
    pub email: Option<String>,
    /// The user's role.
    pub role: Role,
}

/// Why a team change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// Another team has this name (whatever its case).
    #[error("a team with this name exists")]
    NameTaken,
    /// No such team.
    #[error("no such team")]
    NotFound,
    /// These ids name no user.
    #[error("unknown users")]
    UnknownUsers(Vec<Uuid>),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

const SELECT_TEAM: &str = "SELECT t.id, t.name,
        (SELECT count(*) FROM team_members m WHERE m.team_id = t.id) AS member_count
    FROM teams t";

fn name_taken(error: sqlx::Error) -> TeamError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("teams_name") => TeamError::NameTaken,
        _ => TeamError::Database(error),
    }
}

/// The ids among `ids` that name no user.
async fn unknown(conn: &mut sqlx::PgConnection, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT i FROM unnest($1::uuid[]) AS i
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = i) ORDER BY i",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Creates a team with `members`, in one transaction: every member must be a known user.
pub async fn create(pool: &PgPool, name: &str, members: &[Uuid]) -> Result<Team, TeamError> {
    let mut tx = pool.begin().await?;
    let missing = unknown(&mut tx, members).await?;
    if !missing.is_empty() {
        return Err(TeamError::UnknownUsers(missing));
    }
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO teams (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(name_taken)?;
    insert_members(&mut tx, id, members).await?;
    tx.commit().await?;
    find(pool, id).await?.ok_or(TeamError::NotFound)
}

async fn insert_members(
    conn: &mut sqlx::PgConnection,
    team: Uuid,
    members: &[Uuid],
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO team_members (team_id, user_id)
         SELECT $1, u FROM unnest($2::uuid[]) AS u
         ON CONFLICT DO NOTHING",
    )
    .bind(team)
    .bind(members)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A team.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Team>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT_TEAM} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Every team, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<Team>, sqlx::Error> {
    sqlx::query_as(&format!(
        r#"{SELECT_TEAM} ORDER BY t.name COLLATE "C", t.id"#
    ))
    .fetch_all(pool)
    .await
}

/// Renames a team.
pub async fn rename(pool: &PgPool, id: Uuid, name: &str) -> Result<Team, TeamError> {
    let done = sqlx::query("UPDATE teams SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(pool)
        .await
        .map_err(name_taken)?;
    if done.rows_affected() == 0 {
        return Err(TeamError::NotFound);
    }
    find(pool, id).await?.ok_or(TeamError::NotFound)
}

/// Adds `members` (members already are stay as they are), all or none. Answers how many
/// joined and the team after.
pub async fn add_members(
    pool: &PgPool,
    id: Uuid,
    members: &[Uuid],
) -> Result<(u64, Team), TeamError> {
    let mut tx = pool.begin().await?;
    // Locks the team: a concurrent rename or batch waits rather than interleaving.
    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(TeamError::NotFound);
    }
    let missing = unknown(&mut tx, members).await?;
    if !missing.is_empty() {
        return Err(TeamError::UnknownUsers(missing));
    }
    let added = insert_members(&mut tx, id, members).await?;
    tx.commit().await?;
    let team = find(pool, id).await?.ok_or(TeamError::NotFound)?;
    Ok((added, team))
}

/// Removes `members` from a team (ids that are not members are ignored). Answers how many left.
pub async fn remove_members(pool: &PgPool, id: Uuid, members: &[Uuid]) -> Result<u64, TeamError> {
    if find(pool, id).await?.is_none() {
        return Err(TeamError::NotFound);
    }
    Ok(
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = ANY($2)")
            .bind(id)
            .bind(members)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Up to `limit` members of a team with ids after `after`, by id. `None`: no such team.
pub async fn members(
    pool: &PgPool,
    id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Option<Vec<TeamMember>>, sqlx::Error> {
    if find(pool, id).await?.is_none() {
        return Ok(None);
    }
    let rows: Vec<(Uuid, String, Option<String>, String)> = sqlx::query_as(
        "SELECT u.id, u.name, u.email, u.role FROM team_members m
         JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 AND ($2::uuid IS NULL OR m.user_id > $2)
         ORDER BY m.user_id LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(Some(
        rows.into_iter()
            .filter_map(|(id, name, email, role)| {
                let role = role.parse().ok()?;
                Some(TeamMember {
                    id,
                    name,
                    email,
                    role,
                })
            })
            .collect(),
    ))
}
