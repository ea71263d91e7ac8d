//! The sequencer: gives committed events their dense global `position`.
//!
//! A `bigserial` is taken when a row is inserted, not when it commits, so a reader following it
//! could pass a row whose transaction commits late. Instead each event row carries the id of its
//! writing transaction (`xid8`), and the sequencer numbers only rows whose transaction id is below
//! the oldest transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`): no
//! transaction that could still add a row before them is in flight, so numbering them in
//! `(transaction_id, insertion_id)` order never has to put a later commit in front of a number
//! already handed out. Positions are `max(position) + row_number`, so they are dense.
//!
//! Any number of engine instances run this loop; a transaction-scoped advisory lock makes the
//! batches one at a time, so whichever instance holds it does the work and the rest stand by.
//! The batch and its `pg_notify('ticketd_events_positioned', <head>)` commit together.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::listen::{listen, sleep_or_cancel, Wake};

/// Advisory lock key of the sequencer (ASCII "tktdseq1"); advisory locks are per database.
pub const SEQUENCER_LOCK: i64 = 0x746b_7464_7365_7131;
/// Channel the event store's insert trigger notifies on commit.
pub const INSERTED_CHANNEL: &str = "ticketd_events_inserted";
/// Channel the sequencer notifies, with the new head position as payload.
pub const POSITIONED_CHANNEL: &str = "ticketd_events_positioned";

/// How the sequencer paces itself.
#[derive(Debug, Clone)]
pub struct SequencerOptions {
    /// Most rows positioned per transaction.
    pub batch_size: i64,
    /// Poll when nothing was notified (a notification can be lost while reconnecting).
    pub idle_poll: Duration,
    /// First retry delay while committed rows wait for an older transaction to finish.
    pub held_back_retry: Duration,
    /// Longest retry delay while rows are held back (a long transaction elsewhere).
    pub held_back_max: Duration,
}

impl Default for SequencerOptions {
    fn default() -> Self {
        Self {
            batch_size: 5000,
            idle_poll: Duration::from_millis(250),
            held_back_retry: Duration::from_millis(5),
            held_back_max: Duration::from_millis(50),
        }
    }
}

/// What one sequencing transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Batch {
    /// Rows given a position.
    pub positioned: i64,
    /// The highest position after the batch.
    pub head: i64,
    /// The batch was as large as allowed: more rows are probably waiting.
    pub full: bool,
    /// Committed rows remain without a position because an older transaction is still running.
    pub held_back: bool,
    /// Another session holds the sequencer lock; nothing was done.
    pub busy: bool,
}

/// Positions up to `limit` committed rows in one transaction.
pub async fn sequence_batch(pool: &PgPool, limit: i64) -> Result<Batch, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SEQUENCER_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        tx.rollback().await?;
        return Ok(Batch {
            busy: true,
            ..Batch::default()
        });
    }
    // One statement, one snapshot: `max(position)` and the xmin horizon are read from the same
    // snapshot the UPDATE works on, taken after the lock (so the previous holder's batch is
    // visible). Rows of transactions still in flight are invisible here and below the horizon
    // only once they have finished.
    let (positioned, head): (i64, i64) = sqlx::query_as(
        "WITH base AS (
             SELECT coalesce(max(position), 0) AS head FROM events
         ),
         pending AS (
             SELECT aggregate_type, aggregate_id, sequence, transaction_id, insertion_id
             FROM events
             WHERE position IS NULL
               AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY transaction_id, insertion_id
             LIMIT $1
         ),
         numbered AS (
             SELECT pending.*,
                    base.head + row_number() OVER (ORDER BY transaction_id, insertion_id) AS pos
             FROM pending, base
         ),
         updated AS (
             UPDATE events e SET position = numbered.pos
             FROM numbered
             WHERE e.aggregate_type = numbered.aggregate_type
               AND e.aggregate_id = numbered.aggregate_id
               AND e.sequence = numbered.sequence
             RETURNING e.position
         )
         SELECT count(*)::bigint, coalesce(max(updated.position), (SELECT head FROM base))::bigint
         FROM updated",
    )
    .bind(limit)
    .fetch_one(&mut *tx)
    .await?;
    let held_back: bool = if positioned < limit {
        // Rows this snapshot sees without a position (other than the ones just numbered, which
        // it sees as numbered) are committed but above the horizon.
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL)")
            .fetch_one(&mut *tx)
            .await?
    } else {
        false
    };
    if positioned > 0 {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(POSITIONED_CHANNEL)
            .bind(head.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if positioned > 0 {
        metrics::counter!("ticketd_events_positioned_total").increment(positioned as u64);
        metrics::gauge!("ticketd_event_store_head").set(head as f64);
    }
    Ok(Batch {
        positioned,
        head,
        full: positioned >= limit,
        held_back,
        busy: false,
    })
}

/// Runs the sequencer until `shutdown`: wakes on insert notifications, polls as a fallback,
/// and retries with backoff while the database is unreachable.
pub async fn run(pool: PgPool, options: SequencerOptions, shutdown: CancellationToken) {
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let listener = {
        let wake = wake.clone();
        tokio::spawn(listen(
            pool.clone(),
            INSERTED_CHANNEL,
            shutdown.clone(),
            move |_: Wake| wake.notify_one(),
        ))
    };
    tracing::info!("sequencer started");
    let mut failures: u32 = 0;
    let mut held_delay = options.held_back_retry;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let next_wait = match sequence_batch(&pool, options.batch_size).await {
            Ok(batch) => {
                if failures > 0 {
                    tracing::info!("sequencer recovered");
                }
                failures = 0;
                if batch.positioned > 0 {
                    tracing::trace!(
                        positioned = batch.positioned,
                        head = batch.head,
                        "events positioned"
                    );
                }
                if batch.full {
                    held_delay = options.held_back_retry;
                    Duration::ZERO
                } else if batch.held_back {
                    // Committed rows wait for an older transaction (usually a writer that is
                    // about to commit): look again soon, backing off if it stays open.
                    let delay = held_delay;
                    held_delay = (held_delay * 2).min(options.held_back_max);
                    delay
                } else if batch.busy {
                    // Another instance is sequencing; stand by, and take over if it dies.
                    options.idle_poll
                } else {
                    held_delay = options.held_back_retry;
                    options.idle_poll
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let delay = Duration::from_millis(100)
                    .saturating_mul(2_u32.saturating_pow(failures.min(6)))
                    .min(Duration::from_secs(5));
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "sequencer batch failed");
                // Back off fully: a notification must not turn a persistent failure into a
                // busy loop.
                if sleep_or_cancel(delay, &shutdown).await {
                    break;
                }
                continue;
            }
        };
        if next_wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.notified() => {},
            () = tokio::time::sleep(next_wait) => {},
        }
    }
    // The listener stops on the same token.
    let _ = listener.await;
    tracing::info!("sequencer stopped");
}

/// Positions everything committed so far (for tools and tests): loops until no row is left that
/// can be positioned now. Returns the head.
pub async fn catch_up(pool: &PgPool, shutdown: &CancellationToken) -> Result<i64, sqlx::Error> {
    let options = SequencerOptions::default();
    loop {
        let batch = sequence_batch(pool, options.batch_size).await?;
        if !batch.full && !batch.busy && !batch.held_back {
            return Ok(batch.head);
        }
        if !batch.full && sleep_or_cancel(options.held_back_retry, shutdown).await {
            return Ok(batch.head);
        }
    }
}
