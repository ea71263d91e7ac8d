//! The NATS relay's Postgres side (CONTRACT 5): the `events` table is the outbox.
//!
//! [`ticket_nats::Relay`] does the publishing (many acknowledgements in flight, checkpoint over
//! the acknowledged prefix only, back-off on NATS errors). This module gives it a
//! [`Source`](ticket_nats::relay::Source) over the store: events `WHERE position > checkpoint
//! ORDER BY position`, the checkpoint row in `relay_checkpoints`, wake-ups from the sequencer's
//! `ticketd_events_positioned` notification (in-process from this instance's sequencer) with a
//! poll as fallback.
//!
//! # One leader
//!
//! Every instance runs this loop; the one holding a session-level advisory lock
//! (`pg_try_advisory_lock`) on a dedicated connection relays, the others stand by and try again
//! every poll interval, so one takes over when the leader dies (its connection closes and
//! Postgres releases the lock). A transaction-level lock per batch would be simpler to reason
//! about, but the transaction would stay open while the batch is published (seconds while NATS
//! is failing), holding a snapshot (and so keeping vacuum from cleaning up) for as long. The
//! session lock holds no snapshot between statements. The checkpoint is written through the same connection
//! (short autocommit statements), so a leader whose connection broke learns it at its next
//! write and steps down; and it only moves forward (`GREATEST`), so even a leader that has
//! silently lost its lock to another cannot move it back.
//!
//! Commands never touch NATS: this runs in its own task, and an outage only makes it back off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use ticket_nats::error::chain;
use ticket_nats::relay::{RelayStatus, Source};
use ticket_nats::{Envelope, Relay};
use ticket_projections::connection::lead;
use ticket_projections::listen::{sleep_or_cancel, Notifications, Wakeups};
use ticket_projections::stored::{head_position, read_envelopes_after};
use ticket_projections::CancellationToken;

use crate::checkpoints;
use crate::settings::Settings;

/// Advisory lock key of the NATS relay (ASCII "tktdrly1"); advisory locks are per database.
pub const RELAY_LOCK: i64 = 0x746b_7464_726c_7931;

/// Gauge: the relay's checkpoint (every event up to it is in the stream).
pub const METRIC_POSITION: &str = "ticketd_relay_position";
/// Gauge: events stored but not yet in the stream (head − checkpoint).
pub const METRIC_LAG: &str = "ticketd_relay_lag";

/// The engine's NATS connection and relay, as readiness reports them.
pub struct NatsRelay {
    client: async_nats::Client,
    /// The publisher; a clone serves each run of the loop (they share its status).
    relay: Relay,
    config: ticket_nats::Config,
    checkpoint_name: String,
    status: Arc<RelayStatus>,
    leader: Arc<AtomicBool>,
}

/// The `nats` section of `/readyz`.
#[derive(Debug, Serialize)]
pub struct NatsReport {
    /// `connected`, `disconnected` or `disabled` (no `NATS_URL`).
    pub state: &'static str,
    /// The stream events go to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The relay's checkpoint and how far it trails the store; absent when disabled or when
    /// Postgres does not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayReport>,
}

/// Where the relay stands.
#[derive(Debug, Serialize)]
pub struct RelayReport {
    /// Every event up to this position is in the stream.
    pub position: i64,
    /// The store's highest position.
    pub head: i64,
    /// Events it has still to publish: `head - position`, plus events committed but not yet
    /// positioned.
    pub lag: i64,
    /// Whether this instance is the one relaying.
    pub leader: bool,
    /// Whether this instance's last attempt to publish failed (it is backing off).
    pub failing: bool,
}

impl NatsReport {
    /// What `/readyz` says without `NATS_URL`.
    pub fn disabled() -> Self {
        Self {
            state: "disabled",
            stream: None,
            relay: None,
        }
    }
}

impl NatsRelay {
    /// Connects to NATS in the background (start-up never waits for or fails on a server that
    /// is down; only a malformed `url` or `config` is an error) and returns the relay and the loop
    /// to spawn, which runs until `shutdown`.
    pub async fn start(
        url: &str,
        config: ticket_nats::Config,
        pool: PgPool,
        notifications: &Notifications,
        shutdown: CancellationToken,
    ) -> Result<
        (
            Arc<Self>,
            impl std::future::Future<Output = ()> + Send + 'static,
        ),
        ticket_nats::Error,
    > {
        config.validate()?;
        let client = ticket_nats::connect(url, "ticketd").await?;
        let relay = Relay::new(
            ticket_nats::jetstream(client.clone(), &config),
            config.clone(),
        );
        let this = Arc::new(Self {
            client,
            checkpoint_name: checkpoint_name(&config.stream),
            status: relay.status(),
            relay,
            leader: Arc::new(AtomicBool::new(false)),
            config,
        });
        let task = this.run(pool, notifications, shutdown);
        Ok((this, task))
    }

    /// The relay loop until `shutdown`; each call makes a fresh run (a supervisor restarts the
    /// loop with it after a panic). It resumes from the checkpoint in the database.
    pub fn run(
        self: &Arc<Self>,
        pool: PgPool,
        notifications: &Notifications,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        run(
            self.clone(),
            self.relay.clone(),
            pool,
            notifications.clone(),
            shutdown,
        )
    }

    /// The `nats` section of `/readyz`: connection state and, from the database (so that every
    /// instance reports the same), the relay's position and lag; `unpositioned` committed events
    /// count in the lag. Sets the lag gauge to the same figure.
    pub async fn report(&self, pool: &PgPool, unpositioned: i64) -> NatsReport {
        let state = match self.client.connection_state() {
            State::Connected => "connected",
            State::Disconnected | State::Pending => "disconnected",
        };
        let relay = positions(pool, &self.checkpoint_name)
            .await
            .ok()
            .map(|(position, head)| RelayReport {
                position,
                head,
                lag: (head - position).max(0) + unpositioned,
                leader: self.leader.load(Ordering::Relaxed),
                failing: self.status.failing(),
            });
        if let Some(relay) = &relay {
            metrics::gauge!(METRIC_LAG).set(relay.lag as f64);
        }
        NatsReport {
            state,
            stream: Some(self.config.stream.clone()),
            relay,
        }
    }

    /// The NATS client (for tests and tools).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The relay's in-process status.
    pub fn status(&self) -> &RelayStatus {
        &self.status
    }
}

/// The relay's configuration from the engine's settings (`NATS_STREAM`, `NATS_SUBJECT_PREFIX`;
/// everything else at [`ticket_nats::Config`]'s defaults).
pub fn nats_config(settings: &Settings) -> ticket_nats::Config {
    ticket_nats::Config::named(
        settings.nats_stream.clone(),
        settings.nats_subject_prefix.clone(),
    )
}

/// The `relay_checkpoints` row of a stream.
pub fn checkpoint_name(stream: &str) -> String {
    format!("nats:{stream}")
}

/// (checkpoint, head) from the database.
async fn positions(pool: &PgPool, name: &str) -> Result<(i64, i64), sqlx::Error> {
    let position = checkpoints::saved(pool, name).await?;
    let head = head_position(pool).await?;
    Ok((position, head))
}

fn set_gauges(position: i64, head: i64) {
    metrics::gauge!(METRIC_POSITION).set(position as f64);
    metrics::gauge!(METRIC_LAG).set((head - position).max(0) as f64);
}

/// The relay loop: take the lead when free, relay until the connection or the lock is lost,
/// stand by otherwise.
async fn run(
    this: Arc<NatsRelay>,
    relay: Relay,
    pool: PgPool,
    notifications: Notifications,
    shutdown: CancellationToken,
) {
    // The gauges say the truth from the database every few seconds, whoever leads and whatever
    // NATS does (while NATS is down the relay is backing off and the lag grows).
    let gauges = {
        let pool = pool.clone();
        let name = this.checkpoint_name.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                if let Ok((position, head)) = positions(&pool, &name).await {
                    set_gauges(position, head);
                }
                if sleep_or_cancel(Duration::from_secs(2), &shutdown).await {
                    return;
                }
            }
        })
    };
    let poll = this.config.poll_interval;
    let mut failures: u32 = 0;
    tracing::info!(stream = %this.config.stream, "NATS relay started");
    loop {
        let leading = tokio::select! {
            () = shutdown.cancelled() => break,
            leading = lead(&pool, RELAY_LOCK) => leading,
        };
        match leading {
            Ok(Some(conn)) => {
                failures = 0;
                this.leader.store(true, Ordering::Relaxed);
                tracing::info!("relaying events to NATS (leader)");
                let mut source = PgSource {
                    conn,
                    name: this.checkpoint_name.clone(),
                    positioned: notifications.positioned(),
                };
                let result = tokio::select! {
                    () = shutdown.cancelled() => Ok(()),
                    result = relay.run(&mut source) => result,
                };
                this.leader.store(false, Ordering::Relaxed);
                // Closing the connection releases the lock at once.
                let _ = sqlx::Connection::close(source.conn).await;
                if let Err(error) = result {
                    tracing::warn!(error = %chain(&error), "NATS relay stepped down");
                    if sleep_or_cancel(poll, &shutdown).await {
                        break;
                    }
                }
            }
            // Another instance relays: try again later, to take over if it dies.
            Ok(None) => {
                if sleep_or_cancel(poll, &shutdown).await {
                    break;
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let pause = Duration::from_millis(100)
                    .saturating_mul(2_u32.saturating_pow(failures.min(6)))
                    .min(Duration::from_secs(5));
                tracing::warn!(error = %chain(&error), retry_in = ?pause, "NATS relay cannot reach the database");
                if sleep_or_cancel(pause, &shutdown).await {
                    break;
                }
            }
        }
    }
    let _ = gauges.await;
    tracing::info!("NATS relay stopped");
}

/// The store as the relay reads it.
struct PgSource {
    conn: PgConnection,
    name: String,
    positioned: Wakeups,
}

impl Source for PgSource {
    type Error = sqlx::Error;

    async fn checkpoint(&mut self) -> Result<i64, sqlx::Error> {
        checkpoints::current(&mut self.conn, &self.name).await
    }

    async fn read_after(&mut self, after: i64, limit: usize) -> Result<Vec<Envelope>, sqlx::Error> {
        read_envelopes_after(&mut self.conn, after, limit as i64, None).await
    }

    async fn save_checkpoint(&mut self, position: i64) -> Result<(), sqlx::Error> {
        let saved = checkpoints::advance(&mut self.conn, &self.name, position).await?;
        let head = head_position(&mut self.conn).await?;
        set_gauges(saved, head);
        Ok(())
    }

    async fn wait_for_events(&mut self, timeout: Duration) -> Result<(), sqlx::Error> {
        tokio::select! {
            _ = self.positioned.next() => {},
            () = tokio::time::sleep(timeout) => {},
        }
        Ok(())
    }
}
