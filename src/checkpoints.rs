//! Where each consumer of the event log stands (`relay_checkpoints`): the NATS relay, the
//! outbound mail, the rule processor. One row per consumer, created at position 0 the first time
//! it is asked for; each consumer advances its own in the transaction that records its work.

use sqlx::{PgConnection, PgExecutor};

/// The position consumer `name` has processed up to, creating its row at 0 on first use.
///
/// Asked before every batch, so in one statement: the `SELECT` does not see the row the insert
/// of the same statement made, so exactly one of the two gives the answer. A row that another
/// instance inserted while this statement ran is in neither; a second statement reads it.
pub async fn current(conn: &mut PgConnection, name: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> = sqlx::query_scalar(
        "WITH created AS (
             INSERT INTO relay_checkpoints (name, position) VALUES ($1, 0)
             ON CONFLICT (name) DO NOTHING
             RETURNING position
         )
         SELECT position FROM created
         UNION ALL
         SELECT position FROM relay_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    match position {
        Some(position) => Ok(position),
        None => saved(conn, name).await,
    }
}

/// The saved position of consumer `name`, 0 before it first ran (for reports: creates nothing).
pub async fn saved<'e>(executor: impl PgExecutor<'e>, name: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(executor)
            .await?;
    Ok(position.unwrap_or(0))
}

/// Moves consumer `name` to `position` (never back); answers the position now saved. Run in
/// the transaction of the work the move records, so that both commit together, or alone when a
/// turn recorded nothing else.
pub async fn advance(
    conn: &mut PgConnection,
    name: &str,
    position: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE relay_checkpoints SET position = GREATEST(position, $2), updated_at = now()
         WHERE name = $1 RETURNING position",
    )
    .bind(name)
    .bind(position)
    .fetch_one(conn)
    .await
}
