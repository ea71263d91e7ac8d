//! The projection of `ticket_view`, `ticket_recency`, `ticket_comments`, `ticket_search`, the
//! statistics' tables and the users' and requesters' tables.
//!
//! Each step folds its batch in memory, one [`ViewRow`] per ticket it touches
//! ([`super::batch`]), and writes what changed table by table in its transaction
//! ([`super::writes`]): the rows with one upsert, the new comments with one insert, what the
//! changed tickets add to the statistics (see [`super::tally`]) with one more, and so on. A
//! rebuild writes the same parts side by side ([`super::bulk`]).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use sqlx::PgConnection;
use uuid::Uuid;

use super::batch::{cached_rows, fold_batch, read_rows};
use super::bulk;
use super::business::BusinessClock;
use super::row::{ViewRow, NAME};
use crate::runtime::Projection;
use crate::shadow::{Batches, ShadowTables};
use crate::stored::StoredEvent;

/// Rows kept in memory between steps (a few MB at 10,000).
const ROW_CACHE: usize = 10_000;

/// The projection's tables.
pub(super) const TABLES: &[&str] = &[
    "ticket_view",
    "ticket_recency",
    "ticket_comments",
    "ticket_search",
    "ticket_stats",
    "ticket_totals",
    "ticket_histograms",
    "my_tickets",
    "my_counts",
    "ticket_tag_counts",
    "requester_tickets",
    "requester_gaps",
    "requester_counts",
    "requester_periods",
];

/// Keeps `ticket_view` and `ticket_comments`.
///
/// Rows it wrote stay in memory, so that a step reads from `ticket_view` only the tickets it
/// has not seen lately. Through events, a cached row at version `seq - 1` is the stored row,
/// whoever stored it (another instance); a row at any other version is read from the table. A
/// row cached by a step whose transaction then rolled back is ahead of the table, so the retry
/// reads the table. What changes rows without an event (the SLA configuration's due times, a
/// rebuild's swap) moves the checkpoint's generation, and the runner then has every instance's
/// projection forget its rows ([`Projection::forget_cached_rows`]).
pub struct TicketViewProjection {
    rows: Mutex<LruCache<Uuid, ViewRow>>,
    clock: Arc<dyn BusinessClock>,
    /// Rows a rebuild holds before writing ([`bulk`]).
    rebuild_rows: usize,
}

impl std::fmt::Debug for TicketViewProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketViewProjection")
            .finish_non_exhaustive()
    }
}

impl TicketViewProjection {
    /// The projection, counting business time on the calendars `clock` gives.
    pub fn new(clock: Arc<dyn BusinessClock>) -> Self {
        Self {
            rows: Mutex::new(LruCache::new(
                NonZeroUsize::new(ROW_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
            clock,
            rebuild_rows: bulk::ROWS,
        }
    }

    /// The same, holding at most `rows` rows while it rebuilds: with a few, tests let rows go
    /// and read them back as a rebuild of years of tickets does.
    pub fn holding_in_rebuild(mut self, rows: usize) -> Self {
        self.rebuild_rows = rows;
        self
    }

    fn cache(&self) -> MutexGuard<'_, LruCache<Uuid, ViewRow>> {
        // A panic elsewhere cannot leave a half-written row: entries are replaced whole.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Projection for TicketViewProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn forget_cached_rows(&self) {
        self.cache().clear();
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        batch: &[StoredEvent],
    ) -> Result<(), sqlx::Error> {
        let (mut rows, missing) = cached_rows(&mut self.cache(), batch);
        rows.extend(read_rows(conn, &missing).await?);
        let clock = self.clock.current().await;
        let written = fold_batch(&mut rows, batch, clock.as_ref())
            .write(conn)
            .await?;
        let mut cache = self.cache();
        for (id, row) in written {
            cache.put(id, row);
        }
        Ok(())
    }

    async fn fill(
        &self,
        tables: &ShadowTables,
        batches: Batches,
    ) -> Result<(i64, i64), sqlx::Error> {
        bulk::fill(self.clock.as_ref(), tables, batches, self.rebuild_rows).await
    }
}
