//! The load: command workers that retry with idempotency keys and keep a ledger of every
//! acknowledged command, WebSocket readers that check every position they receive, and clients
//! that stop reading.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The engines commands and readers use (base URLs), round robin; a retry goes to the next.
#[derive(Clone, Default)]
pub struct Targets(Arc<RwLock<Vec<String>>>);

impl Targets {
    pub fn set(&self, bases: Vec<String>) {
        if let Ok(mut t) = self.0.write() {
            *t = bases;
        }
    }

    /// The `n`-th live engine, round robin.
    pub fn pick(&self, n: usize) -> Option<String> {
        let t = self.0.read().ok()?;
        (!t.is_empty()).then(|| t[n % t.len()].clone())
    }
}

/// Counters of what the workers saw.
#[derive(Default)]
pub struct Counters {
    pub acked: AtomicU64,
    pub retries: AtomicU64,
    pub unavailable: AtomicU64,
    pub unavailable_without_retry_after: AtomicU64,
    pub server_errors: AtomicU64,
    pub client_errors: AtomicU64,
    pub transport_errors: AtomicU64,
    pub abandoned: AtomicU64,
}

/// Every acknowledged command: its event id and when the answer came.
#[derive(Default)]
pub struct Ledger {
    pub counters: Counters,
    acks: Mutex<Vec<(String, Instant)>>,
    /// Status lines of unexpected answers, a few of each.
    pub samples: Mutex<HashMap<u16, String>>,
}

impl Ledger {
    fn ack(&self, id: String, at: Instant) {
        self.counters.acked.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut acks) = self.acks.lock() {
            acks.push((id, at));
        }
    }

    pub fn acked(&self) -> u64 {
        self.counters.acked.load(Ordering::Relaxed)
    }

    /// The acknowledged event ids with their answer times.
    pub fn acks(&self) -> Vec<(String, Instant)> {
        self.acks.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// When the first command acknowledged after `since` was answered.
    pub fn first_ack_after(&self, since: Instant) -> Option<Instant> {
        self.acks
            .lock()
            .ok()?
            .iter()
            .map(|(_, at)| *at)
            .filter(|at| *at > since)
            .min()
    }

    /// Waits (bounded) for an acknowledgement after `since`; its delay from `since`.
    pub async fn wait_first_ack_after(&self, since: Instant, wait: Duration) -> Option<Duration> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(at) = self.first_ack_after(since) {
                return Some(at - since);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One worker: comments on its tickets at its pace until `stop`; each command is retried with
/// the same idempotency key and body until the engine answers it (or 120 s pass).
#[allow(clippy::too_many_arguments)]
pub async fn worker(
    id: usize,
    http: reqwest::Client,
    targets: Targets,
    tickets: Arc<Vec<Uuid>>,
    token: String,
    ledger: Arc<Ledger>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut n = 0usize;
    let mut next = tokio::time::Instant::now();
    while !stop.is_cancelled() {
        next += interval;
        let ticket = tickets[(id * 7919 + n * 31) % tickets.len()];
        let key = Uuid::new_v4().to_string();
        let body = json!({"body": format!("chaos w{id} n{n} {key}")});
        n += 1;
        let given_up = Instant::now() + Duration::from_secs(120);
        let mut attempt = 0usize;
        loop {
            let Some(base) = targets.pick(id + attempt) else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            if attempt > 0 {
                ledger.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            let sent = http
                .post(format!("{base}/api/v1/tickets/{ticket}/comments"))
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let pause = match sent {
                Ok(r) if r.status().is_success() => {
                    let at = Instant::now();
                    let answer: Value = r.json().await.unwrap_or(Value::Null);
                    match answer["version"].as_i64() {
                        Some(version) => {
                            ledger.ack(format!("{ticket}:{version}"), at);
                            break;
                        }
                        // An answer we cannot read: the command is applied; ask again (the
                        // key returns the same answer).
                        None => Duration::from_millis(100),
                    }
                }
                Ok(r) if r.status().as_u16() == 503 => {
                    ledger.counters.unavailable.fetch_add(1, Ordering::Relaxed);
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if retry_after.is_none() {
                        ledger
                            .counters
                            .unavailable_without_retry_after
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    // Not the whole Retry-After (seconds): the suite measures how soon the
                    // engine recovers, so it asks again sooner.
                    Duration::from_millis(250)
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let counter = if r.status().is_server_error() {
                        &ledger.counters.server_errors
                    } else {
                        &ledger.counters.client_errors
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let text = r.text().await.unwrap_or_default();
                    if let Ok(mut samples) = ledger.samples.lock() {
                        samples
                            .entry(status)
                            .or_insert_with(|| text.chars().take(300).collect());
                    }
                    if status < 500 {
                        // Refused for good (409, 422…): not acknowledged, nothing to retry.
                        break;
                    }
                    Duration::from_millis(200)
                }
                Err(_) => {
                    ledger
                        .counters
                        .transport_errors
                        .fetch_add(1, Ordering::Relaxed);
                    Duration::from_millis(50)
                }
            };
            if Instant::now() > given_up {
                ledger.counters.abandoned.fetch_add(1, Ordering::Relaxed);
                break;
            }
            tokio::time::sleep(pause).await;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep_until(next) => {}
        }
        // Behind schedule after an outage: start again from now rather than burst.
        next = next.max(tokio::time::Instant::now() - interval);
    }
}

/// The WebSocket URL of an engine's base URL.
pub fn ws_url(base: &str, token: &str) -> String {
    format!(
        "{}/api/v1/ws?access_token={token}",
        base.replacen("http://", "ws://", 1)
    )
}

/// What one reader saw.
#[derive(Debug, Default)]
pub struct ReaderReport {
    /// The last position received.
    pub last: i64,
    /// Positions skipped (a gap), counted one by one.
    pub gaps: u64,
    /// Positions received again or out of order.
    pub repeats: u64,
    /// Close codes the engine sent (a killed engine sends none).
    pub closes: Vec<u16>,
    /// Connections opened after the first.
    pub reconnects: u64,
    /// (event id, arrival) when the reader records them.
    pub arrivals: Vec<(String, Instant)>,
}

/// A reader that keeps up: `board` on the live engines, resuming with `since` after any close
/// or failure, until `stop` and then until it has reached the position `finish` names (or 60 s
/// pass).
pub async fn reader(
    index: usize,
    targets: Targets,
    token: String,
    record: bool,
    stop: CancellationToken,
    mut finish: watch::Receiver<Option<i64>>,
) -> ReaderReport {
    let mut report = ReaderReport::default();
    let mut last: Option<i64> = None;
    let mut attempt = index;
    let mut finishing: Option<Instant> = None;
    let mut first = true;
    'connect: loop {
        let done = |last: Option<i64>, finish: &watch::Receiver<Option<i64>>| matches!((last, *finish.borrow()), (Some(l), Some(f)) if l >= f);
        if stop.is_cancelled() {
            let since = *finishing.get_or_insert_with(Instant::now);
            if done(last, &finish) || since.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        let Some(base) = targets.pick(attempt) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        attempt += 1;
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(ws_url(&base, &token)),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !first {
            report.reconnects += 1;
        }
        first = false;
        let mut subscribe = json!({"op": "subscribe", "channels": ["board"]});
        if let Some(last) = last {
            subscribe["since"] = json!(last);
        }
        if ws.send(Message::text(subscribe.to_string())).await.is_err() {
            continue;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            let frame = tokio::select! {
                frame = ws.next() => frame,
                _ = tick.tick() => {
                    if stop.is_cancelled() {
                        let since = *finishing.get_or_insert_with(Instant::now);
                        if done(last, &finish) || since.elapsed() > Duration::from_secs(60) {
                            break 'connect;
                        }
                    }
                    continue;
                }
                _ = finish.changed() => continue,
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    match value["type"].as_str() {
                        Some("subscribed") if last.is_none() => {
                            last = value["position"].as_i64();
                        }
                        Some("event") => {
                            let Some(position) = value["event"]["position"].as_i64() else {
                                continue;
                            };
                            let previous = last.unwrap_or(0);
                            if position <= previous {
                                report.repeats += 1;
                                continue;
                            }
                            report.gaps += (position - previous - 1) as u64;
                            last = Some(position);
                            if record {
                                if let Some(id) = value["event"]["id"].as_str() {
                                    report.arrivals.push((id.to_string(), now));
                                }
                            }
                        }
                        // `unavailable` while Postgres is away: resume on a new connection.
                        Some("error") => {
                            tokio::time::sleep(Duration::from_millis(250)).await;
                            continue 'connect;
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    if let Some(frame) = frame {
                        report.closes.push(u16::from(frame.code));
                    }
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report.last = last.unwrap_or(0);
    report
}

/// What a client that stopped reading found when it read again.
#[derive(Debug, Default)]
pub struct StalledReport {
    /// Events it had been sent, in order, without a gap, from its subscription on.
    pub events: u64,
    /// Frames out of order or with a gap.
    pub disorder: u64,
    /// The close code, if a close frame came.
    pub close: Option<u16>,
}

/// A client that subscribes, stops reading until `resume`, then reads what it was sent.
pub async fn stalled(
    url: String,
    resume: CancellationToken,
    subscribed: tokio::sync::mpsc::Sender<()>,
) -> StalledReport {
    let mut report = StalledReport::default();
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        return report;
    };
    let frame = json!({"op": "subscribe", "channels": ["board"]}).to_string();
    if ws.send(Message::text(frame)).await.is_err() {
        return report;
    }
    let mut last = None;
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            if value["type"] == "subscribed" {
                last = value["position"].as_i64();
                break;
            }
        }
    }
    let _ = subscribed.send(()).await;
    // Stops reading: nothing polls the socket until told.
    resume.cancelled().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if let Some(position) = value["event"]["position"].as_i64() {
                    match last {
                        Some(l) if position == l + 1 => report.events += 1,
                        _ => report.disorder += 1,
                    }
                    last = Some(position);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                report.close = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => break,
        }
    }
    report
}
