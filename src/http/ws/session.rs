//! One connection's session: a `select!` loop over the hub's broadcast, the client's frames,
//! shutdown, the token's expiry and pings; `since` replays from the store.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::StreamExt;
use sqlx::PgPool;
use ticket_projections::read_models::Viewer;
use ticket_projections::stored::read_tickets_after;
use ticket_projections::StoredEvent;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;
use uuid::Uuid;

use super::protocol::{code, error_frame, subscribed_frame, ClientFrame, Refusal, WsChannel, PONG};
use super::routing::{redacted, route_name, MeTickets, Redacted, Routes};
use super::writer::{read, write, Flow};
use crate::auth::Caller;
use crate::hub::{event_frame, FeedEvent, Hub, METRIC_PUSHED};
use crate::{policy, views};

/// How long a `since` replay may wait for the client to make room in its queue.
const REPLAY_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a subscribe waits for the hub's feed to know the head (only right after start-up).
const HEAD_WAIT: Duration = Duration::from_secs(5);

/// Why a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// The engine is stopping: 1001.
    Shutdown,
    /// The token expired: 1008.
    Expired,
    /// The client fell behind: 1013.
    Slow,
    /// The store could not be read mid-replay: 1013.
    Unavailable,
}

/// One connection's state.
struct Session {
    hub: Hub,
    pool: PgPool,
    caller: Caller,
    /// Subscribed channels, each with the position after which it wants events.
    channels: BTreeMap<WsChannel, i64>,
    /// Every event up to here has been considered for every channel; `None` before the first
    /// subscribe.
    cursor: Option<i64>,
    /// Position of the last event frame sent (0 before any).
    last_sent: i64,
    /// Followed while `me` is subscribed.
    me: Option<MeTickets>,
    /// Outgoing frames, to the writer task.
    out: mpsc::Sender<Message>,
    /// How many of them the client has read.
    flow: Arc<Flow>,
    /// Who the caller is to the read policy: a token's role does not change while the
    /// connection is open, so this is decided once.
    audience: Viewer,
    /// [`METRIC_PUSHED`], resolved once rather than per frame.
    pushed: metrics::Counter,
}

/// One span per connection; the session loop over the broadcast, client frames and shutdown.
#[tracing::instrument(name = "ws", skip_all, fields(user_id = %caller.id, role = %caller.role))]
pub(super) async fn run(
    socket: WebSocket,
    hub: Hub,
    pool: PgPool,
    caller: Caller,
    expires_at: Instant,
) {
    let _counted = hub.connection();
    // Subscribed before anything else, so that nothing broadcast from here on is missed.
    let events = hub.subscribe();
    let config = hub.config().clone();
    let (sink, stream) = socket.split();
    let capacity = config.queue_capacity.max(1);
    let (out, queue) = mpsc::channel(capacity);
    let (urgent, urgent_rx) = oneshot::channel();
    let flow = Arc::new(Flow::default());
    let mut writer = tokio::spawn(
        write(
            sink,
            queue,
            urgent_rx,
            config.close_grace,
            flow.clone(),
            (capacity / 4).max(1) as u64,
        )
        .instrument(tracing::Span::current()),
    );
    // Pongs are taken in by a task of their own, so that they count while the session waits
    // (a `since` replay waits for the client to read).
    let (inbox, incoming) = mpsc::channel(CLIENT_FRAMES_WAITING);
    let reader = AbortOnDrop(tokio::spawn(read(stream, inbox, flow.clone())));
    tracing::debug!("WebSocket opened");

    let mut session = Session {
        hub,
        pool,
        audience: policy::viewer(&caller),
        caller,
        channels: BTreeMap::new(),
        cursor: None,
        last_sent: 0,
        me: None,
        out,
        flow,
        pushed: metrics::counter!(METRIC_PUSHED),
    };
    let end = session.serve(incoming, events, expires_at).await;
    let close = |code: u16, reason: &'static str| CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let frame = match end {
        End::Gone => None,
        End::Shutdown => Some((close(code::AWAY, "server shutting down"), false)),
        End::Expired => Some((close(code::POLICY, "token expired"), false)),
        End::Unavailable => Some((
            close(code::AGAIN, "event store unavailable; resume with since"),
            false,
        )),
        End::Slow => {
            session.hub.record_closed_slow();
            // What is queued will not be read in time anyway: close at once.
            Some((
                close(code::AGAIN, "too far behind; resume with since"),
                true,
            ))
        }
    };
    tracing::debug!(?end, last_sent = session.last_sent, "WebSocket closing");
    if let Some((frame, at_once)) = frame {
        // Behind what is already queued, unless that cannot wait or does not fit.
        if at_once {
            let _ = urgent.send(frame);
        } else if let Err(mpsc::error::TrySendError::Full(Message::Close(Some(frame)))) =
            session.out.try_send(Message::Close(Some(frame)))
        {
            let _ = urgent.send(frame);
        }
    }
    let session_hub = session.hub.clone();
    drop(session);
    // Bounded: a client that reads nothing cannot keep its task alive.
    let grace = config.close_grace + Duration::from_secs(1);
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
    // The socket stays open until the client answers our Close with its own (the reader ends
    // on it): closed earlier, the Pongs and the Close a client sends while it reads its backlog
    // would hit a closed socket and reset the connection, and the client would never read the
    // Close frame and its code. A client closed for not reading may take long to read again:
    // it gets longer (the reader only takes in what it sends), unless the engine is stopping.
    let linger = if end == End::Slow {
        config.slow_close_linger.max(config.close_grace)
    } else {
        config.close_grace
    };
    let mut reader = reader;
    let mut stopping = session_hub.shutdown_signal();
    tokio::select! {
        _ = tokio::time::timeout(linger, &mut reader.0) => {}
        _ = stopping.wait_for(|s| *s), if end == End::Slow => {}
    }
    tracing::debug!("WebSocket closed");
}

/// Most live events a session handles before it looks at its other inputs again.
const MAX_BURST: usize = 64;

/// Why the broadcast gave no event: the connection fell behind it, or the hub is gone.
fn lost(error: RecvError) -> End {
    match error {
        RecvError::Lagged(skipped) => {
            tracing::debug!(skipped, "fell behind the hub's broadcast");
            End::Slow
        }
        RecvError::Closed => End::Shutdown,
    }
}

/// Client frames (other than Pongs) the reader hands to the session ahead of it.
const CLIENT_FRAMES_WAITING: usize = 16;

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Session {
    async fn serve(
        &mut self,
        mut incoming: mpsc::Receiver<Option<Result<Message, axum::Error>>>,
        mut events: broadcast::Receiver<Arc<FeedEvent>>,
        expires_at: Instant,
    ) -> End {
        let mut shutdown = self.hub.shutdown_signal();
        let expiry = tokio::time::sleep_until(expires_at);
        tokio::pin!(expiry);
        let every = self.hub.config().ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        enum Input {
            Stop,
            Expired,
            Live(Result<Arc<FeedEvent>, RecvError>),
            Frame(Option<Result<Message, axum::Error>>),
            Ping,
        }
        loop {
            let input = tokio::select! {
                _ = shutdown.wait_for(|stopping| *stopping) => Input::Stop,
                () = &mut expiry => Input::Expired,
                received = events.recv() => Input::Live(received),
                // `None`: the reader stopped, which it does only after the end of the stream.
                frame = incoming.recv() => Input::Frame(frame.flatten()),
                _ = ping.tick() => Input::Ping,
            };
            let step = match input {
                Input::Stop => Err(End::Shutdown),
                Input::Expired => Err(End::Expired),
                Input::Live(Ok(event)) => self.on_live_burst(&event, &mut events),
                Input::Live(Err(error)) => Err(lost(error)),
                Input::Frame(Some(Ok(Message::Text(text)))) => {
                    self.on_text(text.as_str(), &mut shutdown).await
                }
                Input::Frame(Some(Ok(Message::Binary(_)))) => self.refuse(Refusal::new(
                    "bad_request",
                    "binary frames are not supported; send JSON text frames",
                )),
                Input::Frame(Some(Ok(Message::Close(_))) | None) => Err(End::Gone),
                // Pings are answered by the WebSocket layer; pongs need nothing.
                Input::Frame(Some(Ok(_))) => Ok(()),
                Input::Frame(Some(Err(error))) => {
                    tracing::debug!(%error, "WebSocket read failed");
                    Err(End::Gone)
                }
                Input::Ping => self.push(Message::Ping(Bytes::new())),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Queues a frame without waiting: a client with a queue's worth of frames unread is too
    /// slow.
    fn push(&self, message: Message) -> Result<(), End> {
        if self.flow.unread(&self.out) >= self.out.max_capacity() {
            return Err(End::Slow);
        }
        self.out.try_send(message).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => End::Slow,
            mpsc::error::TrySendError::Closed(_) => End::Gone,
        })
    }

    /// Queues a replayed frame, waiting (bounded) until the client has read enough to make
    /// room: a replay is as fast as the client.
    async fn push_replay(
        &self,
        message: Message,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), End> {
        let give_up = tokio::time::sleep(REPLAY_SEND_TIMEOUT);
        tokio::pin!(give_up);
        loop {
            // Registered before looking, so a Pong between the look and the wait still wakes.
            let progress = self.flow.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.flow.unread(&self.out) < self.out.max_capacity() {
                break;
            }
            tokio::select! {
                () = &mut progress => {}
                _ = shutdown.wait_for(|stopping| *stopping) => return Err(End::Shutdown),
                () = &mut give_up => return Err(End::Slow),
            }
        }
        tokio::select! {
            sent = self.out.send(message) => sent.map_err(|_| End::Gone),
            _ = shutdown.wait_for(|stopping| *stopping) => Err(End::Shutdown),
            () = &mut give_up => Err(End::Slow),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Result<(), End> {
        self.push(Message::text(error_frame(&refusal)))
    }

    async fn on_text(
        &mut self,
        text: &str,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), End> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(error) => {
                return self.refuse(Refusal::new(
                    "bad_request",
                    format!("invalid message: {error}"),
                ))
            }
        };
        match frame {
            ClientFrame::Ping => self.push(Message::text(PONG)),
            ClientFrame::Subscribe { channels, since } => {
                self.subscribe(channels, since, shutdown).await
            }
            ClientFrame::Unsubscribe { channels } => {
                for name in channels {
                    if let Ok(channel) = WsChannel::parse(&name) {
                        self.channels.remove(&channel);
                        if channel == WsChannel::Me {
                            self.me = None;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    async fn subscribe(
        &mut self,
        names: Vec<String>,
        since: Option<i64>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), End> {
        if names.is_empty() {
            return self.refuse(Refusal::new("bad_request", "channels must not be empty"));
        }
        if since.is_some_and(|s| s < 0) {
            return self.refuse(Refusal::new("bad_request", "since must be a position >= 0"));
        }
        if let Some(since) = since.filter(|s| *s < self.last_sent) {
            return self.refuse(Refusal::new(
                "bad_request",
                format!(
                    "since {since} is before position {} that this connection already sent; \
                     replay on a new connection",
                    self.last_sent
                ),
            ));
        }
        // Authorize each channel; refused ones get an error frame and no subscription.
        let mut accepted: Vec<WsChannel> = Vec::new();
        for name in &names {
            let checked = match WsChannel::parse(name) {
                Ok(channel) => self.authorize(channel).await.map(|()| channel),
                Err(refusal) => Err(refusal),
            };
            match checked {
                Ok(channel) if !accepted.contains(&channel) => accepted.push(channel),
                Ok(_) => {}
                Err(refusal) => self.refuse(refusal)?,
            }
        }
        if accepted.is_empty() {
            return Ok(());
        }
        let total = self
            .channels
            .keys()
            .chain(accepted.iter())
            .collect::<HashSet<_>>()
            .len();
        if total > self.hub.config().max_channels {
            return self.refuse(Refusal::new(
                "bad_request",
                format!(
                    "at most {} channels per connection",
                    self.hub.config().max_channels
                ),
            ));
        }
        let cursor = match self.cursor {
            Some(cursor) => cursor,
            None => match self.head(shutdown).await {
                Ok(head) => head,
                Err(refusal) => return self.refuse(refusal),
            },
        };
        let start = since.unwrap_or(cursor);
        if accepted.contains(&WsChannel::Me) {
            match MeTickets::load(&self.pool, &self.caller, start).await {
                Ok(me) => self.me = Some(me),
                Err(error) => {
                    tracing::warn!(%error, "cannot load the caller's tickets");
                    return self.refuse(Refusal::unavailable());
                }
            }
        }
        // The channels already there have seen everything up to the cursor.
        for from in self.channels.values_mut() {
            *from = (*from).max(cursor);
        }
        for channel in &accepted {
            self.channels.insert(*channel, start);
        }
        self.cursor = Some(cursor);
        if since.is_some() {
            self.replay(start.min(cursor), shutdown).await?;
        }
        self.push(Message::text(subscribed_frame(
            &accepted,
            self.cursor.unwrap_or(cursor),
        )))
    }

    /// The hub's head, waiting briefly for the feed right after start-up.
    async fn head(
        &self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<i64, Refusal> {
        let mut head = self.hub.head_watch();
        tokio::select! {
            known = tokio::time::timeout(HEAD_WAIT, head.wait_for(|h| *h >= 0)) => match known {
                Ok(Ok(head)) => Ok(*head),
                _ => Err(Refusal::unavailable()),
            },
            _ = shutdown.wait_for(|stopping| *stopping) => Err(Refusal::unavailable()),
        }
    }

    /// May the caller follow this channel?
    async fn authorize(&self, channel: WsChannel) -> Result<(), Refusal> {
        match channel {
            WsChannel::Board | WsChannel::Stats if !policy::reads_every_ticket(&self.caller) => {
                Err(Refusal::new(
                    "forbidden",
                    "this channel is for agents, admins and auditors",
                ))
            }
            WsChannel::Board | WsChannel::Stats | WsChannel::Me => Ok(()),
            WsChannel::Ticket(id) => match views::ticket_requester(&self.pool, id).await {
                Ok(Some(requester)) => {
                    let viewer = policy::viewer(&self.caller);
                    match views::may_read(&self.pool, viewer, requester).await {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(Refusal::ticket_not_found()),
                        Err(error) => {
                            tracing::warn!(%error, "cannot look a requester up");
                            Err(Refusal::unavailable())
                        }
                    }
                }
                Ok(None) => Err(Refusal::ticket_not_found()),
                Err(error) => {
                    tracing::warn!(%error, "cannot look a ticket up");
                    Err(Refusal::unavailable())
                }
            },
        }
    }

    /// The channels an event of `ticket` goes to, following `me`'s tickets on the way. Call
    /// once per event, in position order.
    fn route(&mut self, stored: &StoredEvent, ticket: Uuid) -> Routes {
        super::routing::route(
            &self.channels,
            self.me.as_mut(),
            self.audience,
            stored,
            ticket,
        )
    }

    /// Handles `first` and the events already broadcast after it (a feed page arrives at
    /// once), before looking at anything else: their frames are queued together, so the writer
    /// sends them in one write, and the other inputs are not polled once per event.
    fn on_live_burst(
        &mut self,
        first: &FeedEvent,
        events: &mut broadcast::Receiver<Arc<FeedEvent>>,
    ) -> Result<(), End> {
        self.on_live(first)?;
        for _ in 1..MAX_BURST {
            match events.try_recv() {
                Ok(event) => self.on_live(&event)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(skipped)) => return Err(lost(RecvError::Lagged(skipped))),
                Err(TryRecvError::Closed) => return Err(lost(RecvError::Closed)),
            }
        }
        Ok(())
    }

    fn on_live(&mut self, event: &FeedEvent) -> Result<(), End> {
        let position = event.position();
        match self.cursor {
            // Nothing subscribed yet, or already sent by a replay (or not covered then).
            None => return Ok(()),
            Some(cursor) if position <= cursor => return Ok(()),
            Some(_) => {}
        }
        self.cursor = Some(position);
        let Some(ticket) = event.ticket else {
            return Ok(());
        };
        let routes = self.route(&event.stored, ticket);
        if routes.is_empty() {
            return Ok(());
        }
        let redacted = redacted(self.audience, &event.stored.envelope);
        for route in routes.iter() {
            let frame = match &redacted {
                Redacted::Same => event.frame(route),
                Redacted::Dropped => return Ok(()),
                Redacted::Changed(json) => event_frame(&route_name(route, ticket), json).into(),
            };
            self.push(Message::Text(frame))?;
            self.last_sent = position;
            self.pushed.increment(1);
        }
        Ok(())
    }

    /// Sends, from the store, every event after `from` that the channels cover, until the store
    /// has nothing newer; the cursor ends at the last position read.
    async fn replay(
        &mut self,
        from: i64,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), End> {
        let batch = self.hub.config().batch_size.max(1);
        let mut after = from;
        loop {
            let page = match read_tickets_after(&self.pool, after, batch).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, after, "cannot replay events");
                    return Err(End::Unavailable);
                }
            };
            let full = page.read as i64 >= batch;
            after = page.last.unwrap_or(after);
            for stored in page.events {
                // A subject that is not a ticket id is carried by no channel.
                let ticket = Uuid::parse_str(&stored.envelope.subject).ok();
                let routes = match ticket {
                    Some(ticket) => self.route(&stored, ticket),
                    None => Routes::default(),
                };
                let redacted = if routes.is_empty() {
                    Redacted::Dropped
                } else {
                    redacted(self.audience, &stored.envelope)
                };
                if !matches!(redacted, Redacted::Dropped) {
                    let json = match redacted {
                        Redacted::Changed(json) => json,
                        _ => serde_json::to_string(&stored.envelope).unwrap_or_default(),
                    };
                    for route in routes.iter() {
                        self.push_replay(
                            Message::text(event_frame(
                                &route_name(route, ticket.unwrap_or_default()),
                                &json,
                            )),
                            shutdown,
                        )
                        .await?;
                        self.last_sent = stored.position;
                        self.pushed.increment(1);
                    }
                }
                if self.cursor.is_none_or(|c| stored.position > c) {
                    self.cursor = Some(stored.position);
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}
