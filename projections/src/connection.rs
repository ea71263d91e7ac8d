//! A connection of its own for a long-running loop.
//!
//! sqlx 0.8 tests a pooled connection with a query each time it goes back to the pool, so a loop
//! that runs a statement or a short transaction per wake-up through the pool pays a second round
//! trip for each. The engine's loops (projectors, WebSocket feed, announcer) keep a connection
//! out of the pool instead, and take a fresh one after an error.

use sqlx::{PgConnection, PgPool};

/// A connection taken from `pool` on first use and kept until [`Dedicated::discard`].
#[derive(Debug)]
pub struct Dedicated {
    pool: PgPool,
    conn: Option<PgConnection>,
}

impl Dedicated {
    /// Nothing is connected until [`Dedicated::get`].
    pub fn new(pool: PgPool) -> Self {
        Self { pool, conn: None }
    }

    /// The connection, taken from the pool (and out of it) if there is none yet.
    pub async fn get(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?.detach(),
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
