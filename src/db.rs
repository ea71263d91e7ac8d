//! The database: the connection pool, the embedded migrations, and telling an outage from a bad
//! query. Everything that talks to Postgres uses these, so an outage means the same everywhere.

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};

/// The migrations of `migrations/`, embedded once for `migrate` and for `/readyz`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a pooled connection may sit idle before it is checked on lending.
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// A pool that gives up quickly when Postgres is unreachable (so requests get a 503 rather
/// than hanging) and reconnects by itself when it returns.
pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(32)
        .min_connections(2)
        .acquire_timeout(Duration::from_secs(3))
        // sqlx pings every connection before lending it by default: a round trip per query.
        // Ping only connections that sat idle (they may have died meanwhile, e.g. in an outage);
        // one in steady use reports its failure on its next query and is dropped.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_PING_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect(database_url)
        .await
        .with_context(|| "cannot connect to the database (DATABASE_URL)")
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("cannot apply database migrations")
}

/// True for errors that mean Postgres could not be reached (as opposed to a bad query).
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    ) || matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|c| {
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection.
        c.starts_with("57P") || c.starts_with("08")
    }))
}
