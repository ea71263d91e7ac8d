//! The delivery loop (CONTRACT 8): one leader among the instances delivers, with one worker per
//! enabled endpoint, so that a slow or dead endpoint only ever holds up its own deliveries.
//!
//! Leadership works as for the NATS relay: a session-level advisory lock on a dedicated
//! connection ([`lead`]); the others stand by and retry every poll interval. Each worker wakes
//! on the event log's positioned notification and follows the log from its endpoint's
//! checkpoint ([`queue::enqueue`]: delivery rows and the checkpoint move in one statement, which
//! answers the new deliveries, whose bodies are read in one more query), sends them at once, at
//! most [`WebhookSettings::concurrency`] requests at a time, and records the outcomes in
//! batches (successes and failures alike, at most [`RECORD_AFTER`] late). Retries and replays
//! are looked for when one is due and every [`WORKER_POLL`].
//!
//! The cost of a delivery in database round trips is therefore two per notification and
//! endpoint, shared by the events it brings, plus a share of a batch record: at a steady
//! command rate the database is not what the next event waits for, and an endpoint that fails
//! every attempt costs no more than one that succeeds, so it does not slow the others.
//!
//! A crash loses nothing: a delivery is pending until an attempt is recorded, so the next leader
//! sends it again with the same `webhook-id`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use rand::Rng;
use sqlx::PgPool;
use ticket_nats::error::chain;
use ticket_projections::connection::lead;
use ticket_projections::listen::{sleep_or_cancel, Notifications};
use ticket_projections::CancellationToken;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::config::WebhookSettings;
use super::queue::{self, Attempt, Due, Endpoint, Failure};
use super::send::Sender;

/// Advisory lock key of the webhook deliverer (ASCII "tktdwhk1").
pub const WEBHOOK_LOCK: i64 = 0x746b_7464_7768_6b31;
/// Counter: delivery attempts by `outcome` (`succeeded`, `retrying`, `failed`).
pub const METRIC_ATTEMPTS: &str = "ticketd_webhook_deliveries_total";
/// Gauge: deliveries not yet made, per `webhook` (pending ones and events not yet read).
pub const METRIC_BACKLOG: &str = "ticketd_webhook_backlog";

/// Events read from the log per step of a worker.
const ENQUEUE_BATCH: i64 = 1000;
/// How often the leader looks for new, changed or removed endpoints.
const ENDPOINTS_POLL: Duration = Duration::from_millis(500);
/// The least time between two looks at the endpoints when woken by positionings.
const ENDPOINTS_GAP: Duration = Duration::from_millis(20);
/// Due deliveries fetched at once, per request the endpoint may have in flight; below as many
/// waiting, the worker reads the log again.
const DUE_BATCH_PER_SLOT: usize = 8;
/// The longest a worker goes without looking for due retries and replays.
pub const WORKER_POLL: Duration = Duration::from_secs(1);

/// Outcomes recorded together at most.
const RECORD_BATCH: usize = 64;
/// The longest an outcome waits to be recorded: a success recorded late is only sent again if
/// the engine dies meanwhile (at least once), and a failure's retry is timed from its record.
pub const RECORD_AFTER: Duration = Duration::from_millis(50);

/// Outcomes not recorded yet; their positions stay held, so that they are not fetched again.
#[derive(Default)]
struct Outcomes {
    succeeded: Vec<(i64, Option<i32>)>,
    failed: Vec<Failure>,
    /// When the oldest of them came.
    since: Option<Instant>,
}

impl Outcomes {
    fn len(&self) -> usize {
        self.succeeded.len() + self.failed.len()
    }

    fn push_success(&mut self, position: i64, status: Option<i32>) {
        self.since.get_or_insert_with(Instant::now);
        self.succeeded.push((position, status));
    }

    fn push_failure(&mut self, failure: Failure) {
        self.since.get_or_insert_with(Instant::now);
        self.failed.push(failure);
    }

    /// When they must be recorded at the latest.
    fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + RECORD_AFTER)
    }
}

/// What recording outcomes found.
enum Recorded {
    /// The endpoint stays enabled; the shortest pause before a retry just recorded.
    Enabled { retry_in: Option<Duration> },
    /// Failing too long, the endpoint was disabled.
    Disabled,
}

/// The engine's webhook deliverer.
pub struct Deliverer {
    pool: PgPool,
    settings: WebhookSettings,
    sender: Sender,
    leader: AtomicBool,
}

impl Deliverer {
    /// A deliverer over `pool` (nothing runs until [`Deliverer::run`]).
    pub fn new(pool: PgPool, settings: WebhookSettings) -> Result<Arc<Self>, reqwest::Error> {
        Ok(Arc::new(Self {
            sender: Sender::new(&settings)?,
            pool,
            settings,
            leader: AtomicBool::new(false),
        }))
    }

    /// Whether this instance delivers.
    pub fn leading(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Takes the lead when free and delivers until `shutdown` or the lock is lost.
    pub async fn run(self: Arc<Self>, notifications: Notifications, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let leading = tokio::select! {
                () = shutdown.cancelled() => break,
                leading = lead(&self.pool, WEBHOOK_LOCK) => leading,
            };
            match leading {
                Ok(Some(mut conn)) => {
                    failures = 0;
                    self.leader.store(true, Ordering::Relaxed);
                    tracing::info!("delivering webhooks (leader)");
                    let result = self.lead(&mut conn, &notifications, &shutdown).await;
                    self.leader.store(false, Ordering::Relaxed);
                    let _ = sqlx::Connection::close(conn).await;
                    if let Err(error) = result {
                        tracing::warn!(error = %chain(&error), "webhook deliverer stepped down");
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %chain(&error), "webhook deliverer cannot reach the database");
                }
            }
            let pause = ENDPOINTS_POLL.saturating_mul(1 << failures.min(4));
            if sleep_or_cancel(pause, &shutdown).await {
                break;
            }
        }
    }

    /// While leading: one worker per enabled endpoint, restarted when the endpoint changes and
    /// stopped when it is disabled or deleted. Returns when the lock connection fails.
    async fn lead(
        self: &Arc<Self>,
        lock: &mut sqlx::PgConnection,
        notifications: &Notifications,
        shutdown: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let mut workers: HashMap<Uuid, (chrono::DateTime<chrono::Utc>, JoinHandle<()>)> =
            HashMap::new();
        let mut positioned = notifications.positioned();
        let result = loop {
            // The lock lives with this connection: if it broke, another instance may lead.
            if let Err(error) = sqlx::query("SELECT 1").execute(&mut *lock).await {
                break Err(error);
            }
            let endpoints = match queue::enabled(&self.pool).await {
                Ok(endpoints) => endpoints,
                Err(error) => break Err(error),
            };
            let current: HashMap<Uuid, Endpoint> =
                endpoints.into_iter().map(|e| (e.id, e)).collect();
            workers.retain(|id, (updated_at, handle)| {
                let keep = current
                    .get(id)
                    .is_some_and(|e| e.updated_at == *updated_at && !handle.is_finished());
                if !keep {
                    handle.abort();
                }
                keep
            });
            for (id, endpoint) in current {
                if workers.contains_key(&id) {
                    continue;
                }
                let updated_at = endpoint.updated_at;
                let worker = self
                    .clone()
                    .work(endpoint, notifications.clone(), shutdown.clone());
                workers.insert(id, (updated_at, tokio::spawn(worker)));
            }
            // Also on each positioning (at most every ENDPOINTS_GAP): an endpoint created just
            // before an event gets its worker for that event, rather than up to a poll later.
            let read_at = Instant::now();
            let notified = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                () = tokio::time::sleep(ENDPOINTS_POLL) => false,
                _ = positioned.next() => true,
            };
            if notified {
                tokio::time::sleep_until(read_at + ENDPOINTS_GAP).await;
            }
        };
        for (_, (_, handle)) in workers {
            handle.abort();
        }
        result
    }

    /// One endpoint's worker: follows the log and keeps up to `concurrency` attempts in flight,
    /// until the endpoint is disabled; a database error restarts it after a pause (attempts in
    /// flight are dropped and stay pending, so they are made again).
    async fn work(
        self: Arc<Self>,
        endpoint: Endpoint,
        notifications: Notifications,
        shutdown: CancellationToken,
    ) {
        let mut failures: u32 = 0;
        loop {
            match self.follow(&endpoint, &notifications, &shutdown).await {
                Ok(()) => return,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(webhook_id = %endpoint.id, error = %chain(&error), "webhook worker failed");
                    let pause = Duration::from_millis(100).saturating_mul(1 << failures.min(6));
                    if sleep_or_cancel(pause, &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// Schedules new events and starts the attempts that are due while there is room; returns
    /// when the endpoint is disabled or the engine stops. Each attempt is a task of its own, so
    /// that it moves on while the worker waits; it touches no database, the worker records
    /// outcomes in batches.
    async fn follow(
        self: &Arc<Self>,
        endpoint: &Endpoint,
        notifications: &Notifications,
        shutdown: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let concurrency = self.settings.concurrency.max(1);
        let low = concurrency * DUE_BATCH_PER_SLOT;
        let mut positioned = notifications.positioned();
        let mut in_flight: JoinSet<(i64, i32, Attempt)> = JoinSet::new();
        let mut outcomes = Outcomes::default();
        // Positions the worker holds: attempted and not recorded yet. With `queued` (due, with
        // their bodies, waiting for a free slot) they are left out when looking for due ones.
        let mut sending: Vec<i64> = Vec::new();
        let mut queued: VecDeque<Due> = VecDeque::new();
        // Whether the log may hold events the endpoint has not scheduled yet.
        let mut unread = true;
        // When to look for due retries and replays next (a worker that starts looks at once:
        // what its predecessor left pending is due).
        let mut look_at = Instant::now();
        loop {
            let now = Instant::now();
            if outcomes.len() >= RECORD_BATCH || outcomes.deadline().is_some_and(|at| at <= now) {
                match self.record(endpoint, &mut outcomes, &mut sending).await? {
                    Recorded::Enabled { retry_in } => {
                        if let Some(retry_in) = retry_in {
                            look_at = look_at.min(Instant::now() + retry_in);
                        }
                    }
                    Recorded::Disabled => return Ok(()),
                }
            }
            if unread && queued.len() < low {
                let enqueued = queue::enqueue(&self.pool, endpoint.id, ENQUEUE_BATCH).await?;
                unread = enqueued.read >= ENQUEUE_BATCH;
                queued.extend(enqueued.fresh);
            }
            if look_at <= Instant::now() && queued.len() < low {
                let held: Vec<i64> = sending
                    .iter()
                    .copied()
                    .chain(queued.iter().map(|d| d.position))
                    .collect();
                let limit = (low - queued.len()) as i64;
                let due = queue::due(&self.pool, endpoint.id, limit, &held).await?;
                let full = due.len() as i64 >= limit;
                queued.extend(due);
                look_at = Instant::now() + WORKER_POLL;
                if full {
                    look_at = Instant::now();
                } else if let Some(at) = queue::next_due(&self.pool, endpoint.id, &held).await? {
                    let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                    look_at = look_at.min(Instant::now() + wait);
                }
            }
            while in_flight.len() < concurrency {
                let Some(due) = queued.pop_front() else {
                    break;
                };
                sending.push(due.position);
                let (this, endpoint) = (self.clone(), endpoint.clone());
                in_flight.spawn(async move {
                    let (position, attempts) = (due.position, due.attempts);
                    (position, attempts, this.attempt(&endpoint, due).await)
                });
            }
            // Looking for due deliveries waits while enough are queued: a wake-up for it then
            // would find nothing to do, again and again until the queue drains.
            let mut wake = if queued.len() < low {
                look_at
            } else {
                Instant::now() + WORKER_POLL
            };
            if let Some(deadline) = outcomes.deadline() {
                wake = wake.min(deadline);
            }
            if unread && queued.len() < low {
                wake = Instant::now();
            }
            let free = in_flight.len() < concurrency;
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.record(endpoint, &mut outcomes, &mut sending).await?;
                    return Ok(());
                }
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let (position, attempts, attempt) = match joined {
                        Ok(done) => done,
                        // A panicking attempt is made again: its delivery is still pending.
                        Err(error) => {
                            tracing::error!(webhook_id = %endpoint.id, %error, "a webhook attempt panicked");
                            self.record(endpoint, &mut outcomes, &mut sending).await?;
                            sending.clear();
                            queued.clear();
                            in_flight.abort_all();
                            look_at = Instant::now();
                            continue;
                        }
                    };
                    self.judge(endpoint, position, attempts, attempt, &mut outcomes);
                }
                _ = positioned.next() => unread = true,
                () = tokio::time::sleep_until(wake), if free || outcomes.len() > 0 => {}
            }
        }
    }

    /// Records the outcomes gathered so far and frees their positions.
    async fn record(
        &self,
        endpoint: &Endpoint,
        outcomes: &mut Outcomes,
        sending: &mut Vec<i64>,
    ) -> Result<Recorded, sqlx::Error> {
        let Outcomes {
            succeeded, failed, ..
        } = std::mem::take(outcomes);
        let done: Vec<i64> = (succeeded.iter().map(|s| s.0))
            .chain(failed.iter().map(|f| f.position))
            .collect();
        let mut recorded = Recorded::Enabled {
            retry_in: failed.iter().filter_map(|f| f.retry_in).min(),
        };
        // Failures first: a success recorded with them leaves the endpoint not failing.
        if !failed.is_empty()
            && !queue::record_failures(
                &self.pool,
                endpoint.id,
                &failed,
                self.settings.disable_after,
            )
            .await?
        {
            recorded = Recorded::Disabled;
        }
        if !succeeded.is_empty() {
            let (positions, statuses): (Vec<i64>, Vec<Option<i32>>) = succeeded.into_iter().unzip();
            queue::record_successes(&self.pool, endpoint.id, &positions, &statuses).await?;
        }
        sending.retain(|p| !done.contains(p));
        Ok(recorded)
    }

    /// Sends one delivery.
    async fn attempt(&self, endpoint: &Endpoint, due: Due) -> Attempt {
        match due.body {
            Some(Ok(body)) => {
                self.sender
                    .send(&endpoint.url, &endpoint.secret, &due.event_id, body)
                    .await
            }
            Some(Err(error)) => Attempt {
                status: None,
                error: Some(error),
            },
            None => Attempt {
                status: None,
                error: Some("the event is no longer in the log".into()),
            },
        }
    }

    /// Counts an attempt's outcome and keeps it to be recorded; a failure is retried on the
    /// schedule, after `attempts` earlier attempts.
    fn judge(
        &self,
        endpoint: &Endpoint,
        position: i64,
        attempts: i32,
        attempt: Attempt,
        outcomes: &mut Outcomes,
    ) {
        let status = attempt.status.map(i32::from);
        let Some(error) = attempt.error else {
            metrics::counter!(METRIC_ATTEMPTS, "outcome" => "succeeded").increment(1);
            outcomes.push_success(position, status);
            return;
        };
        let retry_in = self.retry_delay(attempts);
        let outcome = if retry_in.is_some() {
            "retrying"
        } else {
            "failed"
        };
        metrics::counter!(METRIC_ATTEMPTS, "outcome" => outcome).increment(1);
        tracing::debug!(webhook_id = %endpoint.id, position, %error, ?retry_in, "webhook attempt failed");
        outcomes.push_failure(Failure {
            position,
            status,
            error,
            retry_in,
        });
    }

    /// The pause before the retry that follows `attempts` earlier attempts plus the failed one,
    /// with up to 25 % jitter (so that endpoints failing together do not retry together);
    /// `None` once the schedule is spent.
    fn retry_delay(&self, attempts: i32) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?;
        let base = *self.settings.retry_schedule.get(index)?;
        Some(base.mul_f64(rand::rng().random_range(1.0..1.25)))
    }
}

/// Sets the backlog gauges every few seconds, whoever leads (every instance reports the same).
pub async fn report_backlog(pool: PgPool, shutdown: CancellationToken) {
    loop {
        if let Ok(backlogs) = super::store::backlogs(&pool).await {
            for backlog in backlogs {
                metrics::gauge!(METRIC_BACKLOG, "webhook" => backlog.id.to_string())
                    .set((backlog.pending + backlog.unread) as f64);
            }
        }
        if sleep_or_cancel(Duration::from_secs(2), &shutdown).await {
            return;
        }
    }
}
