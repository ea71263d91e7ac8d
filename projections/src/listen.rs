//! The event store's notifications, over one `LISTEN` connection per process.
//!
//! Postgres signals every listening backend on each commit that notifies, so each extra listener
//! costs a process wake-up per command. The sequencer, the projectors, the WebSocket feed and the
//! NATS relay therefore share one [`Notifications`]. Its connection runs in its own task, so that
//! the loops it wakes never drop a half-read `recv` future inside a `select!`. A notification can
//! be lost while the connection is down, so subscribers also hear `Wake::Reconnected`: they then
//! catch up as if notified (their poll fallback covers the time the database is unreachable).

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use ticket_nats::backoff::Backoff;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Channel that announces committed events (the sequencer's `Announcer` notifies it).
pub const INSERTED_CHANNEL: &str = "ticketd_events_inserted";
/// Channel the sequencer notifies, with the new head position as payload.
pub const POSITIONED_CHANNEL: &str = "ticketd_events_positioned";

/// What the listener saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A notification with this payload.
    Notified(String),
    /// The connection was (re)established; notifications may have been missed before it.
    Reconnected,
}

/// The latest wake-up on each of the event store's channels. Cheap to clone; every clone
/// follows the same connection. Subscribers see the latest value only: a wake-up means "look
/// at the store", and several that arrive together are looked at once.
#[derive(Debug, Clone)]
pub struct Notifications {
    inserted: watch::Sender<Wake>,
    positioned: watch::Sender<Wake>,
}

impl Notifications {
    /// Listens on the event store's channels until `shutdown`. The handle completes when the
    /// connection is closed.
    pub fn start(pool: PgPool, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let this = Self::new();
        let task = tokio::spawn(this.listen(pool, shutdown));
        (this, task)
    }

    /// Notifications that nothing feeds until [`Notifications::listen`] runs.
    pub fn new() -> Self {
        Self {
            inserted: watch::Sender::new(Wake::Reconnected),
            positioned: watch::Sender::new(Wake::Reconnected),
        }
    }

    /// The listening loop, until `shutdown`; may be run again after it ended (a supervisor
    /// restarting it): subscribers then hear `Wake::Reconnected` and look at the store.
    pub fn listen(
        &self,
        pool: PgPool,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let senders = self.clone();
        listen(
            pool,
            &[INSERTED_CHANNEL, POSITIONED_CHANNEL],
            shutdown,
            move |channel, wake| match channel {
                Some(INSERTED_CHANNEL) => {
                    senders.inserted.send_replace(wake);
                }
                Some(_) => {
                    senders.positioned.send_replace(wake);
                }
                None => {
                    senders.inserted.send_replace(wake.clone());
                    senders.positioned.send_replace(wake);
                }
            },
        )
    }

    /// Wakes whenever events were committed (`ticketd_events_inserted`): the sequencer's cue.
    pub fn inserted(&self) -> Wakeups {
        Wakeups(self.inserted.subscribe())
    }

    /// Wakes whenever events were positioned (`ticketd_events_positioned`, the payload is the
    /// new head): the cue of everything that follows positions.
    pub fn positioned(&self) -> Wakeups {
        Wakeups(self.positioned.subscribe())
    }
}

impl Default for Notifications {
    fn default() -> Self {
        Self::new()
    }
}

/// One subscriber's view of a channel.
#[derive(Debug)]
pub struct Wakeups(watch::Receiver<Wake>);

impl Wakeups {
    /// Waits for the next wake-up after the last one seen, and returns it. Pends forever once the
    /// listener is gone (at shutdown), so callers keep their own timeouts.
    pub async fn next(&mut self) -> Wake {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.0.borrow_and_update().clone()
    }

    /// Marks everything so far as seen: what arrives from now on wakes [`Wakeups::next`].
    pub fn mark_seen(&mut self) {
        self.0.borrow_and_update();
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens on `channels` until `shutdown`, calling `on_wake` with the channel for every
/// notification, and with `None` after every (re)connection.
async fn listen(
    pool: PgPool,
    channels: &'static [&'static str],
    shutdown: CancellationToken,
    mut on_wake: impl FnMut(Option<&str>, Wake) + Send,
) {
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    'connect: loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all(channels.iter().copied()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = shutdown.cancelled() => return,
            result = connected => match result {
                Ok(listener) => listener,
                Err(error) => {
                    if matches!(error, sqlx::Error::PoolClosed) {
                        return;
                    }
                    let pause = backoff.next_pause();
                    tracing::warn!(%error, ?channels, retry_in_ms = pause.as_millis() as u64,
                        "cannot listen for notifications; polling meanwhile");
                    if sleep_or_cancel(pause, &shutdown).await {
                        return;
                    }
                    continue 'connect;
                }
            },
        };
        tracing::debug!(?channels, "listening");
        on_wake(None, Wake::Reconnected);
        backoff.reset();
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => {
                    let mut notification = Some(notification);
                    // Hand over whatever else already arrived without waiting again.
                    while let Some(n) = notification.or_else(|| listener.next_buffered()) {
                        on_wake(Some(n.channel()), Wake::Notified(n.payload().to_string()));
                        notification = None;
                    }
                }
                // The connection dropped and was re-established: something may have been missed.
                Ok(None) => {
                    tracing::info!(?channels, "listener reconnected");
                    on_wake(None, Wake::Reconnected);
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, ?channels, "listener failed; reconnecting");
                    if sleep_or_cancel(backoff.next_pause(), &shutdown).await {
                        return;
                    }
                    continue 'connect;
                }
            }
        }
    }
}

/// Sleeps for `duration`; true when `shutdown` fired first.
pub async fn sleep_or_cancel(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}
