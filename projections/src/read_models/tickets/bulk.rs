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
//! The fold holds the rows it folded, many more than the live projector caches, and writes a
//! row (with its ticket's `my_tickets` rows and searchable text) only when it lets the row go
//! or at the end. A ticket's events fall in several batches, days apart, and its rows were
//! written for each (but where the lanes merged batches while behind); now about once: at
//! 1,000,000 tickets, 1,000,000 inserts and 905 updates of `ticket_view`, and `my_tickets`
//! written in 21 s of the database's time instead of 30. A row let go and needed again is read
//! back from the copy once the rows lane has written it. A ticket created in a batch has no row to read (the copy started empty);
//! waiting for the rows lane to write every batch before one that created tickets held the
//! fold back most of a rebuild (8.8 s of a 12 s fill at 100,000 tickets).
//!
//! Since the fold knows which rows the copy has never held, those (nearly all) and every new
//! comment are inserted with `COPY` ([`super::copied`]); only rows written before are upserted.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use lru::LruCache;
use sqlx::PgConnection;
use ticket_nats::TicketEvent;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::batch::{fold_batch, read_rows};
use super::business::BusinessClock;
use super::copied::{NewComments, NewRows};
use super::mine::{MyTicket, MyTicketsDelta};
use super::row::{ticket_id, ViewRow};
use super::writes::{ChainWrites, MineWrites, Part, RowWrites, StatWrites};
use crate::shadow::{Batches, ShadowTables};

/// Rows the fold holds (about a kilobyte each): at a million tickets over two years, the
/// tickets of the last two months or so, past which a ticket rarely has another event.
pub(super) const ROWS: usize = 100_000;

/// Rows written in one statement when the fold lets every row go at the end.
const FLUSHED: usize = 10_000;

/// Batches' parts queued for a lane before the fold waits for it.
const QUEUED: usize = 8;

/// Batches merged at a time by the lanes whose parts are all sums (statistics, users' and
/// tags' counts, chains), which write nothing before the end.
const GATHERED: usize = 16;

/// The tables each lane writes, which it tells filled when it has written its last
/// ([`ShadowTables::filled`]); the searchable text first, for its trigram indexes take longest
/// to build.
const ROWS_TABLES: &[&str] = &[
    "ticket_search",
    "ticket_view",
    "my_tickets",
    "ticket_recency",
];
const COMMENTS_TABLES: &[&str] = &["ticket_comments"];
const STATS_TABLES: &[&str] = &[
    "ticket_stats",
    "ticket_totals",
    "ticket_histograms",
    "requester_periods",
    "requester_counts",
];
const MINE_TABLES: &[&str] = &["my_counts", "ticket_tag_counts"];
const CHAIN_TABLES: &[&str] = &["requester_tickets", "requester_gaps"];

/// Fills `tables` with every batch of `batches`, holding at most `held` rows; returns (events
/// applied, the last position).
pub(super) async fn fill(
    clock: &dyn BusinessClock,
    tables: &ShadowTables,
    batches: Batches,
    held: usize,
) -> Result<(i64, i64), sqlx::Error> {
    let (rows_written, rows_progress) = watch::channel(0);
    // The rows lane merges only what queued: a fold that misses a row may wait for it.
    let (rows, rows_lane) = lane::<HeldRows>(tables, ROWS_TABLES, 1, Some(rows_written));
    let (comments, comments_lane) = lane::<NewComments>(tables, COMMENTS_TABLES, 1, None);
    let (stats, stats_lane) = lane::<StatWrites>(tables, STATS_TABLES, GATHERED, None);
    let (mine, mine_lane) = lane::<MineWrites>(tables, MINE_TABLES, GATHERED, None);
    let (chain, chain_lane) = lane::<ChainWrites>(tables, CHAIN_TABLES, GATHERED, None);
    let lanes = Lanes {
        rows,
        comments,
        stats,
        mine,
        chain,
        rows_progress,
    };
    let folded = fold_all(clock, tables, batches, lanes, held).await;
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
    rows: LaneSender<HeldRows>,
    comments: LaneSender<NewComments>,
    stats: LaneSender<StatWrites>,
    mine: LaneSender<MineWrites>,
    chain: LaneSender<ChainWrites>,
    /// The last position whose batch's rows are written.
    rows_progress: watch::Receiver<i64>,
}

/// A row the fold holds, and what the copy holds of its ticket.
struct Held {
    row: ViewRow,
    /// The ticket's `my_tickets` rows as the copy has them; `None` before its row's first
    /// write (the copy holds nothing of the ticket).
    stored_mine: Option<Vec<MyTicket>>,
    /// Whether its title or description changed since its row was last written.
    new_text: bool,
}

/// Rows the fold let go, to be written: the rows lane's part.
#[derive(Debug, Default)]
struct HeldRows {
    /// Rows written before, replaced.
    rows: RowWrites,
    mine: MyTicketsDelta,
    /// Rows never written (most of them: a ticket is rarely let go twice).
    new: NewRows,
}

impl HeldRows {
    fn add(&mut self, id: Uuid, held: Held) {
        let Some(stored_mine) = held.stored_mine else {
            return self.new.push(held.row);
        };
        self.mine.replace_rows(&stored_mine, &held.row.mine());
        if held.new_text {
            self.rows.new_text.insert(id);
        }
        self.rows.rows.insert(id, held.row);
    }

    fn len(&self) -> usize {
        self.rows.rows.len() + self.new.len()
    }
}

#[async_trait::async_trait]
impl Part for HeldRows {
    /// (A row let go twice is in two parts that are never merged: the second time it was read
    /// back after the first was written.)
    fn merge(&mut self, later: Self) {
        self.rows.merge(later.rows);
        self.mine.merge(later.mine);
        self.new.merge(later.new);
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.new.write(conn).await?;
        self.rows.write(conn).await?;
        self.mine.write(conn).await
    }
}

/// Folds every batch and sends its parts to the lanes, then every row still held; returns
/// early, with what it did, when a lane has stopped (failed).
async fn fold_all(
    clock: &dyn BusinessClock,
    tables: &ShadowTables,
    mut batches: Batches,
    mut lanes: Lanes,
    most: usize,
) -> Result<(i64, i64), sqlx::Error> {
    let mut held: LruCache<Uuid, Held> =
        LruCache::new(NonZeroUsize::new(most).unwrap_or(NonZeroUsize::MIN));
    // The last batch that let rows go: a row not held is in the copy once the rows lane has
    // written it.
    let mut evicted_through = 0;
    // Every comment id sent: the copy holds the first comment of an id, as the live
    // projector keeps it.
    let mut comments_sent = foldhash::HashSet::default();
    let (mut events, mut position) = (0, 0);
    while let Some(batch) = batches.recv().await {
        let Some(last) = batch.last().map(|e| e.position) else {
            continue;
        };
        // Nothing but this fold writes the copy, so a held row is the ticket's newest,
        // whatever its version; a ticket neither held nor created here was let go before.
        let created: HashSet<Uuid> = batch
            .iter()
            .filter(|e| matches!(e.event, TicketEvent::Created(_)))
            .filter_map(ticket_id)
            .collect();
        let touched: HashSet<Uuid> = batch.iter().filter_map(ticket_id).collect();
        let mut rows = HashMap::with_capacity(touched.len());
        let mut stored = HashMap::with_capacity(touched.len());
        let mut missing = Vec::new();
        for id in touched {
            match held.pop(&id) {
                Some(h) => {
                    stored.insert(id, (h.stored_mine, h.new_text));
                    rows.insert(id, h.row);
                }
                None if created.contains(&id) => {}
                None => missing.push(id),
            }
        }
        if !missing.is_empty() {
            if lanes
                .rows_progress
                .wait_for(|written| *written >= evicted_through)
                .await
                .is_err()
            {
                break;
            }
            let mut tx = tables.begin().await?;
            for (id, row) in read_rows(&mut tx, &missing).await? {
                stored.insert(id, (Some(row.mine()), false));
                rows.insert(id, row);
            }
            tx.commit().await?;
        }
        let calendars = clock.current().await;
        let mut writes = fold_batch(&mut rows, &batch, calendars.as_ref());
        let mut evicted = HeldRows::default();
        let changed = writes.rows.rows.drain().map(|(id, row)| {
            let new_text = writes.rows.new_text.contains(&id);
            (id, row, new_text)
        });
        // Rows the batch left as they were go back as they came.
        let unchanged = rows.drain().map(|(id, row)| (id, row, false));
        for (id, row, new_text) in changed.chain(unchanged) {
            let (stored_mine, had_new_text) = stored.remove(&id).unwrap_or_default();
            let entry = Held {
                row,
                stored_mine,
                new_text: new_text || had_new_text,
            };
            // (Never this ticket's own entry: it was taken out above.)
            if let Some((gone, entry)) = held.push(id, entry) {
                evicted.add(gone, entry);
            }
        }
        if evicted.len() > 0 {
            evicted_through = last;
        }
        // Only the users' counts go to their lane: their rows are written with the ticket's
        // row when it is let go (`HeldRows::add`), so the batch's row changes are dropped.
        let mine = MineWrites {
            mine: writes.mine.mine.take_counts(),
            tags: writes.mine.tags,
        };
        let mut comments = writes.comments.0;
        comments.retain(|c| comments_sent.insert(c.comment_id()));
        let sent = lanes.rows.send((last, evicted)).await.is_ok()
            && lanes
                .comments
                .send((last, NewComments(comments)))
                .await
                .is_ok()
            && lanes.stats.send((last, writes.stats)).await.is_ok()
            && lanes.mine.send((last, mine)).await.is_ok()
            && lanes.chain.send((last, writes.chain)).await.is_ok();
        if !sent {
            return Ok((events, position));
        }
        events += batch.len() as i64;
        position = last;
    }
    // Every row still held is written, a part at a time.
    let mut part = HeldRows::default();
    while let Some((id, entry)) = held.pop_lru() {
        part.add(id, entry);
        if part.len() >= FLUSHED || held.is_empty() {
            let full = std::mem::take(&mut part);
            if lanes.rows.send((position, full)).await.is_err() {
                break;
            }
        }
    }
    Ok((events, position))
}

/// Where the fold sends a lane's parts, each tagged with its batch's last position.
type LaneSender<P> = mpsc::Sender<(i64, P)>;

/// A lane's task: its first error, if it failed.
type LaneTask = JoinHandle<Result<(), sqlx::Error>>;

/// A lane: writes each part it receives merged with the next ones, at least `gather` of them
/// (or all that are left) and what else has queued by then, in a transaction of its own, but
/// their sums ([`Part::take_sums`]) once, after the last, then tells its tables (`writes`)
/// filled; `written` follows the last position of the batches written.
fn lane<P: Part>(
    tables: &ShadowTables,
    writes: &'static [&'static str],
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
        sums.write_sums(&tables).await?;
        for table in writes {
            tables.filled(table);
        }
        Ok(())
    });
    (sender, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lanes_write_every_table_of_the_ticket_view_once() {
        let mut written: Vec<&str> = [
            ROWS_TABLES,
            COMMENTS_TABLES,
            STATS_TABLES,
            MINE_TABLES,
            CHAIN_TABLES,
        ]
        .concat();
        written.sort_unstable();
        let mut tables = super::super::projector::TABLES.to_vec();
        tables.sort_unstable();
        assert_eq!(written, tables);
    }
}
