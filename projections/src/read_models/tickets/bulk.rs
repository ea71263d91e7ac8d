//! How a rebuild fills the ticket view's copy: batches folded in memory one after another,
//! their writes sent to lanes that write side by side.
//!
//! Applied batch by batch, one transaction each, a rebuild waited on every statement of a
//! batch in turn (statistics, users' rows, requester chains, rows, comments) while the machine
//! stood 40 % idle. Here each part of [`Writes`] has a lane, its own connection and its own
//! transactions: the parts write disjoint tables, and each lane writes its part of the batches
//! in order, so every table ends as the batches applied in turn would leave it. A lane merges
//! several batches' parts into one write (a statistics row changed once for several batches):
//! those queued while it wrote, and for the tables whose rows many tickets share, a fixed
//! number at least. The fold keeps its own cache of rows, larger than the live one, and reads a
//! row back from the copy only once the rows lane has written every batch before.

use std::num::NonZeroUsize;

use lru::LruCache;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::batch::{cached_rows, fold_batch, read_rows};
use super::business::BusinessClock;
use super::row::ViewRow;
use super::writes::{ChainWrites, CommentWrites, MineWrites, Part, RowWrites, StatWrites};
use crate::shadow::{Batches, ShadowTables};

/// Rows the fold keeps (about a kilobyte each): at a million tickets over two years, the
/// tickets of the last two months or so, past which a ticket rarely has another event.
const ROWS: usize = 100_000;

/// Batches' parts queued for a lane before the fold waits for it.
const QUEUED: usize = 8;

/// Batches whose statistics, users' counts and requester chains are merged into one write:
/// those rows are shared by many tickets (a day's, a month's, a user's, a requester's), so
/// each written once for several batches saves most of their writing. At 100,000 tickets
/// (25,000-event batches), the statistics statement took 2.6 s over 23 batches, and the
/// requester chains' look-up 0.9 s. A few MB per batch are held.
const GATHERED: usize = 16;

/// Fills `tables` with every batch of `batches`; returns (events applied, the last position).
pub(super) async fn fill(
    clock: &dyn BusinessClock,
    tables: &ShadowTables,
    batches: Batches,
) -> Result<(i64, i64), sqlx::Error> {
    let (rows_written, rows_progress) = watch::channel(0);
    // The rows lane merges only what queued: a fold that misses a row waits for it.
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

/// Where the fold sends a batch's parts.
struct Lanes {
    rows: LaneSender<RowWrites>,
    comments: LaneSender<CommentWrites>,
    stats: LaneSender<StatWrites>,
    mine: LaneSender<MineWrites>,
    chain: LaneSender<ChainWrites>,
    /// The number of the last batch whose rows are written.
    rows_progress: watch::Receiver<u64>,
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
    let (mut events, mut position, mut number) = (0, 0, 0);
    while let Some(batch) = batches.recv().await {
        number += 1;
        let (mut before, missing) = cached_rows(&mut cache, &batch, true);
        if !missing.is_empty() {
            let earlier = number - 1;
            if lanes
                .rows_progress
                .wait_for(|written| *written >= earlier)
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
            cache.put(*id, row.clone());
        }
        let sent = lanes.rows.send((number, writes.rows)).await.is_ok()
            && lanes.comments.send((number, writes.comments)).await.is_ok()
            && lanes.stats.send((number, writes.stats)).await.is_ok()
            && lanes.mine.send((number, writes.mine)).await.is_ok()
            && lanes.chain.send((number, writes.chain)).await.is_ok();
        if !sent {
            break;
        }
        events += batch.len() as i64;
        position = batch.last().map_or(position, |e| e.position);
    }
    Ok((events, position))
}

/// Where the fold sends a lane's parts, each tagged with its batch's number.
type LaneSender<P> = mpsc::Sender<(u64, P)>;

/// A lane's task: its first error, if it failed.
type LaneTask = JoinHandle<Result<(), sqlx::Error>>;

/// A lane: writes each part it receives merged with the next ones, at least `gather` of them
/// (or all that are left) and what else has queued by then, in a transaction of its own;
/// `written` follows the number of the last batch written.
fn lane<P: Part>(
    tables: &ShadowTables,
    gather: usize,
    written: Option<watch::Sender<u64>>,
) -> (LaneSender<P>, LaneTask) {
    let (sender, mut parts) = mpsc::channel::<(u64, P)>(QUEUED);
    let tables = tables.clone();
    let handle = tokio::spawn(async move {
        while let Some((mut number, mut part)) = parts.recv().await {
            let mut merged = 1;
            loop {
                let next = if merged < gather {
                    parts.recv().await
                } else if merged < gather + QUEUED {
                    parts.try_recv().ok()
                } else {
                    None
                };
                let Some((later_number, later)) = next else {
                    break;
                };
                part.merge(later);
                number = later_number;
                merged += 1;
            }
            let mut tx = tables.begin().await?;
            part.write(&mut tx).await?;
            tx.commit().await?;
            if let Some(written) = &written {
                written.send_replace(number);
            }
        }
        Ok(())
    });
    (sender, handle)
}
