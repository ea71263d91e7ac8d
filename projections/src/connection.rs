//! Connections kept out of sqlx's pool.
//!
//! sqlx 0.8 tests a pooled connection with a query each time it goes back to the pool, so every
//! statement run through the pool costs a second round trip. The engine's loops (projectors,
//! WebSocket feed, announcer) keep a [`Dedicated`] connection instead, the command path
//! appends events through a [`Stash`], and leading loops hold their lock on a connection from
//! [`lead`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgDatabaseError, PgSeverity};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Semaphore;

/// A connection taken from `pool` on first use and kept until [`Dedicated::discard`].
#[derive(Debug)]
pub struct Dedicated {
    pool: PgPool,
    conn: Option<PgConnection>,
    /// Run once on each connection taken, for the whole session.
    setup: Option<&'static str>,
}

impl Dedicated {
    /// Nothing is connected until [`Dedicated::get`].
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conn: None,
            setup: None,
        }
    }

    /// A connection whose commits do not wait for their WAL flush, for work that a crash may
    /// undo because it is done again from what stays: a projector's batch commits its rows and
    /// its checkpoint together, so a batch lost with the last moments of WAL is lost whole and
    /// applied again after the restart. Other sessions see the commit at once, as always.
    /// The flushes left to wait for are the commands' and the sequencer's, which others act on.
    pub fn without_flush_wait(pool: PgPool) -> Self {
        Self {
            setup: Some("SET synchronous_commit = off"),
            ..Self::new(pool)
        }
    }

    /// The connection, taken from the pool (and out of it) if there is none yet.
    pub async fn get(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let mut conn = self.pool.acquire().await?.detach();
                if let Some(setup) = self.setup {
                    sqlx::query(setup).execute(&mut conn).await?;
                }
                conn
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// Drops the connection (after an error, when it may be broken or mid-transaction): the next
    /// [`Dedicated::get`] takes a fresh one.
    pub fn discard(&mut self) {
        self.conn = None;
    }

    /// Runs `work` on the connection, and discards the connection if `work` fails.
    pub async fn run<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let result = match self.get().await {
            Ok(conn) => work(conn).await,
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.discard();
        }
        result
    }
}

/// A connection out of the pool holding the session-level advisory lock `key`, or `None` when
/// another session holds it. Leading loops (sequencer, relay) work on it, so that the lock lives
/// exactly as long as the connection; when not leading, the connection goes back to the pool.
pub async fn lead(pool: &PgPool, key: i64) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(locked.then(|| conn.detach()))
}

/// How long a stashed connection may sit idle before it is checked before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// Connections for one hot statement, reused without the pool's test query: taken, used, put
/// back. At most `limit` are in use at once (callers queue for one). A connection that sat idle
/// for a second is pinged before use (Postgres may have gone away meanwhile); one whose work
/// failed in a way that may have ended its session is dropped, as is one
/// whose work was cancelled mid-statement.
#[derive(Debug)]
pub struct Stash {
    pool: PgPool,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Semaphore,
}

impl Stash {
    /// An empty stash taking connections from `pool`.
    pub fn new(pool: PgPool, limit: usize) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(limit.max(1)),
        }
    }

    /// Runs `work` on a stashed connection.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let mut conn = self.take().await?;
        let result = work(&mut conn).await;
        if reusable(&result) {
            self.idle().push((conn, Instant::now()));
        }
        result
    }

    async fn take(&self) -> Result<PgConnection, sqlx::Error> {
        loop {
            let next = self.idle().pop();
            match next {
                Some((mut conn, since)) => {
                    if since.elapsed() < IDLE_PING_AFTER || conn.ping().await.is_ok() {
                        return Ok(conn);
                    }
                    // Broken while idle: dropped; try the next one.
                }
                None => return Ok(self.pool.acquire().await?.detach()),
            }
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        // A poisoned lock only means a panic elsewhere mid-push; the entries are whole.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a connection is fit for reuse after `result`: after success, or after an error the
/// server reported in a session it kept open.
fn reusable<T>(result: &Result<T, sqlx::Error>) -> bool {
    result.as_ref().err().is_none_or(refused_in_session)
}

/// Postgres refused the statement and kept the session open: the statement's transaction rolled
/// back, and the connection can go on. A FATAL error (e.g. the backend was terminated) ends the
/// session; after an I/O or protocol error the connection, and whether a commit happened, are
/// unknown.
pub fn refused_in_session(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db
        .try_downcast_ref::<PgDatabaseError>()
        .is_some_and(|e| !matches!(e.severity(), PgSeverity::Fatal | PgSeverity::Panic)))
}
