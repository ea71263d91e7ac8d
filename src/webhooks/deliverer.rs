//! The delivery loop (CONTRACT 8): one leader among the instances delivers, with one worker per
//! enabled endpoint, so that a slow or dead endpoint only ever holds up its own deliveries.
//!
//! Leadership works as for the NATS relay: a session-level advisory lock on a dedicated
//! connection ([`lead`]); the others stand by and retry every poll interval. Each worker
//! follows the event log from its endpoint's checkpoint ([`queue::enqueue`]: delivery rows and
//! the checkpoint move in one statement), then sends what is due, at most
//! [`WebhookSettings::concurrency`] requests at once, and records each outcome (failures at
//! once, successes in batches, with the bodies of due deliveries read in one query per batch).
//! A crash loses nothing: a delivery is pending until an attempt is recorded, so the next leader
//! sends it again with the same `webhook-id`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::PgPool;
use ticket_nats::error::chain;
use ticket_projections::connection::lead;
use ticket_projections::listen::{sleep_or_cancel, Notifications};
use ticket_projections::CancellationToken;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::config::WebhookSettings;
use super::queue::{self, Attempt, Due, Endpoint};
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
/// Due deliveries fetched at once, per request the endpoint may have in flight.
const DUE_BATCH_PER_SLOT: usize = 8;
/// The longest a worker sleeps without looking at its endpoint's due deliveries.
const WORKER_POLL: Duration = Duration::from_secs(1);

/// Successes recorded together at most.
const SUCCESS_BATCH: usize = 64;

/// What an attempt left to do.
enum Done {
    /// A success, with the receiver's status, to be recorded with others.
    Succeeded(Option<i32>),
    /// A failure, recorded; whether the endpoint is still enabled.
    Recorded {
        /// The endpoint stays enabled.
        enabled: bool,
    },
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
            if sleep_or_cancel(ENDPOINTS_POLL, shutdown).await {
                break Ok(());
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
    /// that it moves on (and gives back its database connection) while the worker waits.
    async fn follow(
        self: &Arc<Self>,
        endpoint: &Endpoint,
        notifications: &Notifications,
        shutdown: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let concurrency = self.settings.concurrency.max(1);
        let mut positioned = notifications.positioned();
        let mut in_flight: JoinSet<(i64, Result<Done, sqlx::Error>)> = JoinSet::new();
        // Successes not recorded yet (their positions stay in `sending`): recorded together,
        // before the next due deliveries are read.
        let mut succeeded: Vec<(i64, Option<i32>)> = Vec::new();
        // Positions being attempted, and deliveries due but waiting for a free slot: fetched
        // several at a time, so that a delivery costs no query of its own to be found.
        let mut sending: Vec<i64> = Vec::new();
        let mut queued: VecDeque<Due> = VecDeque::new();
        // Whether the log may hold events the endpoint has not scheduled yet.
        let mut unread = true;
        loop {
            if !succeeded.is_empty()
                && (succeeded.len() >= SUCCESS_BATCH || queued.is_empty() || in_flight.is_empty())
            {
                self.flush(endpoint, &mut succeeded, &mut sending).await?;
            }
            if unread {
                let read = queue::enqueue(&self.pool, endpoint.id, ENQUEUE_BATCH).await?;
                unread = read >= ENQUEUE_BATCH;
            }
            let mut wait = WORKER_POLL;
            if queued.is_empty() && in_flight.len() < concurrency {
                let limit = (concurrency * DUE_BATCH_PER_SLOT) as i64;
                queued.extend(queue::due(&self.pool, endpoint.id, limit, &sending).await?);
                if queued.is_empty() {
                    if let Some(at) = queue::next_due(&self.pool, endpoint.id, &sending).await? {
                        wait = (at - chrono::Utc::now())
                            .to_std()
                            .unwrap_or_default()
                            .min(WORKER_POLL);
                    }
                }
            }
            while in_flight.len() < concurrency {
                let Some(due) = queued.pop_front() else {
                    break;
                };
                sending.push(due.position);
                let (this, endpoint) = (self.clone(), endpoint.clone());
                in_flight.spawn(async move {
                    let position = due.position;
                    (position, this.attempt(&endpoint, due).await)
                });
            }
            if unread {
                wait = Duration::ZERO;
            }
            let free = in_flight.len() < concurrency;
            tokio::select! {
                () = shutdown.cancelled() => {
                    return self.flush(endpoint, &mut succeeded, &mut sending).await;
                }
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let (position, outcome) = match joined {
                        Ok(done) => done,
                        // A panicking attempt is made again: its delivery is still pending.
                        Err(error) => {
                            tracing::error!(webhook_id = %endpoint.id, %error, "a webhook attempt panicked");
                            sending.clear();
                            queued.clear();
                            in_flight.abort_all();
                            continue;
                        }
                    };
                    match outcome? {
                        Done::Succeeded(status) => succeeded.push((position, status)),
                        Done::Recorded { enabled } => {
                            sending.retain(|p| *p != position);
                            if !enabled {
                                return self.flush(endpoint, &mut succeeded, &mut sending).await;
                            }
                        }
                    }
                }
                _ = positioned.next() => unread = true,
                () = tokio::time::sleep(wait), if free => unread = true,
            }
        }
    }

    /// Records the successes gathered so far and frees their positions.
    async fn flush(
        &self,
        endpoint: &Endpoint,
        succeeded: &mut Vec<(i64, Option<i32>)>,
        sending: &mut Vec<i64>,
    ) -> Result<(), sqlx::Error> {
        if succeeded.is_empty() {
            return Ok(());
        }
        let (positions, statuses): (Vec<i64>, Vec<Option<i32>>) = succeeded.drain(..).unzip();
        queue::record_successes(&self.pool, endpoint.id, &positions, &statuses).await?;
        sending.retain(|p| !positions.contains(p));
        Ok(())
    }

    /// Sends one delivery; records a failure at once, and leaves a success to the worker, which
    /// records successes in batches.
    async fn attempt(&self, endpoint: &Endpoint, due: Due) -> Result<Done, sqlx::Error> {
        let attempt = match due.body {
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
        };
        let retry_in = match attempt.error {
            None => None,
            Some(_) => self.retry_delay(due.attempts),
        };
        let outcome = match (&attempt.error, retry_in) {
            (None, _) => "succeeded",
            (Some(_), Some(_)) => "retrying",
            (Some(_), None) => "failed",
        };
        metrics::counter!(METRIC_ATTEMPTS, "outcome" => outcome).increment(1);
        let Some(error) = &attempt.error else {
            return Ok(Done::Succeeded(attempt.status.map(i32::from)));
        };
        tracing::debug!(webhook_id = %endpoint.id, event_id = %due.event_id, %error, ?retry_in, "webhook attempt failed");
        let enabled = queue::record(
            &self.pool,
            endpoint.id,
            due.position,
            &attempt,
            retry_in,
            self.settings.disable_after,
        )
        .await?;
        Ok(Done::Recorded { enabled })
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
