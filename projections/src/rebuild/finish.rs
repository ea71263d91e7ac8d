//! Finishing a rebuild's filled copies before the swap: each table logged, indexed, analyzed
//! and, at the end, vacuumed.

use std::collections::VecDeque;

use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::shadow::Filled;

/// The steps that finish a copy (see [`finish`]) run side by side, this many at a time.
const PARALLEL_STEPS: usize = 2;

/// Memory an index build may sort in, per build, against Postgres' default of 64 MB: a
/// trigram index over a million tickets' descriptions otherwise spills to disk over and over.
const BUILD_MEMORY: &str = "SET LOCAL maintenance_work_mem = '256MB'";

/// What is left to do to one table of a filled copy.
#[derive(Debug)]
pub(super) struct Finish {
    /// Its qualified name.
    pub(super) table: String,
    /// The definitions of its secondary indexes.
    pub(super) indexes: Vec<String>,
}

/// A step of [`finish`]: which table, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Logged(usize),
    Index(usize, usize),
    Analyzed(usize),
}

/// Finishes every table of the copies, each once `filled` tells it is filled (all of them at
/// the latest when it tells [`Filled::All`]), [`PARALLEL_STEPS`] steps at a time: each table
/// is written to the WAL once, whole (it filled unlogged, with no WAL per row), then its
/// indexes are built, then its statistics gathered (new tables have none until autovacuum
/// gets to them, and the planner guesses without: at 100,000 tickets, a list by requester took
/// 68 ms instead of 1). Every table is vacuumed at the end ([`vacuum`]). A table's next steps go ahead of the other tables' ones, but tables
/// with a GIN index come first and a GIN build ready goes ahead of any other step: building
/// one is the longest step by far (at a million tickets, 16 to 25 s for the descriptions'
/// trigrams, against 1 to 6 s for any other step), so it overlaps the rest instead of ending
/// last. (It had waited for the ticket view's other indexes, ready meanwhile.) Tables filled
/// early are finished while the others fill: at a million tickets, the ticket view's tables
/// while the statistics and requester chains write their sums (about 12 s).
pub(super) async fn finish(
    pool: &PgPool,
    mut tables: Vec<Finish>,
    mut filled: mpsc::UnboundedReceiver<Filled>,
) -> Result<(), sqlx::Error> {
    let is_gin = |index: &str| index.contains(" USING gin ");
    tables.sort_by_key(|t| !t.indexes.iter().any(|i| is_gin(i)));
    let mut unfilled: Vec<bool> = vec![true; tables.len()];
    let mut ready: VecDeque<Step> = VecDeque::new();
    let mut building: Vec<usize> = tables.iter().map(|t| t.indexes.len()).collect();
    let mut running = FuturesUnordered::new();
    let mut filling = true;
    loop {
        while running.len() < PARALLEL_STEPS {
            let gin = ready
                .iter()
                .position(|s| matches!(*s, Step::Index(t, i) if is_gin(&tables[t].indexes[i])));
            let Some(step) = gin
                .and_then(|at| ready.remove(at))
                .or_else(|| ready.pop_front())
            else {
                break;
            };
            let statement = match step {
                Step::Logged(t) => format!("ALTER TABLE {} SET LOGGED", tables[t].table),
                Step::Index(t, i) => tables[t].indexes[i].clone(),
                Step::Analyzed(t) => format!("ANALYZE {}", tables[t].table),
            };
            running.push(async move {
                let mut tx = pool.begin().await?;
                sqlx::query(BUILD_MEMORY).execute(&mut *tx).await?;
                sqlx::query(&statement).execute(&mut *tx).await?;
                tx.commit().await.map(|()| step)
            });
        }
        tokio::select! {
            news = filled.recv(), if filling => {
                let done: Vec<usize> = match news {
                    Some(Filled::Table(name)) => {
                        tables.iter().position(|t| t.table == name).into_iter().collect()
                    }
                    Some(Filled::All) | None => {
                        filling = false;
                        (0..tables.len()).collect()
                    }
                };
                for t in done {
                    if std::mem::replace(&mut unfilled[t], false) {
                        ready.push_back(Step::Logged(t));
                    }
                }
            }
            Some(done) = running.next(), if !running.is_empty() => match done? {
                Step::Logged(t) if building[t] == 0 => ready.push_front(Step::Analyzed(t)),
                Step::Logged(t) => {
                    for i in (0..building[t]).rev() {
                        ready.push_front(Step::Index(t, i));
                    }
                }
                // ANALYZE would wait for the table's index builds (their locks conflict).
                Step::Index(t, _) => {
                    building[t] -= 1;
                    if building[t] == 0 {
                        ready.push_front(Step::Analyzed(t));
                    }
                }
                Step::Analyzed(_) => {}
            },
            else => return vacuum(pool, &tables).await,
        }
    }
}

/// Vacuums the finished copies, [`PARALLEL_STEPS`] tables at a time, so that they have a
/// visibility map when they are swapped in: without one an index-only scan reads the table
/// too, until autovacuum gets to it (at 1,000,000 tickets, p99 of `/board` 10.7 ms instead of
/// 4.4, of `/stats` over 30 days 42 instead of 26). Last, once none of the rebuild's other
/// transactions is open: VACUUM marks a page all-visible only if every transaction sees its
/// rows, and an index build or a lane's transaction that began before they were written does
/// not (vacuumed as each table was finished, the tables finished early kept no page visible).
/// About 2 s at 1,000,000 tickets.
async fn vacuum(pool: &PgPool, tables: &[Finish]) -> Result<(), sqlx::Error> {
    futures::stream::iter(tables)
        .map(|t| async move {
            // (Not in a transaction: VACUUM refuses to run in one.)
            sqlx::query(&format!("VACUUM {}", t.table))
                .execute(pool)
                .await
                .map(drop)
        })
        .buffer_unordered(PARALLEL_STEPS)
        .try_collect()
        .await
}
