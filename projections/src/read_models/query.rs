//! What every read-model query shares: who is asking, and one snapshot for a whole answer.

use sqlx::{PgPool, Postgres, Transaction};

/// Who is asking: what a query may show depends on it (CONTRACT 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The caller's user id.
    pub user_id: uuid::Uuid,
    /// Agents, admins and auditors read every ticket and internal comments; requesters only
    /// their own tickets, without internal comments.
    pub reads_everything: bool,
}

/// A read-only transaction on one snapshot, for an answer built from several statements.
pub(crate) async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
