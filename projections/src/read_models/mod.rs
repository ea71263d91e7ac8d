//! ticketd's read models: each module owns its tables (see
//! `migrations/20261123000004_read_models.sql`) and the SQL that reads them, and answers with
//! serde structs that the HTTP layer serializes as they are.
//!
//! - [`tickets`]: the ticket view and list (`ticket_view`, `ticket_comments`).
//! - [`board`]: the Kanban board, served from `ticket_view`.
//! - [`me`]: per-user counts and unread state (`ticket_activity`, plus the user-owned
//!   `ticket_reads`).
//! - [`stats`]: statistics over a creation window, served from `ticket_view`.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};

use crate::runtime::Projection;

pub mod board;
pub mod cursor;
pub mod me;
pub mod stats;
pub mod tickets;

/// Every read model's projection, each keyed by its own checkpoint.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(tickets::TicketViewProjection::default()),
        Arc::new(me::ActivityProjection),
    ]
}

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
