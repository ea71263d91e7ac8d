//! CONTRACT 5: every committed event reaches the JetStream stream once, in position order, with
//! the stored envelope as body; relay crashes and NATS outages lose nothing and never fail or
//! slow commands.
//!
//! These use the nats-server at `NATS_URL` (default nats://127.0.0.1:4222), each test with its
//! own stream and subject prefix (deleted at the end); the outage test starts a nats-server of
//! its own, since the shared one cannot be stopped.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener as StdTcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticket_nats::Envelope;
use ticket_projections::listen::Notifications;
use ticket_projections::stored::head_position;
use ticket_projections::CancellationToken;
use ticketd::relay::{checkpoint_name, nats_config, NatsRelay};
use ticketd::settings::Settings;
use uuid::Uuid;

use crate::helpers::{clean_up, spawn_app, spawn_app_with, TestApp, TestUser};

pub(crate) fn shared_nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A stream name and subject prefix of the test's own; the stream is deleted when this drops.
pub(crate) struct TestStream {
    url: String,
    stream: String,
    prefix: String,
}

impl TestStream {
    pub(crate) fn new(url: &str) -> Self {
        let id = Uuid::new_v4().simple().to_string();
        Self {
            url: url.to_string(),
            stream: format!("T_{id}"),
            prefix: format!("t{id}"),
        }
    }

    /// The tickets subject prefix of the test's own.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn configure(&self, settings: &mut Settings) {
        settings.nats_url = Some(self.url.clone());
        settings.nats_stream = self.stream.clone();
        settings.nats_subject_prefix = self.prefix.clone();
    }

    async fn jetstream(&self) -> jetstream::Context {
        let client = async_nats::connect(&self.url)
            .await
            .expect("connect to NATS");
        jetstream::new(client)
    }

    /// How many messages the stream holds (0 while it does not exist or NATS is down).
    pub(crate) async fn count(&self) -> u64 {
        let Ok(client) = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .connect(&self.url)
            .await
        else {
            return 0;
        };
        let js = jetstream::new(client);
        match js.get_stream(&self.stream).await {
            Ok(mut stream) => stream.info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// Waits until the stream holds `n` messages.
    pub(crate) async fn wait_for(&self, n: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let count = self.count().await;
            if count >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the stream holds {count} of {n} events after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message of the stream in stream order: (subject, Nats-Msg-Id, Content-Type, envelope).
    pub(crate) async fn messages(&self) -> Vec<(String, String, String, Envelope)> {
        let js = self.jetstream().await;
        let stream = js
            .get_stream(&self.stream)
            .await
            .expect("the stream exists");
        let consumer: jetstream::consumer::PullConsumer = stream
            .create_consumer(jetstream::consumer::pull::Config::default())
            .await
            .expect("an ephemeral consumer");
        let count = self.count().await as usize;
        let mut batch = consumer
            .fetch()
            .max_messages(count.max(1))
            .messages()
            .await
            .expect("fetch");
        let mut all = Vec::with_capacity(count);
        while all.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(5), batch.next())
                .await
                .expect("the stream's messages arrive")
                .expect("a message")
                .expect("a message");
            let headers = message.headers.clone().unwrap_or_default();
            let id = ticket_nats::publish::message_id(&headers)
                .unwrap_or_default()
                .to_string();
            let content_type = headers
                .get("Content-Type")
                .map(|v| v.as_str().to_string())
                .unwrap_or_default();
            let envelope: Envelope =
                serde_json::from_slice(&message.payload).expect("the body is an envelope");
            all.push((message.subject.to_string(), id, content_type, envelope));
        }
        all
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.stream.clone());
        clean_up(async move {
            let connect = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(1))
                .connect(url);
            if let Ok(client) = connect.await {
                let _ = jetstream::new(client).delete_stream(&name).await;
            }
        });
    }
}

/// The store's highest position.
async fn head(app: &TestApp) -> i64 {
    head_position(&app.pool).await.expect("read the head")
}

/// Waits until every stored event has its position; returns how many there are.
async fn all_positioned(app: &TestApp) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let count = app.event_count().await;
        if head(app).await == count {
            return count;
        }
        assert!(Instant::now() < deadline, "events are positioned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn relay_checkpoint(app: &TestApp, stream: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT position FROM relay_checkpoints WHERE name = $1")
        .bind(checkpoint_name(stream))
        .fetch_optional(&app.pool)
        .await
        .expect("read the checkpoint")
        .unwrap_or(0)
}

async fn ok(response: reqwest::Response, what: &str) {
    let status = response.status();
    assert!(
        status.is_success(),
        "{what}: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// A ticket's whole life: created, commented (public and internal), assigned, updated, closed,
/// reopened, closed again, rated: 9 events. Each command's latency is pushed on `latencies`.
async fn ticket_life(
    app: &TestApp,
    requester: &TestUser,
    agent: &TestUser,
    latencies: &mut Vec<Duration>,
) -> Uuid {
    let started = Instant::now();
    let id = app.create_ticket(requester).await;
    latencies.push(started.elapsed());
    let path = |p: &str| format!("/tickets/{id}{p}");
    let steps: [(&str, &TestUser, &str, Value); 8] = [
        (
            "/comments",
            requester,
            "POST",
            json!({"body": "Still blinking"}),
        ),
        (
            "/comments",
            agent,
            "POST",
            json!({"body": "Toner?", "internal": true}),
        ),
        ("/assign", agent, "POST", json!({"assignee_id": agent.id})),
        ("", agent, "PATCH", json!({"priority": "high"})),
        (
            "/close",
            agent,
            "POST",
            json!({"resolution": "Replaced the toner"}),
        ),
        (
            "/reopen",
            requester,
            "POST",
            json!({"reason": "Jammed again"}),
        ),
        (
            "/close",
            agent,
            "POST",
            json!({"resolution": "New printer"}),
        ),
        ("/rating", requester, "POST", json!({"score": 5})),
    ];
    for (suffix, user, method, body) in steps {
        let started = Instant::now();
        let response = if method == "PATCH" {
            app.patch(&path(suffix), user, body).await
        } else {
            app.post(&path(suffix), user, body).await
        };
        latencies.push(started.elapsed());
        ok(response, &format!("{method} {suffix}")).await;
    }
    id
}

#[tokio::test]
async fn every_committed_event_is_in_the_stream_once_in_position_order_as_stored() {
    // Arrange
    let stream = TestStream::new(&shared_nats_url());
    let app = spawn_app_with(|s| stream.configure(s)).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let admin = app.user("admin").await;

    // Act
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(ticket_life(&app, &requester, &agent, &mut Vec::new()).await);
    }
    tickets.push(app.create_ticket(&requester).await);
    let events = all_positioned(&app).await;
    stream
        .wait_for(events as u64, Duration::from_secs(20))
        .await;

    // Assert: once each, in position order, with the contract's subject and headers.
    let messages = stream.messages().await;
    assert_eq!(messages.len() as i64, events, "one message per event");
    let positions: Vec<i64> = messages.iter().map(|(_, _, _, e)| e.position).collect();
    assert_eq!(
        positions,
        (1..=events).collect::<Vec<_>>(),
        "position order, nothing missing"
    );
    let mut by_ticket: HashMap<String, Vec<Envelope>> = HashMap::new();
    for (subject, id, content_type, envelope) in &messages {
        let kind = envelope.event_type.trim_start_matches("ticket.");
        assert_eq!(
            subject,
            &format!("{}.v1.{}.{kind}", stream.prefix, envelope.subject)
        );
        assert_eq!(id, &envelope.id, "Nats-Msg-Id is the event id");
        assert_eq!(content_type, "application/cloudevents+json");
        by_ticket
            .entry(envelope.subject.clone())
            .or_default()
            .push(envelope.clone());
    }
    assert!(
        messages.iter().any(|(_, _, _, e)| e.is_internal()),
        "internal comments are published"
    );
    // Each message's envelope is the one the store serves (history: sequence order).
    for ticket in &tickets {
        let response = app.get(&format!("/tickets/{ticket}/history"), &admin).await;
        assert_eq!(response.status(), StatusCode::OK);
        let history: Value = response.json().await.expect("history JSON");
        let stored: Vec<Envelope> =
            serde_json::from_value(history["events"].clone()).expect("envelopes");
        assert_eq!(
            by_ticket.get(&ticket.to_string()),
            Some(&stored),
            "ticket {ticket}: the stream carries the stored envelopes in sequence order"
        );
        for envelope in &stored {
            assert_eq!(
                envelope.hash,
                envelope.compute_hash(),
                "the hash chain survives"
            );
        }
    }

    // Assert: readiness and metrics report the relay caught up.
    let deadline = Instant::now() + Duration::from_secs(5);
    let ready = loop {
        let ready: Value = app.root_json("/readyz").await;
        if ready["nats"]["relay"]["lag"] == 0 || Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready["nats"]["state"], "connected", "{ready}");
    assert_eq!(ready["nats"]["stream"], stream.stream.as_str());
    assert_eq!(ready["nats"]["relay"]["position"], events, "{ready}");
    assert_eq!(ready["nats"]["relay"]["lag"], 0, "{ready}");
    let metrics = app.root_text("/metrics").await;
    assert!(metrics.contains("ticketd_relay_position"), "{metrics}");
    assert!(metrics.contains("ticketd_relay_lag"), "{metrics}");
}

#[tokio::test]
async fn without_nats_url_the_engine_runs_and_reports_nats_disabled() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;

    // Act
    app.create_ticket(&requester).await;
    let ready: Value = app.root_json("/readyz").await;

    // Assert
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["nats"]["state"], "disabled", "{ready}");
}

#[tokio::test]
async fn a_relay_killed_mid_stream_and_restarted_leaves_every_event_in_the_stream_exactly_once() {
    // Arrange: an engine without a relay of its own; the test runs relays by hand.
    let stream = TestStream::new(&shared_nats_url());
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    stream.configure(&mut settings);
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    for _ in 0..20 {
        ticket_life(&app, &requester, &agent, &mut Vec::new()).await;
    }
    let before = all_positioned(&app).await;

    // Act 1: start a relay publishing small batches and kill it as soon as its first
    // checkpoint lands, in the middle of the stream.
    let shutdown = CancellationToken::new();
    let small_batches = ticket_nats::Config {
        max_in_flight: 8,
        ..nats_config(&settings)
    };
    let (_first, task) = NatsRelay::start(
        &stream.url,
        small_batches,
        app.pool.clone(),
        &Notifications::start(app.pool.clone(), shutdown.clone()).0,
        shutdown.clone(),
    )
    .await
    .expect("start a relay");
    let first = tokio::spawn(task);
    let deadline = Instant::now() + Duration::from_secs(20);
    while relay_checkpoint(&app, &stream.stream).await == 0 {
        assert!(Instant::now() < deadline, "the first relay publishes");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.abort();
    let _ = first.await;
    let published_before_crash = stream.count().await;
    let checkpoint_at_crash = relay_checkpoint(&app, &stream.stream).await;
    assert!(
        (checkpoint_at_crash as u64) < before as u64,
        "the first relay was killed mid-stream (checkpoint {checkpoint_at_crash} of {before})"
    );

    // Act 2: a crash between publishing and checkpointing: the checkpoint is behind what the
    // stream holds. Meanwhile more events are committed.
    sqlx::query("UPDATE relay_checkpoints SET position = $2 WHERE name = $1")
        .bind(checkpoint_name(&stream.stream))
        .bind(checkpoint_at_crash / 2)
        .execute(&app.pool)
        .await
        .expect("move the checkpoint back");
    for _ in 0..5 {
        ticket_life(&app, &requester, &agent, &mut Vec::new()).await;
    }
    let events = all_positioned(&app).await;
    let (second, task) = NatsRelay::start(
        &stream.url,
        nats_config(&settings),
        app.pool.clone(),
        &Notifications::start(app.pool.clone(), shutdown.clone()).0,
        shutdown.clone(),
    )
    .await
    .expect("restart the relay");
    let running = tokio::spawn(task);
    let deadline = Instant::now() + Duration::from_secs(30);
    while relay_checkpoint(&app, &stream.stream).await < events {
        assert!(Instant::now() < deadline, "the restarted relay catches up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    eprintln!(
        "relay crash: {published_before_crash} of {before} events in the stream when the first \
         relay was killed at checkpoint {checkpoint_at_crash}; checkpoint moved back to {}; the \
         restarted relay published {} events of which {} were dropped as duplicates; {events} \
         events in all",
        checkpoint_at_crash / 2,
        second.status().published(),
        second.status().duplicates(),
    );

    // Assert: exactly once, in position order; the repeats were dropped by the stream.
    let messages = stream.messages().await;
    let positions: Vec<i64> = messages.iter().map(|(_, _, _, e)| e.position).collect();
    assert_eq!(
        positions,
        (1..=events).collect::<Vec<_>>(),
        "every event once, in position order ({published_before_crash} were in the stream at the crash)"
    );
    let ids: HashSet<&str> = messages.iter().map(|(_, id, _, _)| id.as_str()).collect();
    assert_eq!(ids.len() as i64, events, "no message id twice");
    assert!(
        second.status().duplicates()
            >= (published_before_crash as i64 - checkpoint_at_crash / 2).max(0) as u64,
        "the republished events were acknowledged as duplicates ({} duplicates)",
        second.status().duplicates()
    );
    shutdown.cancel();
    let _ = running.await;
}

/// A nats-server process of the test's own, killed when this drops.
struct OwnNatsServer {
    binary: PathBuf,
    port: u16,
    store: PathBuf,
    child: Option<Child>,
}

impl OwnNatsServer {
    fn binary() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|p| p.is_file())
        });
        on_path.or_else(|| {
            let sbin = PathBuf::from("/usr/sbin/nats-server");
            sbin.is_file().then_some(sbin)
        })
    }

    async fn start(binary: PathBuf) -> Self {
        let port = StdTcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store = std::env::temp_dir().join(format!("ticketd-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&store).expect("a store directory");
        let mut server = Self {
            binary,
            port,
            store,
            child: None,
        };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and store directory, and waits for it.
    async fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "nats-server listens");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

#[tokio::test]
async fn a_nats_outage_neither_fails_nor_slows_commands_and_the_stream_catches_up() {
    let Some(binary) = OwnNatsServer::binary() else {
        eprintln!("skipped: no nats-server binary on PATH or at /usr/sbin/nats-server");
        return;
    };
    // Arrange: an engine publishing to a nats-server of this test's own.
    let mut server = OwnNatsServer::start(binary).await;
    let stream = TestStream::new(&server.url());
    let app = spawn_app_with(|s| stream.configure(s)).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    // The same commands with NATS up: the baseline the outage is compared with.
    let mut healthy = Vec::new();
    for _ in 0..5 {
        ticket_life(&app, &requester, &agent, &mut healthy).await;
    }
    let before = all_positioned(&app).await;
    stream
        .wait_for(before as u64, Duration::from_secs(20))
        .await;

    // Act 1: NATS goes away; commands go on.
    server.kill();
    let mut latencies = Vec::new();
    let outage_started = Instant::now();
    for _ in 0..40 {
        ticket_life(&app, &requester, &agent, &mut latencies).await;
    }
    let outage_commands = outage_started.elapsed();
    let events = all_positioned(&app).await;
    let ready: Value = app.root_json("/readyz").await;

    // Act 2: NATS comes back on the same port and store.
    server.restart().await;
    let restarted = Instant::now();
    stream
        .wait_for(events as u64, Duration::from_secs(60))
        .await;
    let caught_up = restarted.elapsed();
    let percentile =
        |sorted: &[Duration], p: usize| sorted[(sorted.len() * p / 100).min(sorted.len() - 1)];
    healthy.sort();
    latencies.sort();
    let (healthy_median, median, p95, slowest) = (
        percentile(&healthy, 50),
        percentile(&latencies, 50),
        percentile(&latencies, 95),
        percentile(&latencies, 100),
    );
    eprintln!(
        "NATS outage: {} commands succeeded in {outage_commands:?} while NATS was down \
         (median {median:?}, p95 {p95:?}, slowest {slowest:?}; with NATS up: median \
         {healthy_median:?}); after the restart the stream caught up on {} events ({} in all) \
         in {caught_up:?}",
        latencies.len(),
        events - before,
        events,
    );

    // Assert: commands were as fast as with NATS up (allowing for a busy machine), readiness
    // said so, and the stream is complete.
    assert!(
        median <= healthy_median * 3 + Duration::from_millis(20) && p95 < Duration::from_secs(1),
        "commands slowed down during the outage: median {median:?} (with NATS up \
         {healthy_median:?}), p95 {p95:?}"
    );
    assert_eq!(
        ready["status"], "ready",
        "NATS is not needed to be ready: {ready}"
    );
    assert_eq!(ready["nats"]["state"], "disconnected", "{ready}");
    assert!(ready["nats"]["relay"]["lag"].as_i64() > Some(0), "{ready}");
    let messages = stream.messages().await;
    let positions: Vec<i64> = messages.iter().map(|(_, _, _, e)| e.position).collect();
    assert_eq!(
        positions,
        (1..=events).collect::<Vec<_>>(),
        "every event once, in order"
    );
}
