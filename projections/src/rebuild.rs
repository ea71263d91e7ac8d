//! Rebuilding read models from the whole event store while the engine keeps serving.
//!
//! Built aside, then swapped: each projection's tables are copied empty into a schema
//! `rebuild_<name>` (`CREATE TABLE … (LIKE public.t INCLUDING ALL)`, indexed and analyzed
//! once filled), every event from position 0 is applied there by the projection's
//! [`Projection::fill`], in transactions with `SET LOCAL search_path = rebuild_<name>, public`
//! (which is why projections must use unqualified table names), and one final transaction per
//! projection takes the live projector's lock (pausing the live projectors of every instance),
//! applies what arrived meanwhile, drops the live tables, moves the new ones into `public`, sets
//! the checkpoint and drops the schema. Readers see the old model until that commit and the new
//! one after it, never a half-built one. The swap moves the checkpoint's generation, so that the
//! live projectors forget the rows they cached from the old tables.
//!
//! Several projections are rebuilt in one pass over the store: each batch is read and decoded
//! once, by a reader task that runs a batch or two ahead, and every projection fills its copy
//! from it on connections of its own, side by side.
//!
//! What a projection's tables may not rely on, because `LIKE … INCLUDING ALL` does not carry it
//! over or the swap would break it:
//! - foreign keys (not copied), to or from these tables;
//! - `serial`/`bigserial` columns (the copied default still calls the *old* table's sequence,
//!   which is dropped with it): use natural keys or `GENERATED … AS IDENTITY`;
//! - triggers, grants, row-level security policies (not copied; storage parameters such as a
//!   fillfactor are copied by the rebuild itself);
//! - views or other objects depending on the tables (the `DROP TABLE` would refuse);
//! - constraint or index names in SQL (`ON CONFLICT ON CONSTRAINT x`): copies get generated
//!   names, so name conflict targets by their columns instead. The swap gives the indexes their
//!   live names back ([`names`]), for the migrations that name them.

use std::sync::Arc;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::runtime::{
    lock_checkpoint, rows_changed_without_events, save_checkpoint, Projection, RuntimeError,
};
use crate::shadow::{Filled, ShadowTables};
use crate::stored::{read_for_read_models, StoredEvent};

mod finish;
mod names;
use finish::{finish, Deferred, Finish};

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebuildReport {
    /// The projection.
    pub name: &'static str,
    /// Events applied to the new tables.
    pub events: i64,
    /// The position the rebuilt model (and its checkpoint) stands at.
    pub position: i64,
}

/// Larger than a live batch: nobody waits on a rebuild's individual batches, and a ticket whose
/// events fall in fewer batches is read and written fewer times. `ticketd projections rebuild`
/// of a help desk's 100,000 tickets over two years (554,527 events, a ticket's events days
/// apart): 33.7 s with 10,000 (peak RSS 265 MB), 30.9 s with 25,000 (466 MB), 29.5 s with
/// 50,000 (819 MB).
pub const BATCH_SIZE: i64 = 25_000;

/// Rebuilds one read model (see the module documentation).
pub async fn rebuild(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<RebuildReport, RuntimeError> {
    rebuild_with(pool, projection, BATCH_SIZE).await
}

/// [`rebuild`] with an explicit batch size.
pub async fn rebuild_with(
    pool: &PgPool,
    projection: &dyn Projection,
    batch_size: i64,
) -> Result<RebuildReport, RuntimeError> {
    let mut reports = rebuild_all_with(pool, &[projection], batch_size).await?;
    Ok(reports.remove(0))
}

/// Rebuilds several read models in one pass over the store; one report per projection, in
/// the order given.
pub async fn rebuild_all(
    pool: &PgPool,
    projections: &[&dyn Projection],
) -> Result<Vec<RebuildReport>, RuntimeError> {
    rebuild_all_with(pool, projections, BATCH_SIZE).await
}

/// [`rebuild_all`] with an explicit batch size.
pub async fn rebuild_all_with(
    pool: &PgPool,
    projections: &[&dyn Projection],
    batch_size: i64,
) -> Result<Vec<RebuildReport>, RuntimeError> {
    for projection in projections {
        check_identifier(projection.name())?;
        for table in projection.tables() {
            check_identifier(table)?;
        }
    }
    let (filled, filled_tables) = mpsc::unbounded_channel();
    let shadows: Vec<Shadow<'_>> = projections
        .iter()
        .map(|p| Shadow::new(pool, *p, filled.clone()))
        .collect();
    let result = build_and_swap(pool, &shadows, batch_size.max(1), filled, filled_tables).await;
    if result.is_err() {
        // Leave nothing half-built behind; the next rebuild would drop it anyway.
        for shadow in &shadows {
            let _ = sqlx::query(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                shadow.schema
            ))
            .execute(pool)
            .await;
        }
    }
    result
}

/// One projection's copy under construction.
struct Shadow<'a> {
    projection: &'a dyn Projection,
    schema: String,
    tables: ShadowTables,
}

impl<'a> Shadow<'a> {
    fn new(
        pool: &PgPool,
        projection: &'a dyn Projection,
        filled: mpsc::UnboundedSender<Filled>,
    ) -> Self {
        let schema = format!("rebuild_{}", projection.name());
        Self {
            tables: ShadowTables::new(pool.clone(), &schema, filled),
            schema,
            projection,
        }
    }

    /// Creates the empty copy; returns each table with the definitions of the secondary
    /// indexes it dropped.
    ///
    /// Secondary indexes are dropped while the copy fills and built once at the end: keeping
    /// them current row by row (trigram GIN indexes above all) costs several times the apply
    /// itself. Unique indexes stay, since upserts need them.
    ///
    /// The copies are logged tables, written to the WAL as they fill. Filled unlogged, each
    /// table was rewritten whole by `SET LOGGED` before its indexes could be built (and its
    /// unique indexes built again): at 1,000,000 tickets that was 35 s of the database's time,
    /// 11 s of it the ticket view's, and it kept the trigram indexes waiting. A rebuild's rows
    /// are written about once each (see `tickets::bulk`), most by `COPY`, so logging them as
    /// they go writes the WAL about once too.
    async fn create(&self, pool: &PgPool) -> Result<Vec<Finish>, sqlx::Error> {
        let schema = &self.schema;
        let mut tx = pool.begin().await?;
        // A schema left by an interrupted rebuild holds nothing worth keeping.
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut *tx)
            .await?;
        let mut finishes = Vec::new();
        for table in self.projection.tables() {
            let mut deferred = Vec::new();
            sqlx::query(&format!(
                "CREATE TABLE \"{schema}\".\"{table}\" \
                 (LIKE public.\"{table}\" INCLUDING ALL)"
            ))
            .execute(&mut *tx)
            .await?;
            // Storage parameters (a fillfactor kept for in-place updates) are not part of LIKE.
            let options: Option<Vec<String>> = sqlx::query_scalar(
                "SELECT reloptions FROM pg_class WHERE oid = format('public.%I', $1::text)::regclass",
            )
            .bind(table)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(options) = options.filter(|o| !o.is_empty()) {
                sqlx::query(&format!(
                    "ALTER TABLE \"{schema}\".\"{table}\" SET ({})",
                    options.join(", ")
                ))
                .execute(&mut *tx)
                .await?;
            }
            let indexes: Vec<(String, String, i64)> = sqlx::query_as(names::DEFERRED_INDEXES)
                .bind(schema)
                .bind(table)
                .fetch_all(&mut *tx)
                .await?;
            for (index, definition, live_bytes) in indexes {
                sqlx::query(&format!("DROP INDEX \"{schema}\".\"{index}\""))
                    .execute(&mut *tx)
                    .await?;
                deferred.push(Deferred {
                    definition,
                    live_bytes,
                });
            }
            finishes.push(Finish {
                table: format!("\"{schema}\".\"{table}\""),
                indexes: deferred,
            });
        }
        tx.commit().await?;
        Ok(finishes)
    }

    /// Catches up from `position` and swaps the copy in, in one transaction.
    async fn swap(
        &self,
        pool: &PgPool,
        position: i64,
        events: i64,
        batch_size: i64,
    ) -> Result<RebuildReport, sqlx::Error> {
        let name = self.projection.name();
        let mut tx = pool.begin().await?;
        // Pauses every live projector of this model until the swap commits.
        let live = lock_checkpoint(&mut tx, name).await?;
        sqlx::query(self.tables.search_path())
            .execute(&mut *tx)
            .await?;
        let (tail, position) = apply_all(&mut tx, self.projection, position, batch_size).await?;
        sqlx::query("SET LOCAL search_path = public")
            .execute(&mut *tx)
            .await?;
        for table in self.projection.tables() {
            let live_indexes = names::indexes(&mut tx, table).await?;
            sqlx::query(&format!("DROP TABLE public.\"{table}\""))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "ALTER TABLE \"{}\".\"{table}\" SET SCHEMA public",
                self.schema
            ))
            .execute(&mut *tx)
            .await?;
            names::keep(&mut tx, table, &live_indexes).await?;
        }
        save_checkpoint(&mut tx, name, position).await?;
        // Rows the live projectors cached may hold what no replay gives (due times or
        // business figures of a configuration since edited): they read the new tables.
        rows_changed_without_events(&mut tx, name).await?;
        sqlx::query(&format!("DROP SCHEMA \"{}\"", self.schema))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let events = events + tail;
        tracing::info!(
            projection = name,
            events,
            position,
            live_was = live.position,
            "rebuild swapped in"
        );
        Ok(RebuildReport {
            name,
            events,
            position,
        })
    }
}

/// Fills the copies and finishes their tables, each as soon as it is filled, then swaps them in.
async fn build_and_swap(
    pool: &PgPool,
    shadows: &[Shadow<'_>],
    batch_size: i64,
    filled: mpsc::UnboundedSender<Filled>,
    filled_tables: mpsc::UnboundedReceiver<Filled>,
) -> Result<Vec<RebuildReport>, RuntimeError> {
    let names: Vec<&str> = shadows.iter().map(|s| s.projection.name()).collect();
    tracing::info!(projections = ?names, "rebuild started");
    let mut finishes = Vec::new();
    for shadow in shadows {
        finishes.extend(shadow.create(pool).await?);
    }

    // Catch up outside the final transactions, so that the live projectors are paused only
    // for the tail.
    let filling = fill(pool, shadows, batch_size, filled);
    let ((events, position), ()) =
        futures::future::try_join(filling, finish(pool, finishes, filled_tables)).await?;
    tracing::debug!(projections = ?names, events, position, "rebuild finished");

    let mut reports = Vec::with_capacity(shadows.len());
    for shadow in shadows {
        reports.push(shadow.swap(pool, position, events, batch_size).await?);
    }
    Ok(reports)
}

/// Fills every copy from one reading of the store, then tells `filled` that every table is;
/// returns (events applied, the last position).
async fn fill(
    pool: &PgPool,
    shadows: &[Shadow<'_>],
    batch_size: i64,
    filled: mpsc::UnboundedSender<Filled>,
) -> Result<(i64, i64), sqlx::Error> {
    // The reader decodes each batch once, a batch or two ahead, and every model fills its copy
    // from it, side by side.
    let (senders, receivers): (Vec<_>, Vec<_>) = shadows
        .iter()
        .map(|_| mpsc::channel::<Arc<Vec<StoredEvent>>>(2))
        .unzip();
    let reader = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut position = 0;
            loop {
                let read = read_for_read_models(&pool, position, batch_size).await?;
                let Some(last) = read.last else {
                    return Ok::<_, sqlx::Error>(());
                };
                position = last;
                let full = read.read as i64 >= batch_size;
                let batch = Arc::new(read.events);
                for sender in &senders {
                    if sender.send(batch.clone()).await.is_err() {
                        // An applier failed; its error is the one reported.
                        return Ok(());
                    }
                }
                if !full {
                    return Ok(());
                }
            }
        })
    };
    let applied = futures::future::try_join_all(
        shadows
            .iter()
            .zip(receivers)
            .map(|(shadow, next)| shadow.projection.fill(&shadow.tables, next)),
    )
    .await;
    let read = reader.await;
    let filled_copies = applied?;
    match read {
        Ok(read) => read?,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    }
    let _ = filled.send(Filled::All);
    Ok(filled_copies.first().copied().unwrap_or((0, 0)))
}

fn check_identifier(name: &str) -> Result<(), RuntimeError> {
    let plain = !name.is_empty()
        && name.len() <= 54
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(())
    } else {
        Err(RuntimeError::InvalidName(name.to_string()))
    }
}

/// Applies every event after `from` to the tables `search_path` points at, batch by batch,
/// inside `conn`'s transaction. Returns (events applied, last position).
async fn apply_all(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    from: i64,
    batch_size: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let mut position = from;
    let mut applied = 0;
    loop {
        let read = read_for_read_models(&mut *conn, position, batch_size).await?;
        let batch = read.events;
        let Some(last) = read.last else {
            return Ok((applied, position));
        };
        projection.apply(&mut *conn, &batch).await?;
        applied += batch.len() as i64;
        position = last;
    }
}
