//! How a rebuild fills the ticket view's copy: batches folded in memory one after another,
//! their writes sent to lanes that write side by side.
//!
//! Applied batch by batch, one transaction each, a rebuild waited on every statement of a
//! batch in turn (statistics, users' rows, requester chains, rows, comments) while the machine
//! stood 40 % idle. Here each part of [`Writes`] has a lane, its own connection and its own
//! transactions: the parts write disjoint tables, and each lane writes its part of the batches
//! in order, so every table ends as the batches applied in turn would leave it. A lane merges
//! several batches' parts into one write (a user's row changed once for several batches):
//! those queued while it wrote, and for the tables whose rows many tickets share, a fixed
//! number at least. What only adds up (statistics, users' counts, tags' counts) and the
//! requester chains (a function of the set of tickets) a lane merges over the whole rebuild
//! and writes once, at the end ([`Part::take_sums`]): at 1,000,000 tickets the statements
//! writing them took about 45 s of the database's time instead of 145 (statistics 72 s, users'
//! counts 30 s, chains 41 s) with 14 to 19 writes each.
//!
//! The fold keeps its own cache of rows, larger than the live one, and reads from the copy only
//! the rows the cache let go, once the rows lane has written them. A ticket created in a batch
//! has no row to read (the copy started empty); waiting for the rows lane to write every batch
//! before one that created tickets held the fold back most of a rebuild (8.8 s of a 12 s fill
//! at 100,000 tickets).

use std::collections::HashSet;
use std::num::NonZeroUsize;

use lru::LruCache;
use ticket_nats::TicketEvent;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::batch::{cached_rows, fold_batch, read_rows};
use super::business::BusinessClock;
use super::row::{ticket_id, ViewRow};
use super::writes::{ChainWrites, CommentWrites, MineWrites, Part, RowWrites, StatWrites};
use crate::shadow::{Batches, ShadowTables};

/// Rows the fold keeps (about a kilobyte each): at a million tickets over two years, the
/// tickets of the last two months or so, past which a ticket rarely has another event.
const ROWS: usize = 100_000;

/// Batches' parts queued for a lane before the fold waits for it.
const QUEUED: usize = 8;

/// Batches whose users' rows (`my_tickets`) are merged into one write: a user's rows change
/// with every event of their tickets, so each written once for several batches saves most of
/// their writing. A few MB per batch are held. (The statistics' and chains' lanes write
/// nothing but at the end, and only merge as often.)
const GATHERED: usize = 16;

/// Fills `tables` with every batch of `batches`; returns (events applied, the last position).
pub(super) async fn fill(
    clock: &dyn BusinessClock,
    tables: &ShadowTables,
    batches: Batches,
) -> Result<(i64, i64), sqlx::Error> {
    let (rows_written, rows_progress) = watch::channel(0);
    // The rows lane merges only what queued: a fold that misses a row may wait for it.
    let (rows, rows_lane) = lane::<RowWrites>(tables, 1, Some(rows_written));
    let (comments, comments_lane) = lane::<CommentWrites>(tables, 1, None);
    let (stats, stats_lane) = lane::<StatWrites>(tables, GATHERED, None);
    let (mine, mine_lane) = lane::<MineWrites>(tables, GATHERED, None);
    let (chain, chain_lane) = lane::<ChainWrites>(tables, GATHERED, None);
    let lanes = Lanes {
        rows,
        comments,
        stats,
        mine,
        chain,
        rows_progress,
    };
    let folded = fold_all(clock, tables, batches, lanes).await;
    // A lane that failed stopped the fold; its error is the one to report.
    let mut failed = None;
    for handle in [rows_lane, comments_lane, stats_lane, mine_lane, chain_lane] {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed.get_or_insert(e);
            }
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }
    match (failed, folded) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(done)) => Ok(done),
    }
}

/// Where the fold sends a batch's parts, each tagged with the position of its batch's last
/// event.
struct Lanes {
    rows: LaneSender<RowWrites>,
    comments: LaneSender<CommentWrites>,
    stats: LaneSender<StatWrites>,
    mine: LaneSender<MineWrites>,
    chain: LaneSender<ChainWrites>,
    /// The last position whose batch's rows are written.
    rows_progress: watch::Receiver<i64>,
}

/// Folds every batch and sends its parts to the lanes; returns early, with what it did, when
/// a lane has stopped (failed).
async fn fold_all(
    clock: &dyn BusinessClock,
    tables: &ShadowTables,
    mut batches: Batches,
    mut lanes: Lanes,
) -> Result<(i64, i64), sqlx::Error> {
    let mut cache: LruCache<Uuid, ViewRow> =
        LruCache::new(NonZeroUsize::new(ROWS).unwrap_or(NonZeroUsize::MIN));
    // The latest event of any row the cache let go: a row missed later was written once the
    // rows lane has written the batch of this position. (A row taken from the cache always
    // comes back: every ticket of a batch changes, since the row taken is the one just before
    // its first event there.)
    let mut evicted_through = 0;
    let (mut events, mut position) = (0, 0);
    while let Some(batch) = batches.recv().await {
        let Some(last) = batch.last().map(|e| e.position) else {
            continue;
        };
        let (mut before, mut missing) = cached_rows(&mut cache, &batch, true);
        if !missing.is_empty() {
            let created: HashSet<Uuid> = batch
                .iter()
                .filter(|e| matches!(e.event, TicketEvent::Created(_)))
                .filter_map(ticket_id)
                .collect();
            missing.retain(|id| !created.contains(id));
        }
        if !missing.is_empty() {
            // A row the cache holds at another version than expected (events out of order)
            // may have been written by any batch before.
            let needed = if missing.iter().any(|id| cache.contains(id)) {
                position
            } else {
                evicted_through
            };
            if lanes
                .rows_progress
                .wait_for(|written| *written >= needed)
                .await
                .is_err()
            {
                break;
            }
            let mut tx = tables.begin().await?;
            before.extend(read_rows(&mut tx, &missing).await?);
            tx.commit().await?;
        }
        let calendars = clock.current().await;
        let writes = fold_batch(before, &batch, calendars.as_ref());
        for (id, row) in &writes.rows.rows {
            if let Some((gone, row)) = cache.push(*id, row.clone()) {
                if gone != *id {
                    evicted_through = evicted_through.max(row.last_position());
                }
            }
        }
        let sent = lanes.rows.send((last, writes.rows)).await.is_ok()
            && lanes.comments.send((last, writes.comments)).await.is_ok()
            && lanes.stats.send((last, writes.stats)).await.is_ok()
            && lanes.mine.send((last, writes.mine)).await.is_ok()
            && lanes.chain.send((last, writes.chain)).await.is_ok();
        if !sent {
            break;
        }
        events += batch.len() as i64;
        position = last;
    }
    Ok((events, position))
}

/// Where the fold sends a lane's parts, each tagged with its batch's last position.
type LaneSender<P> = mpsc::Sender<(i64, P)>;

/// A lane's task: its first error, if it failed.
type LaneTask = JoinHandle<Result<(), sqlx::Error>>;

/// A lane: writes each part it receives merged with the next ones, at least `gather` of them
/// (or all that are left) and what else has queued by then, in a transaction of its own, but
/// their sums ([`Part::take_sums`]) once, after the last; `written` follows the last position
/// of the batches written.
fn lane<P: Part>(
    tables: &ShadowTables,
    gather: usize,
    written: Option<watch::Sender<i64>>,
) -> (LaneSender<P>, LaneTask) {
    let (sender, mut parts) = mpsc::channel::<(i64, P)>(QUEUED);
    let tables = tables.clone();
    let handle = tokio::spawn(async move {
        let mut sums = P::default();
        while let Some((mut last, mut part)) = parts.recv().await {
            let mut merged = 1;
            loop {
                let next = if merged < gather {
                    parts.recv().await
                } else if merged < gather + QUEUED {
                    parts.try_recv().ok()
                } else {
                    None
                };
                let Some((later_last, later)) = next else {
                    break;
                };
                part.merge(later);
                last = later_last;
                merged += 1;
            }
            sums.merge(part.take_sums());
            let mut tx = tables.begin().await?;
            part.write(&mut tx).await?;
            tx.commit().await?;
            if let Some(written) = &written {
                written.send_replace(last);
            }
        }
        let mut tx = tables.begin().await?;
        sums.write(&mut tx).await?;
        tx.commit().await
    });
    (sender, handle)
}
