//! Finishing a rebuild's filled copies before the swap: each table indexed and analyzed and,
//! at the end, vacuumed.

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

/// Each step in one process: a B-tree build otherwise takes two parallel workers beside its
/// own, and the trigram index of the descriptions, which Postgres 15 builds in one process
/// and which ends last, shared the cores with three processes instead of one (at 1,000,000
/// tickets it took 36 s beside the other builds against about 20 s alone).
const ONE_PROCESS: &str = "SET LOCAL max_parallel_maintenance_workers = 0";

/// What is left to do to one table of a filled copy.
#[derive(Debug)]
pub(super) struct Finish {
    /// Its qualified name.
    pub(super) table: String,
    /// Its secondary indexes, to build.
    pub(super) indexes: Vec<Deferred>,
}

/// A secondary index of a copy, dropped while the copy fills.
#[derive(Debug)]
pub(super) struct Deferred {
    /// Its definition.
    pub(super) definition: String,
    /// The size of the live table's index of the same definition (0 for none): the rebuilt
    /// one is built from the same rows, so its build is about as long as the live one is big.
    pub(super) live_bytes: i64,
}

impl Deferred {
    fn is_gin(&self) -> bool {
        self.definition.contains(" USING gin ")
    }
}

/// A step of [`finish`]: which table, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Index(usize, usize),
    Analyzed(usize),
}

/// Finishes every table of the copies, each once `filled` tells it is filled (all of them at
/// the latest when it tells [`Filled::All`]), [`PARALLEL_STEPS`] steps at a time: its indexes
/// are built, then its statistics gathered (new tables have none until autovacuum gets to
/// them, and the planner guesses without: at 100,000 tickets, a list by requester took 68 ms
/// instead of 1). Every table is vacuumed at the end ([`vacuum`]). Tables are finished in the
/// order they were filled, each analyzed as soon as its last index is built, but a GIN build
/// ready goes ahead of any other step, the one of the largest live index first: building one
/// is the longest step by far (at a million tickets, 20 to 30 s for the descriptions'
/// trigrams, 9 to 14 s for the titles', against 1 to 4 s for any other step), so it overlaps
/// the rest instead of ending last. (The descriptions' index had waited for the titles', the
/// tags' and the custom fields' ones, ready at the same time.) Tables filled early are
/// finished while the others fill: at a million tickets, the ticket view's tables while the
/// statistics and requester chains write their sums (about 12 s).
///
/// (The copies are logged tables, written to the WAL as they filled: see
/// [`super::Shadow::create`].)
pub(super) async fn finish(
    pool: &PgPool,
    tables: Vec<Finish>,
    mut filled: mpsc::UnboundedReceiver<Filled>,
) -> Result<(), sqlx::Error> {
    let mut unfilled: Vec<bool> = vec![true; tables.len()];
    let mut ready: VecDeque<Step> = VecDeque::new();
    let mut building: Vec<usize> = tables.iter().map(|t| t.indexes.len()).collect();
    let mut running = FuturesUnordered::new();
    let mut filling = true;
    loop {
        while running.len() < PARALLEL_STEPS {
            let gin = ready
                .iter()
                .enumerate()
                .filter_map(|(at, step)| match *step {
                    Step::Index(t, i) if tables[t].indexes[i].is_gin() => {
                        Some((tables[t].indexes[i].live_bytes, at))
                    }
                    _ => None,
                })
                .max()
                .map(|(_, at)| at);
            let Some(step) = gin
                .and_then(|at| ready.remove(at))
                .or_else(|| ready.pop_front())
            else {
                break;
            };
            let statement = match step {
                Step::Index(t, i) => tables[t].indexes[i].definition.clone(),
                Step::Analyzed(t) => format!("ANALYZE {}", tables[t].table),
            };
            running.push(async move {
                let mut tx = pool.begin().await?;
                sqlx::query(BUILD_MEMORY).execute(&mut *tx).await?;
                sqlx::query(ONE_PROCESS).execute(&mut *tx).await?;
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
                    if !std::mem::replace(&mut unfilled[t], false) {
                        continue;
                    }
                    if building[t] == 0 {
                        ready.push_back(Step::Analyzed(t));
                    }
                    ready.extend((0..building[t]).map(|i| Step::Index(t, i)));
                }
            }
            Some(done) = running.next(), if !running.is_empty() => match done? {
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
