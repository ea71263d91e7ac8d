//! `GET /api/v1/ws` (CONTRACT 3): pushes, `since` replay, authorization, handshake refusals,
//! fan-out across instances, slow clients, expiry and shutdown.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::helpers::{
    claims, sign, spawn_app, spawn_second_instance, spawn_second_instance_with, TestApp, TestUser,
};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for a frame it expects.
const PATIENCE: Duration = Duration::from_secs(5);
/// Push latency allowed while the slow-client test floods the engine with large events.
const SLOW_TEST_BUDGET: Duration = Duration::from_secs(3);

fn ws_url(port: u16, token: &str) -> String {
    format!("ws://127.0.0.1:{port}/api/v1/ws?access_token={token}")
}

pub(crate) async fn connect(port: u16, user: &TestUser) -> Ws {
    let (ws, response) = tokio_tungstenite::connect_async(ws_url(port, &user.token))
        .await
        .expect("WebSocket handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The handshake's HTTP status when it is refused.
async fn refused(request: impl IntoClientRequest + Unpin) -> (u16, Value) {
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => panic!("the handshake should have been refused"),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            assert_eq!(content_type, "application/problem+json");
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (status, body)
        }
        Err(other) => panic!("unexpected handshake error {other:?}"),
    }
}

pub(crate) async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send a frame");
}

/// The next JSON frame within `wait`, skipping WebSocket pings and pongs; `None` on timeout.
pub(crate) async fn next_within(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(text.as_str()).expect("a JSON frame"))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub(crate) async fn next(ws: &mut Ws) -> Value {
    next_within(ws, PATIENCE)
        .await
        .expect("a frame within the patience")
}

/// Subscribes and returns the `subscribed` frame (after any replayed events, which it returns too).
pub(crate) async fn subscribe(
    ws: &mut Ws,
    channels: &[&str],
    since: Option<i64>,
) -> (Vec<Value>, Value) {
    let mut frame = json!({"op": "subscribe", "channels": channels});
    if let Some(since) = since {
        frame["since"] = json!(since);
    }
    send(ws, frame).await;
    let mut replayed = Vec::new();
    loop {
        let frame = next(ws).await;
        match frame["type"].as_str() {
            Some("subscribed") => return (replayed, frame),
            Some("event") => replayed.push(frame),
            _ => panic!("unexpected frame while subscribing: {frame}"),
        }
    }
}

/// Waits for the next frame, which must be an error, and returns it.
async fn error(ws: &mut Ws) -> Value {
    let frame = next(ws).await;
    assert_eq!(frame["type"], "error", "an error frame: {frame}");
    frame
}

/// Event frames until `done` says so (or the patience runs out: then the test fails).
pub(crate) async fn events_until(ws: &mut Ws, mut done: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next(ws).await;
        assert_eq!(frame["type"], "event", "an event frame: {frame}");
        let stop = done(&frame);
        frames.push(frame);
        if stop {
            return frames;
        }
    }
}

/// Reads until the server closes, and returns the close frame (frames before it are dropped).
async fn close_frame(ws: &mut Ws, wait: Duration) -> Option<CloseFrame> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("no close frame within {wait:?}"),
            Ok(Some(Ok(Message::Close(frame)))) => return frame,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(error))) => panic!("the connection failed before a close frame: {error}"),
            Ok(None) => panic!("the connection ended without a close frame"),
        }
    }
}

/// The store's head once the sequencer has positioned every committed event.
async fn settled_head(app: &TestApp) -> i64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (unpositioned, head): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE position IS NULL), coalesce(max(position), 0) FROM events",
        )
        .fetch_one(&app.pool)
        .await
        .expect("read the head");
        if unpositioned == 0 {
            return head;
        }
        assert!(Instant::now() < deadline, "events stay without a position");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn position(frame: &Value) -> i64 {
    frame["event"]["position"].as_i64().expect("a position")
}

async fn comment(app: &TestApp, user: &TestUser, ticket: Uuid, body: &str, internal: bool) {
    let mut request = json!({"body": body});
    if internal {
        request["internal"] = json!(true);
    }
    let response = app
        .post(&format!("/tickets/{ticket}/comments"), user, request)
        .await;
    assert_eq!(response.status(), StatusCode::OK, "comment");
}

async fn assign(app: &TestApp, user: &TestUser, ticket: Uuid, assignee: &TestUser) {
    let response = app
        .post(
            &format!("/tickets/{ticket}/assign"),
            user,
            json!({"assignee_id": assignee.id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "assign");
}

#[tokio::test]
async fn a_command_is_pushed_to_a_board_subscriber_within_a_second() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let mut ws = connect(app.port, &agent).await;
    let (replayed, subscribed) = subscribe(&mut ws, &["board"], None).await;
    assert!(replayed.is_empty());
    assert_eq!(subscribed["channels"], json!(["board"]));
    let head = subscribed["position"].as_i64().expect("a position");

    // Act
    let ticket = app.create_ticket(&requester).await;
    let answered = Instant::now();
    let frame = next_within(&mut ws, Duration::from_secs(1))
        .await
        .expect("the push within 1 s of the command's answer");

    // Assert
    assert!(answered.elapsed() < Duration::from_secs(1));
    assert_eq!(frame["type"], "event");
    assert_eq!(frame["channel"], "board");
    assert_eq!(frame["event"]["type"], "ticket.created");
    assert_eq!(frame["event"]["subject"], ticket.to_string());
    assert_eq!(frame["event"]["id"], format!("{ticket}:1"));
    assert_eq!(frame["event"]["specversion"], "1.0");
    assert!(position(&frame) > head);
}

#[tokio::test]
async fn since_replays_what_was_missed_then_goes_live_without_gap_or_duplicate() {
    // Arrange: a position, then events made while no client is connected.
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let mut ws = connect(app.port, &agent).await;
    let (_, subscribed) = subscribe(&mut ws, &["board"], None).await;
    let since = subscribed["position"].as_i64().expect("a position");
    ws.close(None).await.expect("close");
    let missed = app.create_ticket(&requester).await;
    comment(&app, &agent, missed, "on it", false).await;
    assign(&app, &agent, missed, &agent).await;
    settled_head(&app).await;

    // Act: reconnect with `since` while commands keep coming.
    let writes = async {
        for _ in 0..10 {
            app.create_ticket(&requester).await;
        }
    };
    let reconnect = async {
        let mut ws = connect(app.port, &agent).await;
        let (replayed, subscribed) = subscribe(&mut ws, &["board"], Some(since)).await;
        (ws, replayed, subscribed)
    };
    let ((), (mut ws, replayed, subscribed)) = tokio::join!(writes, reconnect);
    let head = settled_head(&app).await;
    let live_from = subscribed["position"].as_i64().expect("a position");
    let mut frames = replayed.clone();
    if live_from < head {
        frames.extend(events_until(&mut ws, |f| position(f) >= head).await);
    }

    // Assert: every position after `since`, once, in order; the missed events first.
    let positions: Vec<i64> = frames.iter().map(position).collect();
    assert_eq!(positions, ((since + 1)..=head).collect::<Vec<_>>());
    assert!(replayed.len() >= 3, "the three missed events are replayed");
    assert_eq!(replayed[0]["event"]["subject"], missed.to_string());
    assert_eq!(replayed[0]["event"]["type"], "ticket.created");
    assert_eq!(
        live_from,
        replayed.last().map(position).unwrap_or(since),
        "subscribed names the last replayed position"
    );
    assert!(frames.iter().all(|f| f["channel"] == "board"));
    // Nothing more: no duplicate arrives late.
    assert!(next_within(&mut ws, Duration::from_millis(500))
        .await
        .is_none());
}

#[tokio::test]
async fn a_replay_reads_past_pages_holding_other_streams_events() {
    // Arrange: pages of two positions on instance B; while no client is connected, ticket
    // events with user events (renames) between them, so that most pages hold both.
    let a = spawn_app().await;
    let b = spawn_second_instance_with(
        &a,
        ticketd::hub::HubConfig {
            batch_size: 2,
            ..Default::default()
        },
    )
    .await;
    let admin = a.user("admin").await;
    let agent = a.user("agent").await;
    let requester = a.user("requester").await;
    let since = settled_head(&a).await;
    let mut tickets = Vec::new();
    for round in 0..4 {
        tickets.push(a.create_ticket(&requester).await);
        let renamed = a
            .patch(
                &format!("/users/{}", requester.id),
                &admin,
                json!({"name": format!("Requester {round}")}),
            )
            .await;
        assert_eq!(renamed.status(), StatusCode::OK);
    }
    let head = settled_head(&a).await;

    // Act
    let mut ws = connect(b.port, &agent).await;
    let (replayed, _) = subscribe(&mut ws, &["board"], Some(since)).await;

    // Assert: every ticket event after `since` is replayed, in order.
    let subjects: Vec<String> = replayed
        .iter()
        .map(|f| {
            f["event"]["subject"]
                .as_str()
                .expect("a subject")
                .to_string()
        })
        .collect();
    assert_eq!(
        subjects,
        tickets.iter().map(Uuid::to_string).collect::<Vec<_>>()
    );
    assert!(replayed.iter().all(|f| position(f) <= head));
}

#[tokio::test]
async fn a_requester_may_follow_only_their_own_tickets_and_never_sees_internal_comments() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let alice = app.user("requester").await;
    let bob = app.user("requester").await;
    let hers = app.create_ticket(&alice).await;
    let his = app.create_ticket(&bob).await;
    let mut ws = connect(app.port, &alice).await;

    // Act + Assert: refusals.
    for channel in ["board", "stats"] {
        send(&mut ws, json!({"op": "subscribe", "channels": [channel]})).await;
        let refused = error(&mut ws).await;
        assert_eq!(refused["code"], "forbidden", "{channel}");
    }
    send(
        &mut ws,
        json!({"op": "subscribe", "channels": [format!("ticket:{his}")]}),
    )
    .await;
    let others = error(&mut ws).await;
    send(
        &mut ws,
        json!({"op": "subscribe", "channels": [format!("ticket:{}", Uuid::now_v7())]}),
    )
    .await;
    let missing = error(&mut ws).await;
    send(
        &mut ws,
        json!({"op": "subscribe", "channels": ["ticket:not-a-uuid"]}),
    )
    .await;
    let malformed = error(&mut ws).await;
    assert_eq!(others["code"], "not_found");
    assert_eq!(
        others, missing,
        "another's ticket looks exactly like a missing one"
    );
    assert_eq!(others, malformed);

    let hers_channel = format!("ticket:{hers}");
    let (_, subscribed) = subscribe(&mut ws, &["me", &hers_channel], None).await;
    assert_eq!(subscribed["channels"], json!(["me", hers_channel]));

    // Act: activity on both tickets, internal comments included; a ticket opened for bob; then
    // alice's own comment as the last event.
    comment(&app, &agent, hers, "internal note about alice", true).await;
    comment(&app, &agent, hers, "we are looking into it", false).await;
    comment(&app, &agent, his, "public answer to bob", false).await;
    comment(&app, &bob, his, "bob again", false).await;
    app.create_ticket_with(&agent, json!({"requester_id": bob.id}))
        .await;
    comment(&app, &alice, hers, "thanks", false).await;

    // Assert: the last comment arrives on both channels; nothing of bob's, nothing internal.
    let mut last_seen = HashSet::new();
    let frames = events_until(&mut ws, |f| {
        if f["event"]["data"]["body"] == "thanks" {
            last_seen.insert(f["channel"].as_str().unwrap_or_default().to_string());
        }
        last_seen.len() == 2
    })
    .await;
    assert!(frames
        .iter()
        .all(|f| f["event"]["subject"] == hers.to_string()));
    assert!(frames
        .iter()
        .all(|f| f["event"]["data"]["internal"] != true));
    let public: Vec<&str> = frames
        .iter()
        .filter(|f| f["event"]["data"]["body"] == "we are looking into it")
        .map(|f| f["channel"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        public,
        vec!["me", hers_channel.as_str()],
        "once per channel"
    );
    assert!(next_within(&mut ws, Duration::from_millis(500))
        .await
        .is_none());
}

#[tokio::test]
async fn me_follows_the_tickets_assigned_to_the_caller() {
    // Arrange: one ticket assigned to the agent before they connect.
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let other = app.user("agent").await;
    let requester = app.user("requester").await;
    let before = app.create_ticket(&requester).await;
    assign(&app, &other, before, &agent).await;
    let later = app.create_ticket(&requester).await;
    let unrelated = app.create_ticket(&requester).await;
    settled_head(&app).await;
    let mut ws = connect(app.port, &agent).await;
    subscribe(&mut ws, &["me"], None).await;

    // Act
    comment(&app, &requester, before, "still broken", false).await;
    comment(&app, &requester, unrelated, "not for the agent", false).await;
    assign(&app, &other, later, &agent).await;
    comment(&app, &other, later, "internal: over to you", true).await;
    assign(&app, &other, later, &other).await;
    comment(&app, &requester, later, "after the reassignment", false).await;
    comment(&app, &requester, before, "last", false).await;

    // Assert
    let frames = events_until(&mut ws, |f| f["event"]["data"]["body"] == "last").await;
    let seen: Vec<(String, String)> = frames
        .iter()
        .map(|f| {
            (
                f["event"]["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                f["event"]["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let (b, l) = (before.to_string(), later.to_string());
    assert_eq!(
        seen,
        vec![
            (b.clone(), "ticket.commented".to_string()),
            (l.clone(), "ticket.assigned".to_string()),
            (l.clone(), "ticket.commented".to_string()),
            // The assignment away is still told to the agent who loses the ticket.
            (l.clone(), "ticket.assigned".to_string()),
            (b.clone(), "ticket.commented".to_string()),
        ]
    );
    assert!(frames.iter().all(|f| f["channel"] == "me"));
    assert_eq!(
        frames[2]["event"]["data"]["internal"], true,
        "staff see internal comments"
    );
}

#[tokio::test]
async fn the_handshake_needs_a_valid_token() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let mut expired = claims(agent.id, &agent.email, &agent.name, "agent");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    let forged = format!("{}x", agent.token);

    // Act + Assert
    let no_token = format!("ws://127.0.0.1:{}/api/v1/ws", app.port);
    for (case, url) in [
        ("no token", no_token.clone()),
        ("a forged token", ws_url(app.port, &forged)),
        ("an expired token", ws_url(app.port, &sign(&expired))),
        ("garbage", ws_url(app.port, "garbage")),
    ] {
        let (status, problem) = refused(url).await;
        assert_eq!(status, 401, "{case}");
        assert_eq!(problem["status"], 401, "{case}");
    }
    let mut request = no_token.clone().into_client_request().expect("a request");
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {forged}")).expect("a header"),
    );
    assert_eq!(refused(request).await.0, 401, "a forged header token");

    // The header works as well as the query parameter.
    let mut request = no_token.into_client_request().expect("a request");
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", agent.token)).expect("a header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("a handshake with the header");
    send(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(next(&mut ws).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_servers_own_is_accepted() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let with_origin = |origin: &str| {
        let mut request = ws_url(app.port, &agent.token)
            .into_client_request()
            .expect("a request");
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("a header"));
        request
    };

    // Act + Assert
    let (status, _) = refused(with_origin("https://evil.example")).await;
    assert_eq!(status, 403);
    let own = format!("http://127.0.0.1:{}", app.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(with_origin(&own))
        .await
        .expect("the server's own origin is accepted");
    send(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(next(&mut ws).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn ping_gets_pong_and_a_bad_frame_gets_an_error_without_closing() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let mut ws = connect(app.port, &agent).await;

    // Act + Assert
    for (case, frame) in [
        ("not JSON", "{nope".to_string()),
        ("unknown op", json!({"op": "dance"}).to_string()),
        ("no op", json!({"channels": ["board"]}).to_string()),
        (
            "unknown field",
            json!({"op": "subscribe", "channels": ["board"], "extra": 1}).to_string(),
        ),
        (
            "negative since",
            json!({"op": "subscribe", "channels": ["board"], "since": -1}).to_string(),
        ),
        (
            "unknown channel",
            json!({"op": "subscribe", "channels": ["everything"]}).to_string(),
        ),
    ] {
        ws.send(Message::text(frame)).await.expect("send");
        let refused = error(&mut ws).await;
        assert_eq!(refused["code"], "bad_request", "{case}");
        assert!(
            refused["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
    send(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(next(&mut ws).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_message_over_the_size_limit_ends_the_connection() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let mut ws = connect(app.port, &agent).await;

    // Act
    let huge = json!({"op": "subscribe", "channels": ["x".repeat(70 * 1024)]}).to_string();
    let _ = ws.send(Message::text(huge)).await;

    // Assert: no answer, the connection ends.
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => panic!("answered an oversized frame: {text}"),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection ends");
}

#[tokio::test]
async fn an_event_committed_through_one_instance_reaches_clients_of_another_once() {
    // Arrange
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let agent = a.user("agent").await;
    let requester = a.user("requester").await;
    let mut on_b = connect(b.port, &agent).await;
    subscribe(&mut on_b, &["board"], None).await;

    // Act: through A.
    let ticket = a.create_ticket(&requester).await;
    let frame = next(&mut on_b).await;

    // Assert
    assert_eq!(frame["event"]["subject"], ticket.to_string());
    assert_eq!(frame["event"]["type"], "ticket.created");
    assert!(
        next_within(&mut on_b, Duration::from_millis(1500))
            .await
            .is_none(),
        "exactly once"
    );
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_with_1013_and_slows_no_one() {
    // Arrange: instance B with a tiny per-connection queue; one client that never reads (with a
    // small receive buffer, so the server's writes to it block soon) and one that reads.
    let a = spawn_app().await;
    let b = spawn_second_instance_with(
        &a,
        ticketd::hub::HubConfig {
            queue_capacity: 8,
            close_grace: Duration::from_secs(15),
            ..Default::default()
        },
    )
    .await;
    let agent = a.user("agent").await;
    let requester = a.user("requester").await;
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small buffer");
    let stream = socket
        .connect(([127, 0, 0, 1], b.port).into())
        .await
        .expect("connect");
    let (mut slow, _) = tokio_tungstenite::client_async(ws_url(b.port, &agent.token), stream)
        .await
        .expect("the slow client's handshake");
    slow.send(Message::text(
        json!({"op": "subscribe", "channels": ["board"]}).to_string(),
    ))
    .await
    .expect("subscribe");
    let mut fast = connect(b.port, &agent).await;
    subscribe(&mut fast, &["board"], None).await;
    let ticket = a.create_ticket(&requester).await;
    events_until(&mut fast, |_| true).await;

    // Act: large events (20 KB comments) until B gives up on the slow client. The fast client
    // must get each of them meanwhile. (The budget is looser than the 1 s of the push test: this
    // test is about not waiting for anyone, and big events cost the debug build's sequencer and
    // projectors more time.)
    let mut worst = Duration::ZERO;
    let mut pushed = 0;
    for i in 0..1000 {
        let body = format!("{i:05}{}", "x".repeat(19_000));
        comment(&a, &agent, ticket, &body, false).await;
        let answered = Instant::now();
        let frame = next_within(&mut fast, SLOW_TEST_BUDGET)
            .await
            .expect("the fast client keeps getting pushes");
        assert_eq!(frame["event"]["type"], "ticket.commented");
        assert_eq!(frame["event"]["data"]["body"], body);
        worst = worst.max(answered.elapsed());
        pushed += 1;
        if b.hub.closed_slow() > 0 {
            break;
        }
    }

    // Assert
    assert_eq!(
        b.hub.closed_slow(),
        1,
        "the slow client was closed after {pushed} events"
    );
    assert!(worst < SLOW_TEST_BUDGET, "worst push latency {worst:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let frame = loop {
        match tokio::time::timeout_at(deadline, slow.next()).await {
            Err(_) => panic!("no close frame for the slow client"),
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(error))) => panic!("the slow connection failed: {error}"),
            Ok(None) => panic!("the slow connection ended without a close frame"),
        }
    };
    let frame = frame.expect("a close code");
    assert_eq!(u16::from(frame.code), 1013);
    // The fast client is still served.
    comment(&a, &agent, ticket, "still here?", false).await;
    let frame = next_within(&mut fast, SLOW_TEST_BUDGET)
        .await
        .expect("a push after the slow client is gone");
    assert_eq!(frame["event"]["data"]["body"], "still here?");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1013_within_a_bounded_number_of_events() {
    // Arrange: instance B with a queue of 64 frames, and two clients with the operating
    // system's default socket buffers (megabytes on loopback: thousands of small events fit in
    // them, so a bound on the server's own queue alone was never reached). One stops reading
    // right after it subscribed; the other reads everything.
    const QUEUE: usize = 64;
    let a = spawn_app().await;
    let b = spawn_second_instance_with(
        &a,
        ticketd::hub::HubConfig {
            queue_capacity: QUEUE,
            close_grace: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await;
    let agent = a.user("agent").await;
    let requester = a.user("requester").await;
    let ticket = a.create_ticket(&requester).await;
    let head = settled_head(&a).await;
    let deadline = Instant::now() + PATIENCE;
    while b.hub.head() != Some(head) {
        assert!(Instant::now() < deadline, "B's feed reaches the head");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stalled = connect(b.port, &agent).await;
    let (_, subscribed) = subscribe(&mut stalled, &["board"], None).await;
    let start = subscribed["position"].as_i64().expect("a position");
    let mut reader = connect(b.port, &agent).await;
    subscribe(&mut reader, &["board"], Some(start)).await;

    // Act: small events, one at a time, until B gives up on the stalled client (2,000 events
    // are about 2 MB, which the socket buffers would have absorbed without a word).
    let mut seen = Vec::new();
    for i in 0..2000 {
        comment(&a, &agent, ticket, &format!("comment {i}"), false).await;
        let frame = next_within(&mut reader, SLOW_TEST_BUDGET)
            .await
            .expect("the reading client keeps getting pushes");
        assert_eq!(frame["event"]["data"]["body"], format!("comment {i}"));
        seen.push(position(&frame));
        if b.hub.closed_slow() > 0 {
            break;
        }
    }

    // Assert: closed once its queue of 64 unread frames was full, not megabytes later.
    assert_eq!(b.hub.closed_slow(), 1, "closed after {} events", seen.len());
    assert!(
        seen.len() <= QUEUE + 1,
        "the stalled client was closed only after {} events",
        seen.len()
    );
    // The reader got every event, once, in order, and is still served.
    let expected: Vec<i64> = (start + 1..=start + seen.len() as i64).collect();
    assert_eq!(seen, expected, "every position once and in order");
    comment(&a, &agent, ticket, "still here?", false).await;
    let frame = next_within(&mut reader, SLOW_TEST_BUDGET)
        .await
        .expect("a push after the stalled client is gone");
    assert_eq!(frame["event"]["data"]["body"], "still here?");
    // The stalled client, reading again later than a normal close waits for the client's
    // answer, finds a prefix of the events, then 1013.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let close = loop {
        match tokio::time::timeout_at(deadline, stalled.next()).await {
            Err(_) => panic!("no close frame for the stalled client"),
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                got.push(position(&frame));
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(error))) => panic!("the stalled connection failed: {error}"),
            Ok(None) => panic!("the stalled connection ended without a close frame"),
        }
    };
    assert_eq!(u16::from(close.expect("a close code").code), 1013);
    assert_eq!(got, expected[..got.len()], "a prefix, in order");
}

#[tokio::test]
async fn the_connection_closes_with_1008_when_the_token_expires() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let mut short = claims(agent.id, &agent.email, &agent.name, "agent");
    short["exp"] = json!(chrono::Utc::now().timestamp() + 2);
    let token = sign(&short);
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(app.port, &token))
        .await
        .expect("handshake");

    // Act + Assert
    let frame = close_frame(&mut ws, Duration::from_secs(6))
        .await
        .expect("a close code");
    assert_eq!(u16::from(frame.code), 1008);
}

#[tokio::test]
async fn stopping_an_instance_closes_its_connections_with_1001() {
    // Arrange
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let agent = a.user("agent").await;
    let mut ws = connect(b.port, &agent).await;
    subscribe(&mut ws, &["board"], None).await;

    // Act
    let stopping = tokio::spawn(b.stop());
    let frame = close_frame(&mut ws, PATIENCE).await.expect("a close code");

    // Assert
    assert_eq!(u16::from(frame.code), 1001);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the instance stops")
        .expect("its task");
}

#[tokio::test]
async fn a_since_before_what_the_connection_already_sent_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let mut ws = connect(app.port, &agent).await;
    subscribe(&mut ws, &["board"], None).await;
    let ticket = app.create_ticket(&requester).await;
    let sent = position(&next(&mut ws).await);

    // Act
    send(
        &mut ws,
        json!({"op": "subscribe", "channels": [format!("ticket:{ticket}")], "since": sent - 1}),
    )
    .await;

    // Assert
    assert_eq!(error(&mut ws).await["code"], "bad_request");
    // A later `since` replays for the new channel without repeating anything.
    let channel = format!("ticket:{ticket}");
    let (replayed, subscribed) = subscribe(&mut ws, &[&channel], Some(sent)).await;
    assert!(replayed.is_empty());
    assert_eq!(subscribed["position"], sent);
}

#[tokio::test]
async fn a_websocket_outlives_the_request_timeout() {
    // Arrange: requests time out after 300 ms.
    let app =
        crate::helpers::spawn_app_with(|s| s.request_timeout = Duration::from_millis(300)).await;
    let agent = app.user("agent").await;
    let mut ws = connect(app.port, &agent).await;

    // Act: stay connected well past the timeout.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    send(&mut ws, json!({"op": "ping"})).await;

    // Assert
    assert_eq!(next(&mut ws).await, json!({"type": "pong"}));
}
