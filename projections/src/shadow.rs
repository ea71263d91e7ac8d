//! A rebuild's copy of a read model's tables: transactions on it, and the batches that fill it.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;

use crate::stored::StoredEvent;

/// The batches of a rebuild, in position order, each read and decoded once and shared by
/// every model being rebuilt.
pub type Batches = mpsc::Receiver<Arc<Vec<StoredEvent>>>;

/// Memory a rebuild's statement may sort and hash in, against Postgres' default of 4 MB: a
/// rebuild writes the changes of many tickets in one statement (at 100,000 tickets, the
/// statistics of 16 batches grouped 390,000 histogram buckets), which otherwise spill to
/// temporary files.
const WORK_MEMORY: &str = "SET LOCAL work_mem = '64MB'";

/// What a rebuild learns of its copies as they fill: a table written for good (by its
/// qualified name), or that every table is.
#[derive(Debug)]
pub(crate) enum Filled {
    Table(String),
    All,
}

/// Where a rebuild writes one model's copy: the pool, and the `search_path` that points the
/// model's unqualified table names at the copy.
#[derive(Debug, Clone)]
pub struct ShadowTables {
    pool: PgPool,
    schema: String,
    search_path: String,
    filled: mpsc::UnboundedSender<Filled>,
}

impl ShadowTables {
    /// The copy in `schema`; what [`ShadowTables::filled`] tells goes to `filled`.
    pub(crate) fn new(pool: PgPool, schema: &str, filled: mpsc::UnboundedSender<Filled>) -> Self {
        Self {
            pool,
            schema: schema.to_string(),
            search_path: format!("SET LOCAL search_path = \"{schema}\", public"),
            filled,
        }
    }

    /// Tells the rebuild that nothing will write `table` of the copy any more, so that it may
    /// finish it (log it, build its indexes) while other tables fill. Told of a table still
    /// written, the rebuild stays correct: the finishing steps' locks make the writer wait,
    /// and an index built is kept current.
    pub fn filled(&self, table: &str) {
        // (Nobody listens once the rebuild has failed.)
        let _ = self
            .filled
            .send(Filled::Table(format!("\"{}\".\"{table}\"", self.schema)));
    }

    /// A transaction whose unqualified table names are the copy's, with [`WORK_MEMORY`]. Its
    /// commit does not wait for the WAL to reach the disk: the copy is thrown away if the
    /// rebuild does not finish, and the swap's durable commit flushes everything written
    /// before it.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        sqlx::query(WORK_MEMORY).execute(&mut *tx).await?;
        sqlx::query(&self.search_path).execute(&mut *tx).await?;
        Ok(tx)
    }

    /// The statement that points a transaction at the copy.
    pub(crate) fn search_path(&self) -> &str {
        &self.search_path
    }
}
