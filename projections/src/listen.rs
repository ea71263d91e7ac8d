//! The event store's notifications, over one `LISTEN` connection per process.
//!
//! Postgres signals every listening backend on each commit that notifies, so each extra listener
//! costs a process wake-up per command. The sequencer, the projectors, the WebSocket feed and the
//! NATS relay therefore share one [`Notifications`]. Its connection runs in its own task, so that
//! the loops it wakes never drop a half-read `recv` future inside a `select!`. A notification can
//! be lost while the connection is down, so subscribers also hear `Wake::Reconnected`: they then
//! catch up as if notified (their poll fallback covers the time the database is unreachable).
//!
//! The same wake-ups are also given in-process, without the round trip through Postgres: the
//! append workers wake this process's sequencer right after their commit
//! ([`Notifications::committed_here`]), and the sequencer wakes this process's followers right
//! after its batch committed ([`Notifications::positioned_here`]). The `NOTIFY`s still go out for
//! the other instances; a head that was already announced wakes nobody a second time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    positioned: watch::Sender<Positioned>,
    /// Whether this process's sequencer holds the lead: then it is the only one that needs to
    /// hear of this process's commits, and hears of them in-process.
    sequencing_here: Arc<AtomicBool>,
}

/// The latest wake-up on the positioned channel and the highest head announced so far, kept
/// together so that a head is compared and announced under the channel's lock.
#[derive(Debug, Clone)]
struct Positioned {
    wake: Wake,
    head: i64,
}

impl Positioned {
    /// Takes `wake`, unless it announces a head no higher than one already announced (the
    /// sequencer's own in-process wake-up and its `NOTIFY` say the same thing): true when taken.
    fn take(&mut self, wake: Wake) -> bool {
        if let Wake::Notified(payload) = &wake {
            if let Ok(head) = payload.parse::<i64>() {
                if head <= self.head {
                    return false;
                }
                self.head = head;
            }
        }
        self.wake = wake;
        true
    }
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
            positioned: watch::Sender::new(Positioned {
                wake: Wake::Reconnected,
                head: 0,
            }),
            sequencing_here: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The listening loop, until `shutdown`; may be run again after it ended (a supervisor
    /// restarting it): subscribers then hear `Wake::Reconnected` and look at the store.
    pub fn listen(
        &self,
        pool: PgPool,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        listen(
            pool,
            &[INSERTED_CHANNEL, POSITIONED_CHANNEL],
            shutdown,
            self.listen_dispatch(),
        )
    }

    /// Hands what the listener saw (the channel, or `None` after a reconnection) to the
    /// subscribers.
    fn listen_dispatch(&self) -> impl FnMut(Option<&str>, Wake) + Send + 'static {
        let senders = self.clone();
        move |channel, wake| match channel {
            Some(INSERTED_CHANNEL) => {
                senders.inserted.send_replace(wake);
            }
            Some(_) => {
                senders.positioned.send_if_modified(|p| p.take(wake));
            }
            None => {
                senders.inserted.send_replace(wake.clone());
                senders.positioned.send_if_modified(|p| p.take(wake));
            }
        }
    }

    /// Wakes whenever events were committed (`ticketd_events_inserted`): the sequencer's cue.
    pub fn inserted(&self) -> Wakeups {
        Wakeups(Channel::Inserted(self.inserted.subscribe()))
    }

    /// Wakes whenever events were positioned (`ticketd_events_positioned`, the payload is the
    /// new head): the cue of everything that follows positions.
    pub fn positioned(&self) -> Wakeups {
        Wakeups(Channel::Positioned(self.positioned.subscribe()))
    }

    /// Tells this process's sequencer that events were committed (call after the commit).
    /// Returns whether that sequencer leads: then no other instance needs to be told.
    pub fn committed_here(&self) -> bool {
        self.inserted.send_replace(Wake::Notified(String::new()));
        self.sequencing_here.load(Ordering::Acquire)
    }

    /// Tells this process's followers that events up to `head` were positioned (call after the
    /// batch committed: a follower woken by it reads the store at once).
    pub fn positioned_here(&self, head: i64) {
        self.positioned
            .send_if_modified(|p| p.take(Wake::Notified(head.to_string())));
    }

    /// Records whether this process's sequencer holds the lead.
    pub fn set_sequencing_here(&self, leading: bool) {
        self.sequencing_here.store(leading, Ordering::Release);
    }
}

impl Default for Notifications {
    fn default() -> Self {
        Self::new()
    }
}

/// One subscriber's view of a channel.
#[derive(Debug)]
pub struct Wakeups(Channel);

#[derive(Debug)]
enum Channel {
    Inserted(watch::Receiver<Wake>),
    Positioned(watch::Receiver<Positioned>),
}

impl Wakeups {
    /// Waits for the next wake-up after the last one seen, and returns it. Pends forever once the
    /// listener is gone (at shutdown), so callers keep their own timeouts.
    pub async fn next(&mut self) -> Wake {
        let changed = match &mut self.0 {
            Channel::Inserted(rx) => rx.changed().await,
            Channel::Positioned(rx) => rx.changed().await,
        };
        if changed.is_err() {
            std::future::pending::<()>().await;
        }
        match &mut self.0 {
            Channel::Inserted(rx) => rx.borrow_and_update().clone(),
            Channel::Positioned(rx) => rx.borrow_and_update().wake.clone(),
        }
    }

    /// Marks everything so far as seen: what arrives from now on wakes [`Wakeups::next`].
    pub fn mark_seen(&mut self) {
        match &mut self.0 {
            Channel::Inserted(rx) => {
                rx.borrow_and_update();
            }
            Channel::Positioned(rx) => {
                rx.borrow_and_update();
            }
        }
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

/// The gap of [`Pace`] for the followers of the store (projectors, rules, mail out): a few
/// milliseconds, against the 5 ms every wake-up once waited (ADR 0037, 0041).
pub const TURN_GAP: Duration = Duration::from_millis(3);

/// Spaces a follower's turns: a turn that would begin less than `gap` after the last one began
/// waits out the rest first. While commands arrive one by one, each wake-up then finds a few
/// events instead of one, and a turn's fixed statements (lock, checkpoint, commit) are shared by
/// them; a follower woken after an idle spell starts at once.
#[derive(Debug)]
pub struct Pace {
    gap: Duration,
    // Tokio's clock, which tests can pause.
    last: Option<tokio::time::Instant>,
}

impl Pace {
    /// Turns at least `gap` apart; the first starts at once.
    pub fn new(gap: Duration) -> Self {
        Self { gap, last: None }
    }

    /// Waits out the rest of the gap, then marks the start of this turn; true when `shutdown`
    /// has fired, before or meanwhile.
    pub async fn turn(&mut self, shutdown: &CancellationToken) -> bool {
        if shutdown.is_cancelled() {
            return true;
        }
        let rest = self
            .last
            .map_or(Duration::ZERO, |at| self.gap.saturating_sub(at.elapsed()));
        if !rest.is_zero() && sleep_or_cancel(rest, shutdown).await {
            return true;
        }
        self.last = Some(tokio::time::Instant::now());
        false
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn turns_start_at_once_after_a_pause_and_a_gap_apart_when_close() {
        let stop = CancellationToken::new();
        let mut pace = Pace::new(Duration::from_millis(3));
        let started = tokio::time::Instant::now();

        assert!(!pace.turn(&stop).await);
        let first = started.elapsed();
        assert!(!pace.turn(&stop).await);
        let second = started.elapsed();
        tokio::time::advance(Duration::from_millis(10)).await;
        let idle = tokio::time::Instant::now();
        assert!(!pace.turn(&stop).await);
        let after_idle = idle.elapsed();
        stop.cancel();
        let stopped = pace.turn(&stop).await;

        assert_eq!(first, Duration::ZERO, "the first turn starts at once");
        assert!(second >= Duration::from_millis(3), "{second:?}");
        assert_eq!(
            after_idle,
            Duration::ZERO,
            "a turn after an idle spell starts at once"
        );
        assert!(stopped, "a shutdown ends the wait");
    }

    #[test]
    fn this_processs_commits_wake_its_sequencer_without_the_listener() {
        let notifications = Notifications::new();
        let mut inserted = notifications.inserted();

        assert!(
            !notifications.committed_here(),
            "no sequencer leads here yet"
        );
        assert!(inserted.next().now_or_never().is_some(), "woken at once");
        notifications.set_sequencing_here(true);
        assert!(notifications.committed_here(), "the leader is here");
        assert!(inserted.next().now_or_never().is_some(), "woken at once");
        assert!(inserted.next().now_or_never().is_none(), "one wake-up each");
    }

    #[test]
    fn a_head_announced_in_process_wakes_followers_once() {
        let notifications = Notifications::new();
        let mut positioned = notifications.positioned();

        notifications.positioned_here(7);
        let first = positioned.next().now_or_never();
        // The sequencer's own `NOTIFY` of the same batch, then of an older one, arrive later.
        let mut listen = notifications.listen_dispatch();
        listen(Some(POSITIONED_CHANNEL), Wake::Notified("7".into()));
        listen(Some(POSITIONED_CHANNEL), Wake::Notified("5".into()));
        let repeated = positioned.next().now_or_never();
        listen(Some(POSITIONED_CHANNEL), Wake::Notified("9".into()));
        let newer = positioned.next().now_or_never();
        listen(None, Wake::Reconnected);
        let reconnected = positioned.next().now_or_never();

        assert_eq!(first, Some(Wake::Notified("7".into())));
        assert_eq!(repeated, None, "a head already announced wakes nobody");
        assert_eq!(newer, Some(Wake::Notified("9".into())));
        assert_eq!(
            reconnected,
            Some(Wake::Reconnected),
            "a reconnection always wakes"
        );
    }
}
