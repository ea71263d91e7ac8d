//! The sequencer: gives committed events their dense global `position`.
//!
//! A `bigserial` is taken when a row is inserted, not when it commits, so a reader following it
//! could pass a row whose transaction commits late. Instead positions are given after commit:
//! the sequencer numbers the rows its snapshot shows without a position (only committed rows
//! are visible to it), `max(position) + row_number` in `(transaction_id, insertion_id)` order,
//! and commits the numbers in one statement. Rows still in flight are invisible and get later
//! numbers once they commit; nothing waits for them, and no other transaction in the cluster
//! (another database's, an idle session's) can hold positions back. Each ticket's events still
//! get positions in sequence order, because a ticket's next event is only ever written after its
//! previous one committed (`docs/adr/0001-positions-after-commit.md` gives the argument).
//!
//! Any number of engine instances run this loop; the one holding a session-level advisory lock
//! on a dedicated connection does the work and the rest stand by (see [`run`]). Each batch is
//! one statement, committed with its `pg_notify('ticketd_events_positioned', <head>)`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::connection::{lead, Dedicated};
pub use crate::listen::{INSERTED_CHANNEL, POSITIONED_CHANNEL};

use crate::listen::{sleep_or_cancel, Notifications, Wakeups};

/// Advisory lock key of the sequencer (ASCII "tktdseq1"); advisory locks are per database.
pub const SEQUENCER_LOCK: i64 = 0x746b_7464_7365_7131;

/// Tells the sequencer that events were committed: in-process when this instance's sequencer
/// leads, else by a `NOTIFY` on [`INSERTED_CHANNEL`] sent after the commit, from its own
/// statement, for the leader of another instance.
///
/// Not from the writing transaction: committing a transaction that notified holds a
/// database-wide lock until the commit is durable, which would make every writer's commit wait
/// for the previous one's flush. A statement that writes nothing commits without a flush.
/// Announcements made while one is being sent are folded into the next one.
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    wake: Arc<Notify>,
    /// This process's notifications, to wake its own sequencer without a round trip.
    local: Option<Notifications>,
}

impl Announcer {
    /// An announcer that wakes this process's sequencer (which follows `notifications`)
    /// in-process, and the other instances' by `NOTIFY` only when it does not lead.
    pub fn new(notifications: &Notifications) -> Self {
        Self {
            wake: Arc::default(),
            local: Some(notifications.clone()),
        }
    }

    /// Asks for an announcement; returns at once.
    pub fn announce(&self) {
        if self
            .local
            .as_ref()
            .is_some_and(Notifications::committed_here)
        {
            return;
        }
        self.wake.notify_one();
    }

    /// Sends the announcements until `shutdown`. A failed one is dropped: the sequencer polls.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        let mut conn = Dedicated::new(pool);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
            }
            let sent = conn
                .run(async |conn| {
                    sqlx::query("SELECT pg_notify($1, '')")
                        .bind(INSERTED_CHANNEL)
                        .execute(conn)
                        .await
                })
                .await;
            if let Err(error) = sent {
                tracing::debug!(%error, "cannot announce committed events; the sequencer will poll");
            }
        }
    }
}

/// How the sequencer paces itself.
#[derive(Debug, Clone)]
pub struct SequencerOptions {
    /// Most rows positioned per transaction.
    pub batch_size: i64,
    /// Poll when nothing was notified (a notification can be lost while reconnecting).
    pub idle_poll: Duration,
}

impl Default for SequencerOptions {
    fn default() -> Self {
        Self {
            batch_size: 5000,
            idle_poll: Duration::from_millis(250),
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
    /// Another session holds the sequencer lock; nothing was done.
    pub busy: bool,
}

/// One batch, as one statement. Its snapshot gives `max(position)` and the rows to number, and
/// is taken after the previous batch committed (the caller holds the sequencer lock, and the
/// batch before ran on the same connection or under the same lock), so the numbers continue
/// the committed ones. The notification goes out when the statement's transaction commits.
const SEQUENCE: &str = "
    WITH base AS (
        SELECT coalesce(max(position), 0) AS head FROM events
    ),
    pending AS (
        SELECT aggregate_type, aggregate_id, sequence, transaction_id, insertion_id
        FROM events
        WHERE position IS NULL
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
    ),
    result AS (
        SELECT count(*)::bigint AS positioned,
               coalesce(max(updated.position), (SELECT head FROM base))::bigint AS head
        FROM updated
    )
    SELECT result.positioned, result.head
    FROM result
    LEFT JOIN LATERAL (SELECT pg_notify($2, result.head::text) WHERE result.positioned > 0) n
        ON true";

/// Runs one batch on `conn`, whose session (or transaction) holds the sequencer lock.
async fn sequence_on(conn: &mut PgConnection, limit: i64) -> Result<Batch, sqlx::Error> {
    let (positioned, head): (i64, i64) = sqlx::query_as(SEQUENCE)
        .bind(limit)
        .bind(POSITIONED_CHANNEL)
        .fetch_one(conn)
        .await?;
    if positioned > 0 {
        metrics::counter!("ticketd_events_positioned_total").increment(positioned as u64);
        metrics::gauge!("ticketd_event_store_head").set(head as f64);
    }
    Ok(Batch {
        positioned,
        head,
        full: positioned >= limit,
        busy: false,
    })
}

/// Positions up to `limit` committed rows in one transaction, unless another session holds the
/// sequencer lock (then nothing is done and the batch says `busy`).
pub async fn sequence_batch(pool: &PgPool, limit: i64) -> Result<Batch, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Transaction- and session-level advisory locks on one key exclude each other, so this
    // also waits its turn behind a running sequencer.
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
    let batch = sequence_on(&mut tx, limit).await?;
    tx.commit().await?;
    Ok(batch)
}

/// Runs the sequencer until `shutdown`. Every instance runs this; the one holding the session
/// lock on a dedicated connection positions events, one autocommit statement per batch (a round
/// trip and a commit, holding no transaction id between batches); the others stand by and try
/// to take over every `idle_poll`. The leader wakes on insert notifications (in-process for this
/// instance's commits, see [`Announcer`]) and polls as a fallback; a failing connection makes it
/// step down and back off.
pub async fn run(
    pool: PgPool,
    options: SequencerOptions,
    notifications: Notifications,
    shutdown: CancellationToken,
) {
    let mut inserted = notifications.inserted();
    tracing::info!("sequencer started");
    let mut failures: u32 = 0;
    loop {
        let led = tokio::select! {
            () = shutdown.cancelled() => break,
            led = lead(&pool, SEQUENCER_LOCK) => led,
        };
        let error = match led {
            Ok(Some(mut conn)) => {
                if failures > 0 {
                    tracing::info!("sequencer recovered");
                }
                failures = 0;
                tracing::debug!("sequencing (leader)");
                notifications.set_sequencing_here(true);
                let result = lead_until(
                    &mut conn,
                    &options,
                    &notifications,
                    &mut inserted,
                    &shutdown,
                )
                .await;
                // Before the lock goes: from here on, commits are announced to every instance.
                notifications.set_sequencing_here(false);
                // Closing the connection releases the lock at once.
                let _ = sqlx::Connection::close(conn).await;
                match result {
                    Ok(()) => break,
                    Err(error) => error,
                }
            }
            // Another instance sequences: stand by, to take over if it dies.
            Ok(None) => {
                if sleep_or_cancel(options.idle_poll, &shutdown).await {
                    break;
                }
                continue;
            }
            Err(error) => error,
        };
        failures = failures.saturating_add(1);
        let delay = Duration::from_millis(100)
            .saturating_mul(2_u32.saturating_pow(failures.min(6)))
            .min(Duration::from_secs(5));
        tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "sequencer batch failed");
        // Back off fully: a notification must not turn a persistent failure into a busy loop.
        if sleep_or_cancel(delay, &shutdown).await {
            break;
        }
    }
    tracing::info!("sequencer stopped");
}

/// Sequences on the leader's connection until `shutdown` (`Ok`) or a database error.
async fn lead_until(
    conn: &mut PgConnection,
    options: &SequencerOptions,
    notifications: &Notifications,
    inserted: &mut Wakeups,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        // Whatever is notified from here on is covered by this batch or wakes the next.
        inserted.mark_seen();
        let batch = sequence_on(conn, options.batch_size).await?;
        if batch.positioned > 0 {
            // The statement committed: this process's followers may read the batch now; the
            // other instances hear of it from the statement's `NOTIFY`.
            notifications.positioned_here(batch.head);
            tracing::trace!(
                positioned = batch.positioned,
                head = batch.head,
                "events positioned"
            );
        }
        if batch.full {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = inserted.next() => {},
            () = tokio::time::sleep(options.idle_poll) => {},
        }
    }
}
