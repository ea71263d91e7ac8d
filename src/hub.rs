//! The WebSocket hub: one live feed of positioned events per engine instance, fanned out to
//! every connection of that instance (the connections themselves live in [`crate::http::ws`]).
//!
//! # The feed
//!
//! One task per instance `LISTEN`s on `ticketd_events_positioned` (the sequencer notifies it,
//! with the new head, whenever it has given events their positions; this instance's own
//! sequencer wakes it in-process as soon as its batch committed), polls every
//! [`HubConfig::poll_interval`] as a fallback, and reads `position > last` in position order with
//! [`read_tickets_after`]. Each event is broadcast, once, on a [`tokio::sync::broadcast`] channel.
//!
//! This Postgres path is the one CONTRACT 3 calls "events pushed from any engine instance reach
//! clients connected to every instance", and it is used whether NATS is configured or not:
//! every instance reads the same dense, gap-free positions from the same database, so an event
//! committed through instance A reaches the clients of instance B exactly once and in order,
//! with no dedupe across sources (a NATS subscription would only add a second, unordered copy
//! of what the store already says, and an outage of NATS would then have to be covered anyway).
//!
//! # Slow clients
//!
//! `broadcast::Sender::send` never waits: a receiver that falls more than
//! [`HubConfig::broadcast_capacity`] events behind sees `Lagged`, and each connection may have at
//! most [`HubConfig::queue_capacity`] frames that its client has not read (queued, or written
//! to the socket and not yet acknowledged: see `http::ws`), filled with `try_send`. Either
//! overflow closes that one connection with 1013; nobody else waits for it.
//!
//! # Shutdown
//!
//! [`Hub::shutdown`] tells every connection to close with 1001 and stops the feed;
//! [`Hub::closed`] waits (bounded) until the connections are gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;

use sqlx::PgPool;
use ticket_nats::backoff::Backoff;
use ticket_projections::connection::Dedicated;
use ticket_projections::listen::Notifications;
use ticket_projections::stored::{head_position, read_tickets_after};
use ticket_projections::StoredEvent;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Gauge: open WebSocket connections of this instance.
pub const METRIC_CONNECTIONS: &str = "ticketd_websocket_connections";
/// Counter: event frames queued to WebSocket clients (one per event and channel).
pub const METRIC_PUSHED: &str = "ticketd_websocket_events_pushed_total";
/// Counter: connections closed with 1013 because they fell behind.
pub const METRIC_CLOSED_SLOW: &str = "ticketd_websocket_closed_slow_total";

/// How the hub and its connections behave. `Default` is what the engine runs with; tests shrink
/// the queues (see `Application::with_hub_config`).
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Frames a connection's client may have left unread (queued, or written but not yet
    /// acknowledged by a Pong) before it counts as too slow (default 1024).
    pub queue_capacity: usize,
    /// Events the broadcast keeps for receivers that are behind (default 4096).
    pub broadcast_capacity: usize,
    /// Events read per query, by the feed and by `since` replays (default 500).
    pub batch_size: i64,
    /// How often the feed looks for new events when no notification came (default 250 ms).
    pub poll_interval: Duration,
    /// How often a connection sends a WebSocket Ping (default 30 s).
    pub ping_interval: Duration,
    /// How long a closing connection may take to write its close frame, and then waits for
    /// the client's (default 5 s).
    pub close_grace: Duration,
    /// How long a connection closed with 1013 for not reading waits for the client to read its
    /// backlog and answer the close frame, unless the engine stops (default 60 s).
    pub slow_close_linger: Duration,
    /// Largest client message and frame accepted, in bytes (default 64 KiB).
    pub max_message_size: usize,
    /// Most channels one connection may subscribe to (default 256).
    pub max_channels: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            broadcast_capacity: 4096,
            batch_size: 500,
            poll_interval: Duration::from_millis(250),
            ping_interval: Duration::from_secs(30),
            close_grace: Duration::from_secs(5),
            slow_close_linger: Duration::from_secs(60),
            max_message_size: 64 * 1024,
            max_channels: 256,
        }
    }
}

/// One positioned event as the hub hands it to connections: the stored event, its envelope
/// already serialized, and its `event` frames, built once per channel and shared by every
/// connection that pushes them, so that N connections neither serialize nor copy it N times.
///
/// An event goes to at most four channels: `board`, `stats`, `me` and the `ticket:<id>` of its
/// own ticket. Each has a slot of its own, filled by the first connection that needs it; the
/// others clone the frame (a reference count), with no lock, lookup or allocation.
#[derive(Debug)]
pub struct FeedEvent {
    /// The event.
    pub stored: StoredEvent,
    /// `stored.envelope` as JSON.
    pub envelope_json: String,
    /// The ticket the event is about; `None` when its subject is not a ticket id (no channel
    /// carries it then).
    pub ticket: Option<Uuid>,
    /// The frames, by [`Route`].
    frames: [OnceLock<Utf8Bytes>; 4],
}

/// A channel an event can go to, relative to the event: `Ticket` is its own ticket's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `board`.
    Board,
    /// `stats`.
    Stats,
    /// `me`.
    Me,
    /// `ticket:<the event's ticket>`.
    Ticket,
}

impl FeedEvent {
    /// Wraps a stored event.
    pub fn new(stored: StoredEvent) -> Self {
        // An envelope of plain members always serializes.
        let envelope_json = serde_json::to_string(&stored.envelope).unwrap_or_default();
        let ticket = Uuid::parse_str(&stored.envelope.subject).ok();
        Self {
            stored,
            envelope_json,
            ticket,
            frames: Default::default(),
        }
    }

    /// Its global position.
    pub fn position(&self) -> i64 {
        self.stored.position
    }

    /// The `event` frame of this event on `route` (a cheap, shared copy).
    pub fn frame(&self, route: Route) -> Utf8Bytes {
        let slot = &self.frames[route as usize];
        slot.get_or_init(|| {
            let text = match route {
                Route::Board => event_frame("board", &self.envelope_json),
                Route::Stats => event_frame("stats", &self.envelope_json),
                Route::Me => event_frame("me", &self.envelope_json),
                Route::Ticket => {
                    let ticket = self.ticket.unwrap_or_default();
                    event_frame(&format!("ticket:{ticket}"), &self.envelope_json)
                }
            };
            Utf8Bytes::from(text)
        })
        .clone()
    }
}

/// The text of an `event` frame (CONTRACT 4) carrying `envelope_json` on `channel`.
pub fn event_frame(channel: &str, envelope_json: &str) -> String {
    let channel = serde_json::Value::String(channel.to_string());
    format!(r#"{{"type":"event","channel":{channel},"event":{envelope_json}}}"#)
}

/// Handle to the hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: HubConfig,
    events: broadcast::Sender<Arc<FeedEvent>>,
    /// The last position broadcast; -1 until the feed has read the store's head.
    head: watch::Sender<i64>,
    /// `true` once the engine is stopping.
    shutdown: watch::Sender<bool>,
    /// Open connections.
    connections: watch::Sender<usize>,
    /// Connections closed with 1013 for falling behind, since start.
    closed_slow: AtomicU64,
}

impl Hub {
    /// A hub with no feed yet (see [`Hub::spawn_feed`]).
    pub fn new(config: HubConfig) -> Self {
        let (events, _) = broadcast::channel(config.broadcast_capacity.max(1));
        Self {
            inner: Arc::new(Inner {
                config,
                events,
                head: watch::Sender::new(-1),
                shutdown: watch::Sender::new(false),
                connections: watch::Sender::new(0),
                closed_slow: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// A receiver of every event broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.inner.events.subscribe()
    }

    /// The last position broadcast, once the feed knows it.
    ///
    /// A connection that subscribed to the broadcast *before* reading this gets every event
    /// after it: the feed raises the head before it sends (see [`Hub::publish`]).
    pub fn head(&self) -> Option<i64> {
        let head = *self.inner.head.borrow();
        (head >= 0).then_some(head)
    }

    /// The head as it moves (-1 until the feed knows it), to wait for the feed after start-up.
    pub fn head_watch(&self) -> watch::Receiver<i64> {
        self.inner.head.subscribe()
    }

    /// Broadcasts one event. Never waits, whoever is behind.
    fn publish(&self, event: StoredEvent) {
        let event = Arc::new(FeedEvent::new(event));
        // Head first, then send: a connection that reads the head after subscribing either sees
        // the old head and receives the event, or sees the new head and drops the event it
        // receives as already covered. Either way nothing is lost or sent twice.
        self.inner.head.send_replace(event.position());
        // Err only means that no connection is listening right now.
        let _ = self.inner.events.send(event);
    }

    /// Completes (`changed` returns or `borrow` is true) once the engine is stopping.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Tells the feed to stop and every connection to close with 1001.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Waits until every connection has closed, or `timeout`.
    pub async fn closed(&self, timeout: Duration) {
        let mut open = self.inner.connections.subscribe();
        let _ = tokio::time::timeout(timeout, open.wait_for(|n| *n == 0)).await;
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn connection(&self) -> ConnectionGuard {
        self.inner.connections.send_modify(|n| *n += 1);
        metrics::gauge!(METRIC_CONNECTIONS).increment(1.0);
        ConnectionGuard { hub: self.clone() }
    }

    /// Open connections of this instance (a closing one counts until its close frame is out).
    pub fn connection_count(&self) -> usize {
        *self.inner.connections.borrow()
    }

    /// Records a connection closed with 1013 for falling behind.
    pub fn record_closed_slow(&self) {
        self.inner.closed_slow.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_CLOSED_SLOW).increment(1);
    }

    /// Connections of this instance closed with 1013 for falling behind, since start.
    pub fn closed_slow(&self) -> u64 {
        self.inner.closed_slow.load(Ordering::Relaxed)
    }

    /// Starts the feed: a task that follows the store's positions and broadcasts every event,
    /// until [`Hub::shutdown`].
    pub fn spawn_feed(&self, pool: PgPool, notifications: &Notifications) -> JoinHandle<()> {
        tokio::spawn(self.feed(pool, notifications))
    }

    /// The feed's loop, until [`Hub::shutdown`]. Run again after it died (a supervisor's
    /// restart), it resumes after the last position it broadcast, so live connections miss
    /// nothing.
    pub fn feed(
        &self,
        pool: PgPool,
        notifications: &Notifications,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        run_feed(self.clone(), pool, notifications.clone())
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(HubConfig::default())
    }
}

/// Keeps a connection counted (and the gauge up) while alive.
pub struct ConnectionGuard {
    hub: Hub,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.hub
            .inner
            .connections
            .send_modify(|n| *n = n.saturating_sub(1));
        metrics::gauge!(METRIC_CONNECTIONS).decrement(1.0);
    }
}

/// Sleeps for `duration`; true when the engine started stopping first.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        () = tokio::time::sleep(duration) => false,
    }
}

/// The feed: head, then (wake, read, broadcast) until shutdown.
#[tracing::instrument(name = "ws_feed", skip_all)]
async fn run_feed(hub: Hub, pool: PgPool, notifications: Notifications) {
    let mut stop = hub.shutdown_signal();
    let poll = hub.config().poll_interval;
    let batch = hub.config().batch_size.max(1);
    // Start from the head: connections replay older events from the store themselves (`since`).
    // A restarted feed goes on from what it last broadcast.
    let mut failures: u32 = 0;
    let mut last = if let Some(head) = hub.head() {
        head
    } else {
        loop {
            match head_position(&pool).await {
                Ok(head) => break head,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, "cannot read the event store's head; retrying");
                    if sleep_or_stop(backoff(failures), &mut stop).await {
                        return;
                    }
                }
            }
        }
    };
    hub.inner.head.send_replace(last);
    let mut positioned = notifications.positioned();
    tracing::debug!(head = last, "WebSocket feed started");
    failures = 0;
    let mut conn = Dedicated::new(pool);
    loop {
        // Read everything positioned after `last`, page by page.
        let read = loop {
            match conn
                .run(async |conn| read_tickets_after(conn, last, batch).await)
                .await
            {
                Ok(page) => {
                    let full = page.read as i64 >= batch;
                    if page.first.is_some_and(|first| first != last + 1) {
                        // Positions are dense; a jump means the store is not what we expect.
                        tracing::warn!(
                            expected = last + 1,
                            got = page.first,
                            "position gap in the event store"
                        );
                    }
                    for event in page.events {
                        record_commit_to_push(&event);
                        hub.publish(event);
                    }
                    // User streams' events are read and passed over: no WebSocket channel
                    // carries them.
                    last = page.last.unwrap_or(last);
                    if !full {
                        break Ok(());
                    }
                }
                Err(error) => break Err(error),
            }
        };
        let wait = match read {
            Ok(()) => {
                failures = 0;
                poll
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%error, after = last, "cannot read new events; retrying");
                backoff(failures)
            }
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = positioned.next() => {},
            () = tokio::time::sleep(wait) => {},
        }
    }
    tracing::debug!(head = last, "WebSocket feed stopped");
}

/// Histogram: from an event's time (fixed as it is committed) to its broadcast to this
/// instance's WebSocket connections.
pub const METRIC_COMMIT_TO_PUSH: &str = "ticketd_commit_to_push_seconds";

fn record_commit_to_push(event: &StoredEvent) {
    let age = chrono::Utc::now().signed_duration_since(event.envelope.time.as_datetime());
    // A clock step backwards would make it negative: count it as instant rather than drop it.
    let seconds = age.to_std().map(|d| d.as_secs_f64()).unwrap_or(0.0);
    metrics::histogram!(METRIC_COMMIT_TO_PUSH).record(seconds);
}

/// The pause after the `failures`-th failure in a row: 200 ms, doubling, up to 5 s.
fn backoff(failures: u32) -> Duration {
    Backoff::nth(Duration::from_millis(100), Duration::from_secs(5), failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_nats::envelope::{Actor, EnvelopeHeader};
    use ticket_nats::events::TicketReopened;
    use ticket_nats::{Envelope, TicketEvent, Timestamp, GENESIS_HASH};

    #[test]
    fn a_frame_is_built_once_per_channel_and_shared() {
        let actor = Actor {
            id: "u".into(),
            name: "U".into(),
            role: "agent".into(),
        };
        let ticket = uuid::Uuid::now_v7();
        let mut envelope = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: ticket,
                seq: 1,
                time: Timestamp::now(),
                actor: &actor,
                correlation_id: "c",
            },
            &TicketEvent::Reopened(TicketReopened { reason: None }),
            GENESIS_HASH,
        );
        envelope.position = 9;
        let event = FeedEvent::new(StoredEvent::from_envelope(envelope).unwrap());
        assert_eq!(event.ticket, Some(ticket));
        let board = event.frame(Route::Board);
        assert_eq!(board.as_str(), event_frame("board", &event.envelope_json));
        // The same bytes, not a copy.
        assert_eq!(
            board.as_str().as_ptr(),
            event.frame(Route::Board).as_str().as_ptr()
        );
        for (route, channel) in [
            (Route::Stats, "stats".to_string()),
            (Route::Me, "me".to_string()),
            (Route::Ticket, format!("ticket:{ticket}")),
        ] {
            assert_eq!(
                event.frame(route).as_str(),
                event_frame(&channel, &event.envelope_json)
            );
        }
    }
}
