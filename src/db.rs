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

#[cfg(test)]
mod tests {
    use super::*;

    async fn backend(conn: &mut sqlx::PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
            .expect("the backend's pid")
    }

    /// Holds `n` connections at once, then releases them in the order acquired (a dropped
    /// connection goes back in a task of its own, hence the pauses): their backends' pids, the
    /// last the most recently released.
    async fn released_in_order(pool: &PgPool, n: usize) -> Vec<i32> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(pool.acquire().await.expect("a connection"));
        }
        let mut pids = Vec::new();
        for conn in &mut held {
            pids.push(backend(conn).await);
        }
        for conn in held {
            drop(conn);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pids
    }

    /// The pool lends the connection released last (a stack, vendor/sqlx-core's patch): one
    /// request after another meets the same backend, whose statements and catalogs are warm,
    /// instead of each of the pool's connections in turn.
    #[tokio::test]
    async fn the_connection_released_last_is_lent_first() {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL for the tests");
        let pool = PgPoolOptions::new()
            .max_connections(3)
            .connect(&url)
            .await
            .expect("a pool");
        let pids = released_in_order(&pool, 3).await;
        for _ in 0..5 {
            let mut conn = pool.acquire().await.expect("a connection");
            assert_eq!(backend(&mut conn).await, pids[2], "lent: {pids:?}");
            drop(conn);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pool.close().await;
    }

    /// Connections below the one in use sit idle and are closed after the idle timeout, while
    /// the one in use stays: the pool shrinks to what its load needs.
    #[tokio::test]
    async fn connections_left_below_are_closed_when_idle() {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL for the tests");
        let pool = PgPoolOptions::new()
            .max_connections(3)
            .min_connections(0)
            .idle_timeout(Duration::from_millis(300))
            .connect(&url)
            .await
            .expect("a pool");
        let hot = released_in_order(&pool, 3).await[2];
        assert_eq!(pool.size(), 3);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while pool.size() > 1 && tokio::time::Instant::now() < deadline {
            let mut conn = pool.acquire().await.expect("a connection");
            assert_eq!(backend(&mut conn).await, hot);
            drop(conn);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(pool.size(), 1, "the idle connections were not closed");
        let mut conn = pool.acquire().await.expect("a connection");
        assert_eq!(backend(&mut conn).await, hot);
        drop(conn);
        pool.close().await;
    }
}
