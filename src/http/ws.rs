//! `GET /api/v1/ws`: live ticket events over a WebSocket (CONTRACT 3).
//!
//! # Handshake
//!
//! Refused before the upgrade: without a valid token (`Authorization: Bearer`, or the
//! `access_token` query parameter for browsers) → 401; with an `Origin` header that is neither
//! in `ALLOWED_ORIGINS` nor, when that list is empty, the server's own origin (`http(s)://` +
//! `Host`) → 403. The token is never logged: the request span records the path only.
//!
//! # Protocol (JSON text frames)
//!
//! - client: `{"op":"subscribe","channels":[…],"since":<position>?}`,
//!   `{"op":"unsubscribe","channels":[…]}` (no answer; send a `ping` after it to know it is
//!   done), `{"op":"ping"}`.
//! - server: `{"type":"subscribed","channels":[…],"position":<n>}`,
//!   `{"type":"event","channel":"…","event":<envelope>}`, `{"type":"error","code","message"}`,
//!   `{"type":"pong"}`.
//!
//! Channels: `board` and `stats` (agents, admins, auditors: every event; a requester gets the
//! error `forbidden`), `ticket:<id>` (that ticket's events if the caller may read it, else
//! `not_found`, exactly as for a ticket that does not exist), `me` (events of the tickets the
//! caller requested or is assigned to; assignments are followed as they happen, and the event
//! that assigns a ticket away from the caller is still sent to them).
//!
//! A requester never receives internal comments, nor any event of a ticket that is not theirs.
//!
//! An event that matches several channels of a connection is sent once per channel, each frame
//! naming its channel. So positions are strictly increasing per channel and never decrease on
//! the connection; each event reaches each channel at most once.
//!
//! # `since` and going live
//!
//! The connection subscribes to the hub's broadcast when it opens, before anything else. A
//! subscribe with `since` first replays from the store every event after `since` that the new
//! channels cover (and anything after the connection's position for the channels it already
//! had), in pages; then `subscribed` names the position through which the connection is caught
//! up, and live events at or below it are dropped: no gap, no duplicate. Without `since`, live
//! delivery continues after the connection's position (the hub's head for a first subscribe). A
//! `since` below the last position this connection already sent would break the order and is
//! refused (`bad_request`): replay on a new connection.
//!
//! # Closing
//!
//! 1001 when the engine stops; 1008 when the token expires; 1013 ("try again later", resume with
//! `since`) when the client falls behind (its queue of outgoing frames is full, or it lagged
//! behind the hub's broadcast) or when the store cannot be read during a replay. Messages and
//! frames over 64 KiB are refused by the WebSocket layer. A WebSocket Ping goes out every 30 s.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cqrs_es::Aggregate;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use ticket_nats::TicketEvent;
use ticket_projections::stored::read_after;
use ticket_projections::StoredEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;
use uuid::Uuid;

use super::caller::caller_from_parts;
use super::error::{ApiError, Problem};
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::{Role, Ticket};
use crate::hub::{event_frame, FeedEvent, Hub, METRIC_PUSHED};

/// Close codes (RFC 6455 §7.4.1 and the IANA registry).
mod code {
    /// The engine is going away.
    pub const AWAY: u16 = 1001;
    /// Policy violation: the token expired.
    pub const POLICY: u16 = 1008;
    /// Try again later: the client fell behind, or the store is unavailable.
    pub const AGAIN: u16 = 1013;
}

/// How long a `since` replay may wait for the client to make room in its queue.
const REPLAY_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a subscribe waits for the hub's feed to know the head (only right after start-up).
const HEAD_WAIT: Duration = Duration::from_secs(5);

/// `/ws`, merged under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(connect))
}

/// Opens the live event stream.
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", operation_id = "open_websocket",
    description = "WebSocket upgrade. Client frames: `{\"op\":\"subscribe\",\"channels\":[...],\"since\":<position>?}`, \
`{\"op\":\"unsubscribe\",\"channels\":[...]}`, `{\"op\":\"ping\"}`. Server frames: `subscribed`, `event`, `error`, `pong`. \
Channels: `board`, `stats`, `ticket:<id>`, `me`. Closes with 1001 on shutdown, 1008 when the token expires, 1013 when the client falls behind.",
    params(("access_token" = Option<String>, Query,
        description = "the bearer token, for clients that cannot set the Authorization header (browsers)")),
    responses(
        (status = 101, description = "switching to the WebSocket protocol"),
        (status = 401, description = "no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "the Origin header is not allowed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn connect(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let caller = match caller_from_parts(&parts, &state.auth).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    // The token was verified just now; its `exp` decides when the connection must end.
    let Some(expires_at) = raw_token(&parts).as_deref().and_then(token_expiry) else {
        return ApiError::Unauthorized("token claim exp missing".into()).into_response();
    };
    if !origin_allowed(&parts, &state.settings.allowed_origins) {
        return ApiError::Forbidden("this Origin may not open a WebSocket".into()).into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let status = rejection.status();
            return problem(status, "websocket-upgrade", rejection.body_text());
        }
    };
    let hub = state.hub.clone();
    let pool = state.pool.clone();
    let max = hub.config().max_message_size;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run(socket, hub, pool, caller, expires_at))
}

fn problem(status: StatusCode, kind: &str, detail: String) -> Response {
    let body = Problem {
        kind: format!("https://ticketd.dev/problems/{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        errors: None,
    };
    let mut response = (status, serde_json::to_vec(&body).unwrap_or_default()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// The token `caller_from_parts` verified: the `Authorization` header's when there is
/// one, else the last `access_token` query parameter.
fn raw_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    let Query(query) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).ok()?;
    query
        .into_iter()
        .rev()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.trim().to_string())
}

/// When a token expires, as an instant of the runtime's clock. Only for a token that has been
/// verified already: the signature is not checked again here.
fn token_expiry(token: &str) -> Option<Instant> {
    let mut validation = jsonwebtoken::Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&[]),
        &validation,
    )
    .ok()?
    .claims;
    let exp = claims.get("exp")?.as_f64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let left = Duration::try_from_secs_f64((exp - now).max(0.0)).ok()?;
    Some(Instant::now() + left)
}

/// CONTRACT 3: the `Origin` header, when present, must be in the allow-list (`*` allows any), or
/// equal the server's own origin when the list is empty.
fn origin_allowed(parts: &Parts, allowed: &[String]) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        // Not a browser: the token alone decides.
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if !allowed.is_empty() {
        return allowed
            .iter()
            .any(|a| a == "*" || a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin));
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    host.is_some_and(|host| {
        ["http://", "https://"]
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")))
    })
}

// ---------------------------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------------------------

/// A client frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Subscribe {
        channels: Vec<String>,
        #[serde(default)]
        since: Option<i64>,
    },
    Unsubscribe {
        channels: Vec<String>,
    },
    Ping,
}

/// A channel a connection can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Channel {
    Board,
    Stats,
    Me,
    Ticket(Uuid),
}

impl Channel {
    fn parse(name: &str) -> Result<Self, Refusal> {
        match name {
            "board" => Ok(Self::Board),
            "stats" => Ok(Self::Stats),
            "me" => Ok(Self::Me),
            other => match other.strip_prefix("ticket:") {
                // A malformed id names no ticket: the same answer as a missing one.
                Some(id) => Uuid::parse_str(id)
                    .map(Self::Ticket)
                    .map_err(|_| Refusal::ticket_not_found()),
                None => Err(Refusal::new(
                    "bad_request",
                    format!(
                        "unknown channel '{}': use board, stats, me or ticket:<id>",
                        other.chars().take(80).collect::<String>()
                    ),
                )),
            },
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Board => "board".into(),
            Self::Stats => "stats".into(),
            Self::Me => "me".into(),
            Self::Ticket(id) => format!("ticket:{id}"),
        }
    }
}

/// An `error` frame's content.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn ticket_not_found() -> Self {
        Self::new("not_found", "ticket not found")
    }

    fn unavailable() -> Self {
        Self::new(
            "unavailable",
            "the event store is unavailable; retry shortly",
        )
    }
}

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

/// The tickets behind the `me` channel.
#[derive(Debug, Default)]
struct MeTickets {
    requested: HashSet<Uuid>,
    assigned: HashSet<Uuid>,
    /// Requesters are never assignees; a requester token for a user who once was an agent must
    /// not see those tickets, so assignments are not followed for them.
    follow_assignments: bool,
}

impl MeTickets {
    fn contains(&self, ticket: &Uuid) -> bool {
        self.requested.contains(ticket) || self.assigned.contains(ticket)
    }

    fn apply(&mut self, ticket: Uuid, event: &TicketEvent, me: Uuid) {
        match event {
            TicketEvent::Created(created) if created.requester.id == me => {
                self.requested.insert(ticket);
            }
            TicketEvent::Assigned(assigned) if self.follow_assignments => {
                if assigned.assignee.id == me {
                    self.assigned.insert(ticket);
                } else {
                    self.assigned.remove(&ticket);
                }
            }
            _ => {}
        }
    }
}

/// One connection's state.
struct Session {
    hub: Hub,
    pool: PgPool,
    caller: Caller,
    /// Subscribed channels, each with the position after which it wants events.
    channels: BTreeMap<Channel, i64>,
    /// Every event up to here has been considered for every channel; `None` before the first
    /// subscribe.
    cursor: Option<i64>,
    /// Position of the last event frame sent (0 before any).
    last_sent: i64,
    /// Followed while `me` is subscribed.
    me: Option<MeTickets>,
    /// Outgoing frames, to the writer task.
    out: mpsc::Sender<Message>,
}

/// One span per connection; the session loop over the broadcast, client frames and shutdown.
#[tracing::instrument(name = "ws", skip_all, fields(user_id = %caller.id, role = %caller.role))]
async fn run(socket: WebSocket, hub: Hub, pool: PgPool, caller: Caller, expires_at: Instant) {
    let _counted = hub.connection();
    // Subscribed before anything else, so that nothing broadcast from here on is missed.
    let events = hub.subscribe();
    let config = hub.config().clone();
    let (sink, stream) = socket.split();
    let (out, queue) = mpsc::channel(config.queue_capacity.max(1));
    let (urgent, urgent_rx) = oneshot::channel();
    let mut writer = tokio::spawn(
        write(sink, queue, urgent_rx, config.close_grace).instrument(tracing::Span::current()),
    );
    tracing::debug!("WebSocket opened");

    let mut session = Session {
        hub,
        pool,
        caller,
        channels: BTreeMap::new(),
        cursor: None,
        last_sent: 0,
        me: None,
        out,
    };
    let end = session.serve(stream, events, expires_at).await;
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
    drop(session);
    // Bounded: a client that reads nothing cannot keep its task alive.
    let grace = config.close_grace + Duration::from_secs(1);
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
    tracing::debug!("WebSocket closed");
}

/// Most frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Writes queued frames; on an urgent close frame drops the rest and closes at once.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut urgent: oneshot::Receiver<CloseFrame>,
    grace: Duration,
) {
    enum Step {
        Sent,
        Failed,
        Urgent(CloseFrame),
    }
    let mut urgent_open = true;
    loop {
        let message = tokio::select! {
            biased;
            frame = &mut urgent, if urgent_open => match frame {
                Ok(frame) => return close_now(&mut sink, frame, grace).await,
                Err(_) => {
                    urgent_open = false;
                    continue;
                }
            },
            message = queue.recv() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let mut closing = matches!(message, Message::Close(_));
        let step = {
            // Frames already queued go out with this one in a single write: events arrive in
            // bursts (a sequencer batch at a time), and a write per frame cost a system call
            // per frame and connection.
            let send = async {
                sink.feed(message).await?;
                let mut batched = 1;
                while !closing && batched < MAX_FRAMES_PER_WRITE {
                    let Ok(more) = queue.try_recv() else {
                        break;
                    };
                    closing = matches!(more, Message::Close(_));
                    sink.feed(more).await?;
                    batched += 1;
                }
                sink.flush().await
            };
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    frame = &mut urgent, if urgent_open => match frame {
                        Ok(frame) => break Step::Urgent(frame),
                        Err(_) => urgent_open = false,
                    },
                    sent = &mut send => break if sent.is_ok() { Step::Sent } else { Step::Failed },
                }
            }
        };
        match step {
            Step::Sent if !closing => {}
            Step::Sent => break,
            Step::Failed => return,
            Step::Urgent(frame) => return close_now(&mut sink, frame, grace).await,
        }
    }
    let _ = tokio::time::timeout(grace, sink.close()).await;
}

async fn close_now(sink: &mut SplitSink<WebSocket, Message>, frame: CloseFrame, grace: Duration) {
    let _ = tokio::time::timeout(grace, async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            let _ = sink.close().await;
        }
    })
    .await;
}

impl Session {
    async fn serve(
        &mut self,
        mut stream: SplitStream<WebSocket>,
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
                frame = stream.next() => Input::Frame(frame),
                _ = ping.tick() => Input::Ping,
            };
            let step = match input {
                Input::Stop => Err(End::Shutdown),
                Input::Expired => Err(End::Expired),
                Input::Live(Ok(event)) => self.on_live(&event),
                Input::Live(Err(RecvError::Lagged(skipped))) => {
                    tracing::debug!(skipped, "fell behind the hub's broadcast");
                    Err(End::Slow)
                }
                Input::Live(Err(RecvError::Closed)) => Err(End::Shutdown),
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

    /// Queues a frame without waiting: a full queue means the client is too slow.
    fn push(&self, message: Message) -> Result<(), End> {
        self.out.try_send(message).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => End::Slow,
            mpsc::error::TrySendError::Closed(_) => End::Gone,
        })
    }

    /// Queues a replayed frame, waiting (bounded) for room: a replay is as fast as the client.
    async fn push_replay(
        &self,
        message: Message,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), End> {
        tokio::select! {
            sent = self.out.send(message) => sent.map_err(|_| End::Gone),
            _ = shutdown.wait_for(|stopping| *stopping) => Err(End::Shutdown),
            () = tokio::time::sleep(REPLAY_SEND_TIMEOUT) => Err(End::Slow),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Result<(), End> {
        self.push(Message::text(
            json!({"type": "error", "code": refusal.code, "message": refusal.message}).to_string(),
        ))
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
            ClientFrame::Ping => self.push(Message::text(r#"{"type":"pong"}"#)),
            ClientFrame::Subscribe { channels, since } => {
                self.subscribe(channels, since, shutdown).await
            }
            ClientFrame::Unsubscribe { channels } => {
                for name in channels {
                    if let Ok(channel) = Channel::parse(&name) {
                        self.channels.remove(&channel);
                        if channel == Channel::Me {
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
        let mut accepted: Vec<Channel> = Vec::new();
        for name in &names {
            let checked = match Channel::parse(name) {
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
        if accepted.contains(&Channel::Me) {
            match load_me(&self.pool, &self.caller, start).await {
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
        let names: Vec<String> = accepted.iter().map(Channel::name).collect();
        self.push(Message::text(
            json!({"type": "subscribed", "channels": names, "position": self.cursor.unwrap_or(cursor)})
                .to_string(),
        ))
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
    async fn authorize(&self, channel: Channel) -> Result<(), Refusal> {
        match channel {
            Channel::Board | Channel::Stats if self.caller.role == Role::Requester => {
                Err(Refusal::new(
                    "forbidden",
                    "this channel is for agents, admins and auditors",
                ))
            }
            Channel::Board | Channel::Stats | Channel::Me => Ok(()),
            Channel::Ticket(id) => match ticket_requester(&self.pool, id).await {
                Ok(Some(requester)) => {
                    if self.caller.role.reads_everything() || requester == Some(self.caller.id) {
                        Ok(())
                    } else {
                        Err(Refusal::ticket_not_found())
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

    /// The channels an event goes to, following `me`'s tickets on the way. Call once per event,
    /// in position order.
    fn route(&mut self, stored: &StoredEvent) -> Vec<Channel> {
        let position = stored.position;
        let Ok(ticket) = Uuid::parse_str(&stored.envelope.subject) else {
            return Vec::new();
        };
        let me_id = self.caller.id;
        let (mine_before, mine_after) = match self.me.as_mut() {
            Some(me) => {
                let before = me.contains(&ticket);
                me.apply(ticket, &stored.event, me_id);
                (before, me.contains(&ticket))
            }
            None => (false, false),
        };
        // A requester never sees an internal comment, on any channel.
        if self.caller.role == Role::Requester && stored.envelope.is_internal() {
            return Vec::new();
        }
        self.channels
            .iter()
            .filter(|(_, from)| position > **from)
            .filter(|(channel, _)| match channel {
                // Only agents, admins and auditors hold these (see `authorize`).
                Channel::Board | Channel::Stats => true,
                // Also the event that assigns the ticket away, so the assignee hears of it.
                Channel::Me => mine_before || mine_after,
                Channel::Ticket(id) => *id == ticket,
            })
            .map(|(channel, _)| *channel)
            .collect()
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
        for channel in self.route(&event.stored) {
            self.push(Message::Text(event.frame(&channel.name())))?;
            self.last_sent = position;
            metrics::counter!(METRIC_PUSHED).increment(1);
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
            let page = match read_after(&self.pool, after, batch, None).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, after, "cannot replay events");
                    return Err(End::Unavailable);
                }
            };
            let full = page.len() as i64 >= batch;
            for stored in page {
                after = stored.position;
                let channels = self.route(&stored);
                if !channels.is_empty() {
                    let json = serde_json::to_string(&stored.envelope).unwrap_or_default();
                    for channel in channels {
                        self.push_replay(
                            Message::text(event_frame(&channel.name(), &json)),
                            shutdown,
                        )
                        .await?;
                        self.last_sent = stored.position;
                        metrics::counter!(METRIC_PUSHED).increment(1);
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

/// `Some(requester)` of an existing ticket (`None` inside when its `ticket.created` names no
/// readable requester), `None` for no such ticket. Committed events count, positioned or not:
/// a client may subscribe right after its command's answer.
async fn ticket_requester(
    pool: &PgPool,
    ticket: Uuid,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT payload->'requester'->>'id' FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
    )
    .bind(Ticket::TYPE)
    .bind(ticket.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(requester,)| requester.and_then(|r| Uuid::parse_str(&r).ok())))
}

/// The caller's tickets as of `position`: those they requested, and (for everyone but
/// requesters) those whose latest assignment up to `position` names them.
async fn load_me(pool: &PgPool, caller: &Caller, position: i64) -> Result<MeTickets, sqlx::Error> {
    let me = caller.id.to_string();
    let ids = |rows: Vec<(String,)>| -> HashSet<Uuid> {
        rows.into_iter()
            .filter_map(|(id,)| Uuid::parse_str(&id).ok())
            .collect()
    };
    // A requester never changes, so every ticket created for the caller counts, however new.
    let requested: Vec<(String,)> = sqlx::query_as(
        "SELECT aggregate_id FROM events
         WHERE aggregate_type = $1 AND event_type = 'ticket.created'
           AND payload->'requester'->>'id' = $2",
    )
    .bind(Ticket::TYPE)
    .bind(&me)
    .fetch_all(pool)
    .await?;
    let follow_assignments = caller.role != Role::Requester;
    let assigned: Vec<(String,)> = if follow_assignments {
        sqlx::query_as(
            "SELECT aggregate_id FROM (
                 SELECT DISTINCT ON (aggregate_id) aggregate_id,
                        payload->'assignee'->>'id' AS assignee
                 FROM events
                 WHERE aggregate_type = $1 AND event_type = 'ticket.assigned'
                   AND position <= $3
                   AND aggregate_id IN (
                       SELECT aggregate_id FROM events
                       WHERE aggregate_type = $1 AND event_type = 'ticket.assigned'
                         AND payload->'assignee'->>'id' = $2)
                 ORDER BY aggregate_id, sequence DESC
             ) latest
             WHERE assignee = $2",
        )
        .bind(Ticket::TYPE)
        .bind(&me)
        .bind(position)
        .fetch_all(pool)
        .await?
    } else {
        Vec::new()
    };
    Ok(MeTickets {
        requested: ids(requested),
        assigned: ids(assigned),
        follow_assignments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut builder = HttpRequest::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_origin_must_be_the_servers_own_when_no_list_is_configured() {
        let same = parts(
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            "/",
        );
        let tls = parts(
            &[("host", "desk.example"), ("origin", "https://desk.example")],
            "/",
        );
        let foreign = parts(
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://evil.example"),
            ],
            "/",
        );
        let none = parts(&[("host", "127.0.0.1:8080")], "/");
        assert!(origin_allowed(&same, &[]));
        assert!(origin_allowed(&tls, &[]));
        assert!(!origin_allowed(&foreign, &[]));
        assert!(origin_allowed(&none, &[]));
    }

    #[test]
    fn a_configured_list_replaces_the_servers_own_origin() {
        let allowed = vec!["https://desk.example/".to_string()];
        let listed = parts(
            &[("host", "api.internal"), ("origin", "https://DESK.example")],
            "/",
        );
        let own = parts(
            &[("host", "api.internal"), ("origin", "http://api.internal")],
            "/",
        );
        assert!(origin_allowed(&listed, &allowed));
        assert!(!origin_allowed(&own, &allowed));
    }

    #[test]
    fn the_header_token_wins_over_the_query_parameter() {
        let both = parts(&[("authorization", "Bearer abc")], "/ws?access_token=xyz");
        let query = parts(&[], "/ws?access_token=one&access_token=two");
        assert_eq!(raw_token(&both).as_deref(), Some("abc"));
        assert_eq!(raw_token(&query).as_deref(), Some("two"));
    }

    #[test]
    fn channels_parse_and_malformed_ticket_ids_are_not_found() {
        let id = Uuid::now_v7();
        assert_eq!(Channel::parse("board").unwrap(), Channel::Board);
        assert_eq!(
            Channel::parse(&format!("ticket:{id}")).unwrap(),
            Channel::Ticket(id)
        );
        assert_eq!(Channel::parse("ticket:nope").unwrap_err().code, "not_found");
        assert_eq!(Channel::parse("tickets").unwrap_err().code, "bad_request");
    }

    #[test]
    fn client_frames_reject_unknown_ops_and_fields() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"op":"ping"}"#).is_ok());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"op":"dance"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientFrame>(r#"{"op":"subscribe","channels":[],"x":1}"#)
                .is_err()
        );
        match serde_json::from_str::<ClientFrame>(
            r#"{"op":"subscribe","channels":["me"],"since":7}"#,
        ) {
            Ok(ClientFrame::Subscribe { channels, since }) => {
                assert_eq!(channels, vec!["me".to_string()]);
                assert_eq!(since, Some(7));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_event_frame_embeds_the_envelope_json() {
        let text = event_frame("ticket:1", r#"{"a":1}"#);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({"type": "event", "channel": "ticket:1", "event": {"a": 1}})
        );
    }
}
