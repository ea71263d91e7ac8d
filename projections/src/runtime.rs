//! The projection runtime: each read model applies batches of events in position order, with
//! its checkpoint moved in the same transaction (exactly once).
//!
//! One step of a projector is one transaction: take the projector's advisory lock, read its
//! checkpoint in `projection_checkpoints` and the next positioned events after it, `apply` them,
//! move the checkpoint, commit. A crash or a failing `apply` rolls the whole step back, so an
//! event is applied exactly once and never skipped; any number of engine instances may run a
//! [`Runner`], the lock makes their steps take turns.
//!
//! Projectors wake on the sequencer's `ticketd_events_positioned` notification (one shared
//! listener for all of them, and in-process from this instance's sequencer) and poll as a
//! fallback. A woken projector steps at once; whatever is positioned while a step runs is taken
//! by the next step, so steps are single events when idle and grow with the load, with no
//! delay spent waiting for a batch to fill. [`Runner::wait_for`] lets a query wait until the
//! read models have applied a position (read-your-writes): it is woken by the end of the step
//! that applied it.
//!
//! [`crate::rebuild`] recomputes read models aside and swaps them in without stopping the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::{PgDatabaseError, PgSeverity};
use sqlx::{Connection, PgConnection, PgPool};
use ticket_nats::backoff::Backoff;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connection::Dedicated;
use crate::listen::{sleep_or_cancel, Notifications, Pace, Wake, TURN_GAP};
use crate::shadow::{Batches, ShadowTables};
use crate::stored::{head_position, read_for_read_models, StoredEvent};

/// A read model fed from the event store.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// A stable name, e.g. `ticket_view`; keys its checkpoint.
    fn name(&self) -> &'static str;

    /// The tables this read model owns (rebuilt aside, then swapped in).
    fn tables(&self) -> &'static [&'static str];

    /// Applies a batch of events, in position order, inside the runner's transaction. SQL must
    /// use unqualified table names: a rebuild points `search_path` at a shadow schema.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        batch: &[StoredEvent],
    ) -> Result<(), sqlx::Error>;

    /// Forgets any rows kept in memory between steps. The runner calls it, under the
    /// projection's lock, when the checkpoint's generation moved: something other than the
    /// events (the SLA configuration, see [`crate::read_models::tickets::due_times`], or a
    /// rebuild's swap) changed stored rows, on this instance or another (see
    /// [`rows_changed_without_events`]).
    fn forget_cached_rows(&self) {}

    /// Fills a rebuild's copy of the tables with every batch of `batches`; returns (events
    /// applied, the last position). Nobody reads the copy until the swap, so a projection may
    /// write it in any number of transactions, side by side, as long as the copy ends as
    /// applying the batches in order would leave it. By default each batch is applied in its
    /// own transaction.
    async fn fill(
        &self,
        tables: &ShadowTables,
        mut batches: Batches,
    ) -> Result<(i64, i64), sqlx::Error> {
        let (mut events, mut position) = (0, 0);
        while let Some(batch) = batches.recv().await {
            let mut tx = tables.begin().await?;
            self.apply(&mut tx, &batch).await?;
            tx.commit().await?;
            events += batch.len() as i64;
            position = batch.last().map_or(position, |e| e.position);
        }
        Ok((events, position))
    }
}

/// Why the runtime could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The database failed or is unreachable.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// No registered projection has this name.
    #[error("no projection named '{0}'")]
    UnknownProjection(String),
    /// A projection or table name is not a plain lowercase SQL identifier.
    #[error("'{0}' is not a plain lowercase identifier (a-z, 0-9, _)")]
    InvalidName(String),
}

/// How a [`Runner`] paces itself.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most events applied per transaction.
    pub batch_size: i64,
    /// Poll when no notification came (one can be lost while the listener reconnects, and
    /// another instance may move a checkpoint).
    pub poll_interval: Duration,
    /// Least time between the starts of two steps (see [`Pace`]).
    pub min_gap: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            min_gap: TURN_GAP,
        }
    }
}

/// A projector's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: &'static str,
    /// The last position it applied.
    pub position: i64,
    /// `head - position`.
    pub lag: i64,
}

/// How many times in a row one event may fail before its projector is reported as stalled.
///
/// "Again and again" means: the projector has isolated the event (after a batch fails, it
/// applies one event per step until it is past that batch, so that a failure names one
/// event), and that one event then failed `STALL_AFTER` consecutive steps, each with an error
/// that [`is_outage`] does not excuse: a statement Postgres refused (a value it cannot hold, a
/// constraint, a trigger), an event that cannot be read or typed. An outage (the connection
/// lost, Postgres shutting down, a deadlock or serialization failure, exhausted resources)
/// neither counts nor resets the count: it says nothing about the event. With the backoff
/// below (100 ms, doubling), a projector is reported within about a second of its first
/// failure on the event.
///
/// A stalled projector keeps retrying with backoff and never skips the event (a read model that
/// skipped one would be silently wrong, and the fix, e.g. an upgrade, must find it there);
/// the first step that succeeds clears the report. The other projectors run in tasks of their
/// own and go on.
pub const STALL_AFTER: u32 = 3;

/// A projector stuck on one event (see [`STALL_AFTER`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stall {
    /// The projection's name.
    pub projection: &'static str,
    /// The event it cannot apply (`<ticket id>:<sequence>`).
    pub event_id: String,
    /// That event's position.
    pub position: i64,
    /// The latest error.
    pub error: String,
    /// Consecutive failures on the event so far.
    pub attempts: u32,
    /// When the projector was first reported stalled on it.
    pub since: DateTime<Utc>,
}

/// Whether a failed step says nothing about its events: the database was unreachable, ended
/// the session, or refused for a reason that passes (see [`STALL_AFTER`]).
pub fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let fatal = db
                .try_downcast_ref::<PgDatabaseError>()
                .is_some_and(|e| matches!(e.severity(), PgSeverity::Fatal | PgSeverity::Panic));
            // 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 operator
            // intervention (shutdown, cancel), 58 system (I/O); 55P03 lock not available,
            // 25P03 idle-in-transaction timeout.
            fatal
                || db.code().is_some_and(|code| {
                    ["08", "40", "53", "57", "58"]
                        .iter()
                        .any(|class| code.starts_with(class))
                        || code == "55P03"
                        || code == "25P03"
                })
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// The events a step was about to apply, known as soon as its checkpoint is.
#[derive(Debug, Clone)]
struct Attempt {
    /// Position of the first event of the batch.
    first: i64,
    /// Position of the last one (an upper bound until the batch is read).
    last: i64,
    /// Id of the first event, once read.
    event_id: Option<String>,
}

/// Runs projections and tells how far they are. Cheap to share (`Arc<Runner>`).
pub struct Runner {
    pool: PgPool,
    projections: Vec<Arc<dyn Projection>>,
    options: RunnerOptions,
    /// The highest position known to be assigned.
    head: watch::Sender<i64>,
    /// Each projection's applied position, in registration order.
    positions: watch::Sender<Vec<i64>>,
    /// Each projection's stall, if it is stuck on an event, in registration order.
    stalls: std::sync::Mutex<Vec<Option<Stall>>>,
    /// The checkpoint generation each projection's cached rows belong to, in registration
    /// order (`None` before its first step).
    generations: std::sync::Mutex<Vec<Option<i64>>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("status", &self.status())
            .field("head", &self.head())
            .finish()
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The pause after the `failures`-th failure in a row: 100 ms, doubling, up to 10 s.
fn backoff(failures: u32) -> Duration {
    Backoff::nth(
        Duration::from_millis(100),
        MAX_BACKOFF,
        failures.saturating_sub(1),
    )
}

impl Runner {
    /// A runner for `projections` with default pacing. Nothing runs until [`Runner::start`].
    pub fn new(pool: PgPool, projections: Vec<Arc<dyn Projection>>) -> Arc<Self> {
        Self::with_options(pool, projections, RunnerOptions::default())
    }

    /// A runner with explicit pacing.
    pub fn with_options(
        pool: PgPool,
        projections: Vec<Arc<dyn Projection>>,
        options: RunnerOptions,
    ) -> Arc<Self> {
        let n = projections.len();
        Arc::new(Self {
            pool,
            projections,
            options: RunnerOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            head: watch::Sender::new(0),
            positions: watch::Sender::new(vec![0; n]),
            stalls: std::sync::Mutex::new(vec![None; n]),
            generations: std::sync::Mutex::new(vec![None; n]),
        })
    }

    /// The registered projections.
    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    /// The highest assigned position this runner knows of.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// The position every registered read model has applied (the lowest of them); the head
    /// when none is registered.
    pub fn position(&self) -> i64 {
        self.positions
            .borrow()
            .iter()
            .copied()
            .min()
            .unwrap_or_else(|| self.head())
    }

    /// One projection's applied position.
    pub fn position_of(&self, name: &str) -> Option<i64> {
        let index = self.index_of(name)?;
        self.positions.borrow().get(index).copied()
    }

    /// Every projection's position and lag.
    pub fn status(&self) -> Vec<ProjectionStatus> {
        let head = self.head();
        let positions = self.positions.borrow();
        self.projections
            .iter()
            .zip(positions.iter())
            .map(|(p, &position)| ProjectionStatus {
                name: p.name(),
                position,
                lag: (head - position).max(0),
            })
            .collect()
    }

    /// The projectors stuck on an event (see [`STALL_AFTER`]); empty when all move.
    pub fn stalled(&self) -> Vec<Stall> {
        self.stalls_lock().iter().flatten().cloned().collect()
    }

    fn stalls_lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Stall>>> {
        // Entries are replaced whole: a panic elsewhere cannot leave one half-written.
        self.stalls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that projection `index` failed `attempts` times in a row on the event of
    /// `attempt`, and reports it the first time.
    async fn report_stall(
        &self,
        index: usize,
        attempt: &Attempt,
        error: &sqlx::Error,
        attempts: u32,
    ) {
        let name = self.projections[index].name();
        let event_id = match &attempt.event_id {
            Some(id) => id.clone(),
            // The event could not even be read: name it from its row.
            None => sqlx::query_scalar::<_, String>(
                "SELECT aggregate_id || ':' || sequence FROM events WHERE position = $1",
            )
            .bind(attempt.first)
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| format!("at position {}", attempt.first)),
        };
        let first_report = {
            let mut stalls = self.stalls_lock();
            let Some(slot) = stalls.get_mut(index) else {
                return;
            };
            let since = match slot {
                Some(stall) if stall.position == attempt.first => stall.since,
                _ => Utc::now(),
            };
            let first_report = slot.is_none();
            *slot = Some(Stall {
                projection: name,
                event_id: event_id.clone(),
                position: attempt.first,
                error: error.to_string(),
                attempts,
                since,
            });
            first_report
        };
        metrics::gauge!("ticketd_projection_stalled", "projection" => name).set(1.0);
        if first_report {
            tracing::error!(projection = name, event_id = %event_id, position = attempt.first,
                %error, attempts, "projection stalled: it fails on this event again and again");
        }
    }

    /// Makes projection `index` forget its cached rows unless they belong to `generation`
    /// (called under its lock, before it applies anything).
    fn follow_generation(&self, index: usize, generation: i64) {
        // Entries are replaced whole: a panic elsewhere cannot leave one half-written.
        let mut generations = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        let Some(known) = generations.get_mut(index) else {
            return;
        };
        if *known != Some(generation) {
            self.projections[index].forget_cached_rows();
            *known = Some(generation);
        }
    }

    /// Clears projection `index`'s stall once it applies again.
    fn clear_stall(&self, index: usize) {
        let cleared = self.stalls_lock().get_mut(index).and_then(Option::take);
        if let Some(stall) = cleared {
            metrics::gauge!("ticketd_projection_stalled", "projection" => stall.projection)
                .set(0.0);
            tracing::info!(projection = stall.projection, event_id = %stall.event_id,
                "projection no longer stalled: the event applied");
        }
    }

    /// Follows the applied positions (registration order), e.g. to push updates.
    pub fn subscribe_positions(&self) -> watch::Receiver<Vec<i64>> {
        self.positions.subscribe()
    }

    /// Follows the head position.
    pub fn subscribe_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Waits until `projection` (or, with `None`, every registered projection) has applied
    /// `position`, for at most `timeout`. True when reached; false on timeout or for an
    /// unknown name.
    pub async fn wait_for(
        &self,
        projection: Option<&str>,
        position: i64,
        timeout: Duration,
    ) -> bool {
        let index = match projection {
            Some(name) => match self.index_of(name) {
                Some(i) => Some(i),
                None => return false,
            },
            None => None,
        };
        let reached = move |positions: &Vec<i64>| match index {
            Some(i) => positions.get(i).is_some_and(|p| *p >= position),
            None => positions.iter().all(|p| *p >= position),
        };
        let mut rx = self.positions.subscribe();
        let outcome = tokio::time::timeout(timeout, rx.wait_for(reached))
            .await
            .is_ok_and(|r| r.is_ok());
        outcome
    }

    /// Waits until the event store's head reaches `position` (the event at that position has
    /// been sequenced), for at most `timeout`.
    pub async fn wait_for_head(&self, position: i64, timeout: Duration) -> bool {
        if self.head() >= position {
            return true;
        }
        // The head this runner knows may lag behind if a notification was missed: ask once.
        if let Ok(head) = head_position(&self.pool).await {
            self.observe_head(head);
        }
        let mut rx = self.head.subscribe();
        let outcome = tokio::time::timeout(timeout, rx.wait_for(|h| *h >= position))
            .await
            .is_ok_and(|r| r.is_ok());
        outcome
    }

    /// Reads every checkpoint and the head from the database (e.g. before serving).
    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        let head = head_position(&self.pool).await?;
        self.observe_head(head);
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, position FROM projection_checkpoints")
                .fetch_all(&self.pool)
                .await?;
        for (name, position) in rows {
            if let Some(index) = self.index_of(&name) {
                self.publish(index, position);
            }
        }
        Ok(())
    }

    /// Runs one step of the named projection now: applies at most one batch. Returns how many
    /// events it applied.
    pub async fn step(&self, name: &str) -> Result<usize, RuntimeError> {
        let index = self
            .index_of(name)
            .ok_or_else(|| RuntimeError::UnknownProjection(name.to_string()))?;
        let mut conn = self.pool.acquire().await?;
        let mut attempt = None;
        Ok(self
            .step_at(index, &mut conn, self.options.batch_size, &mut attempt)
            .await?)
    }

    /// Starts the shared listener and one task per projection; they stop when `shutdown` is
    /// cancelled (a step in progress finishes or rolls back first). The handle completes when
    /// all have stopped.
    pub fn start(
        self: &Arc<Self>,
        notifications: &Notifications,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(runner.run(notifications.clone(), shutdown))
    }

    /// Runs until `shutdown` (see [`Runner::start`]).
    pub async fn run(self: Arc<Self>, notifications: Notifications, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(
            self.clone()
                .follow_positions(notifications, shutdown.clone()),
        );
        {
            let runner = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { runner.poll_head(shutdown).await });
        }
        for index in 0..self.projections.len() {
            let runner = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { runner.drive(index, shutdown).await });
        }
        tracing::info!(
            projections = ?self.projections.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "projection runner started"
        );
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "projection runner task ended abnormally");
            }
        }
        tracing::info!("projection runner stopped");
    }

    /// Follows the sequencer's notifications (the new head) until `shutdown`, waking the
    /// projectors. One of the loops [`Runner::run`] runs; public so that a supervisor can run
    /// (and restart) each loop on its own.
    pub async fn follow_positions(
        self: Arc<Self>,
        notifications: Notifications,
        shutdown: CancellationToken,
    ) {
        let mut positioned = notifications.positioned();
        loop {
            let wake = tokio::select! {
                () = shutdown.cancelled() => return,
                wake = positioned.next() => wake,
            };
            match wake {
                Wake::Notified(payload) => match payload.parse::<i64>() {
                    Ok(head) => self.observe_head(head),
                    Err(_) => self.kick(),
                },
                // Something may have been missed while disconnected: everyone looks.
                Wake::Reconnected => self.kick(),
            }
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.projections.iter().position(|p| p.name() == name)
    }

    /// Records a head seen in a notification or a query, and wakes the projectors.
    fn observe_head(&self, head: i64) {
        let moved = self.head.send_if_modified(|h| {
            if head > *h {
                *h = head;
                true
            } else {
                false
            }
        });
        if moved {
            self.update_lag_gauges();
        }
    }

    /// Wakes every projector without a new head.
    fn kick(&self) {
        self.head.send_modify(|_| {});
    }

    fn publish(&self, index: usize, position: i64) {
        self.positions
            .send_if_modified(|positions| match positions.get_mut(index) {
                Some(p) if *p != position => {
                    *p = position;
                    true
                }
                _ => false,
            });
        if let Some(projection) = self.projections.get(index) {
            let name = projection.name();
            metrics::gauge!("ticketd_projection_position", "projection" => name)
                .set(position as f64);
            metrics::gauge!("ticketd_projection_lag", "projection" => name)
                .set((self.head() - position).max(0) as f64);
        }
    }

    fn update_lag_gauges(&self) {
        for status in self.status() {
            metrics::gauge!("ticketd_projection_lag", "projection" => status.name)
                .set(status.lag as f64);
        }
    }

    /// Keeps the head fresh when notifications are lost and no projector reads it (one of the
    /// loops of [`Runner::run`]).
    pub async fn poll_head(&self, shutdown: CancellationToken) {
        loop {
            match head_position(&self.pool).await {
                Ok(head) => self.observe_head(head),
                Err(error) => tracing::debug!(%error, "cannot read the head position"),
            }
            if sleep_or_cancel(self.options.poll_interval, &shutdown).await {
                return;
            }
        }
    }

    /// The loop of the projector at `index` (registration order) until `shutdown` (one of the
    /// loops of [`Runner::run`]).
    pub async fn drive(&self, index: usize, shutdown: CancellationToken) {
        let name = self.projections[index].name();
        metrics::gauge!("ticketd_projection_stalled", "projection" => name).set(0.0);
        let mut head_rx = self.head.subscribe();
        let mut conn = Dedicated::without_flush_wait(self.pool.clone());
        let mut failures: u32 = 0;
        // After a batch failed: one event per step up to the batch's last position, so that a
        // failure names its event.
        let mut isolate_until: Option<i64> = None;
        // The isolated event that keeps failing, and how many times in a row it has.
        let mut failing: Option<(i64, u32)> = None;
        let mut pace = Pace::new(self.options.min_gap);
        loop {
            if pace.turn(&shutdown).await {
                return;
            }
            // Anything announced from here on wakes the wait below at once.
            head_rx.borrow_and_update();
            let limit = if isolate_until.is_some() {
                1
            } else {
                self.options.batch_size
            };
            let mut attempt = None;
            // Not raced against `shutdown`: a step is one short transaction, finished or
            // rolled back whole.
            let stepped = conn
                .run(async |conn| self.step_at(index, conn, limit, &mut attempt).await)
                .await;
            match stepped {
                Ok(applied) => {
                    if failures > 0 {
                        tracing::info!(projection = name, "projection recovered");
                    }
                    failures = 0;
                    failing = None;
                    self.clear_stall(index);
                    if isolate_until.is_some_and(|until| self.applied_by(index) >= until) {
                        isolate_until = None;
                    }
                    if applied as i64 >= limit {
                        tokio::task::yield_now().await;
                        continue;
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff(failures);
                    match attempt.filter(|_| !is_outage(&error)) {
                        Some(attempt) if limit > 1 => isolate_until = Some(attempt.last),
                        Some(attempt) => {
                            let times = match failing {
                                Some((position, times)) if position == attempt.first => times + 1,
                                _ => 1,
                            };
                            failing = Some((attempt.first, times));
                            if times >= STALL_AFTER {
                                self.report_stall(index, &attempt, &error, times).await;
                            }
                        }
                        None => {}
                    }
                    // The step rolled back: nothing of the batch was applied, the checkpoint
                    // did not move, and the same events are retried. A projection never skips.
                    tracing::error!(projection = name, %error, attempt = failures,
                        retry_in_ms = delay.as_millis() as u64, "projection batch failed; retrying");
                    if sleep_or_cancel(delay, &shutdown).await {
                        return;
                    }
                    continue;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                // At once: what is positioned during the step waits for the next one, which is
                // how steps grow under load.
                changed = head_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(self.options.poll_interval) => {}
            }
        }
    }

    /// The position projection `index` has applied, as last published.
    fn applied_by(&self, index: usize) -> i64 {
        self.positions.borrow().get(index).copied().unwrap_or(0)
    }

    /// One step: one transaction applying at most `limit` events. `attempt` names them as soon
    /// as they are known, for the caller to tell which event failed.
    async fn step_at(
        &self,
        index: usize,
        conn: &mut PgConnection,
        limit: i64,
        attempt: &mut Option<Attempt>,
    ) -> Result<usize, sqlx::Error> {
        let projection = &self.projections[index];
        let name = projection.name();
        // Look before locking, so that an idle step takes no lock and opens no transaction;
        // unless the known head is past what this projector applied (the usual wake-up), which
        // saves the look's round trip. A stale guess costs one empty transaction, nothing more:
        // the checkpoint read under the lock decides.
        if self.head() <= self.applied_by(index) {
            let (checkpoint, head): (Option<i64>, i64) = sqlx::query_as(
                "SELECT (SELECT position FROM projection_checkpoints WHERE name = $1),
                        (SELECT coalesce(max(position), 0)::bigint FROM events)",
            )
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
            self.observe_head(head);
            if let Some(checkpoint) = checkpoint {
                if checkpoint >= head {
                    self.publish(index, checkpoint);
                    return Ok(0);
                }
            }
        }
        let mut tx = conn.begin().await?;
        let Checkpoint {
            position: checkpoint,
            generation,
        } = lock_checkpoint(&mut tx, name).await?;
        self.follow_generation(index, generation);
        // Positions are dense: the batch is the next `limit` of them, or fewer.
        *attempt = Some(Attempt {
            first: checkpoint + 1,
            last: checkpoint.saturating_add(limit),
            event_id: None,
        });
        let read = read_for_read_models(&mut *tx, checkpoint, limit).await?;
        let (batch, read_count) = (read.events, read.read);
        let Some(last) = read.last else {
            tx.rollback().await?;
            self.publish(index, checkpoint);
            return Ok(0);
        };
        *attempt = Some(Attempt {
            first: checkpoint + 1,
            last,
            event_id: batch.first().map(|e| e.envelope.id.clone()),
        });
        let started = Instant::now();
        projection.apply(&mut tx, &batch).await?;
        save_checkpoint(&mut tx, name, last).await?;
        tx.commit().await?;
        // Per batch, commit included: what a batch costs the read side.
        metrics::histogram!("ticketd_projection_apply_seconds", "projection" => name)
            .record(started.elapsed().as_secs_f64());
        self.observe_head(last);
        self.publish(index, last);
        tracing::trace!(
            projection = name,
            applied = batch.len(),
            position = last,
            "batch applied"
        );
        // Events read, skipped ones included: a full read means more may follow at once.
        Ok(read_count)
    }
}

/// A projection's row in `projection_checkpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct Checkpoint {
    /// The last position applied.
    pub(crate) position: i64,
    /// How many times its stored rows changed without an event (see
    /// [`rows_changed_without_events`]).
    pub(crate) generation: i64,
}

/// Takes a projection's lock for the rest of the transaction and returns its checkpoint
/// (creating the row at 0 if missing).
///
/// The lock is a transaction-level advisory lock rather than `SELECT … FOR UPDATE`: locking a
/// row writes to it and so gives the transaction an id at once (and a dead row version per
/// step). With the advisory lock a step takes an id only when `apply` first writes, near the
/// end of the batch. Every writer of the
/// checkpoint (steps, the rebuild's swap) takes this lock first, so steps still take turns and
/// each reads the last committed checkpoint.
pub(crate) async fn lock_checkpoint(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Checkpoint, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(PROJECTION_LOCK_CLASS)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    const SELECT: &str = "SELECT position, generation FROM projection_checkpoints WHERE name = $1";
    if let Some(checkpoint) = sqlx::query_as(SELECT)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(checkpoint);
    }
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, position, updated_at) VALUES ($1, 0, now())
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(SELECT).bind(name).fetch_one(conn).await
}

/// Records, inside the caller's transaction (which holds the projection's lock), that stored
/// rows of the projection changed without an event. Every runner of the projection, on any
/// instance, then forgets the rows it keeps in memory before its next step applies anything:
/// a cached row is the stored one only while rows change through events alone.
pub async fn rows_changed_without_events(
    conn: &mut PgConnection,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE projection_checkpoints SET generation = generation + 1 WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Moves a projection's checkpoint, inside the caller's transaction (which holds its lock).
pub(crate) async fn save_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(position)
    .execute(conn)
    .await
    .map(|_| ())
}

/// First key of the projections' advisory locks (the second is the hashed projection name);
/// two-key advisory locks never collide with the one-key locks of the sequencer and relay.
const PROJECTION_LOCK_CLASS: i32 = 0x7470; // "tp"

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_say_nothing_about_an_event_and_decoding_failures_do() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for outage in [
            sqlx::Error::Io(io()),
            sqlx::Error::Protocol("unexpected message".into()),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ] {
            assert!(is_outage(&outage), "{outage}");
        }
        for deterministic in [
            sqlx::Error::Decode("stored event t:1 cannot be typed".into()),
            sqlx::Error::ColumnNotFound("body".into()),
            sqlx::Error::RowNotFound,
        ] {
            assert!(!is_outage(&deterministic), "{deterministic}");
        }
    }

    #[test]
    fn the_backoff_doubles_from_100_ms_up_to_10_s() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(400));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
