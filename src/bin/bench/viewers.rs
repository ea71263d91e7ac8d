//! A room of dashboards: viewers on the `board` channel, each fetching `/board` and `/stats`
//! (with the ETag it holds) within 200 ms after events arrive, as the first dashboard did
//! after every event (the web app now fetches far less often: this is the heavier load),
//! while commands arrive at a fixed rate. Measures the commands' latency from their intended
//! send time, against the same run without viewers, and how long after an event each viewer
//! holds a board that reflects it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dataset::{self, People};
use super::engine::Engine;
use super::reads::Callers;
use super::stats::{summarize, Summary};
use super::Rng;

/// What one run measured.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ViewersRun {
    pub viewers: usize,
    /// Runs pooled into these figures.
    pub rounds: usize,
    pub rate_per_s: f64,
    /// Commands answered (a run stops at a failed one).
    pub commands: usize,
    /// From each command's intended send time.
    pub commands_latency: Summary,
    /// Event time → the viewer holds a board answer at or after the event's position.
    pub board_current: Summary,
    /// Share of (viewer, event) pairs current within 1 s.
    pub current_within_1s: f64,
    /// Board and stats fetches, and how many were answered 304.
    pub fetches: usize,
    pub not_modified: usize,
}

type Lags = Arc<Mutex<Vec<Duration>>>;

const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];

#[derive(Default)]
struct Counts {
    fetches: usize,
    not_modified: usize,
}

/// Where the viewers connect, with a client of their own (its connections live on the viewers'
/// runtime).
struct Room {
    client: reqwest::Client,
    base: String,
    port: u16,
}

async fn fetch(
    room: &Room,
    path: &str,
    token: &str,
    etag: &mut String,
    counts: &Mutex<Counts>,
) -> Option<i64> {
    let mut request = room
        .client
        .get(format!("{}/api/v1{path}", room.base))
        .bearer_auth(token);
    if !etag.is_empty() {
        request = request.header("if-none-match", etag.as_str());
    }
    let r = request.send().await.ok()?;
    let status = r.status();
    if let Ok(mut c) = counts.lock() {
        c.fetches += 1;
        c.not_modified += usize::from(status == reqwest::StatusCode::NOT_MODIFIED);
    }
    if let Some(tag) = r.headers().get("etag").and_then(|v| v.to_str().ok()) {
        *etag = tag.to_string();
    }
    let position = r
        .headers()
        .get("x-projection-position")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    r.bytes().await.ok()?;
    position
}

async fn viewer(
    room: Arc<Room>,
    token: String,
    lags: Lags,
    counts: Arc<Mutex<Counts>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/ws?access_token={token}",
        room.port
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .context("WebSocket connect")?;
    socket
        .send(Message::text(
            json!({"op": "subscribe", "channels": ["board"]}).to_string(),
        ))
        .await?;
    let (mut board_tag, mut stats_tag) = (String::new(), String::new());
    fetch(&room, "/board", &token, &mut board_tag, &counts).await;
    // Events not yet reflected by a board answer: (position, event time).
    let mut pending: Vec<(i64, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let wait = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = wait => {
                due = None;
                let Some(position) = fetch(&room, "/board", &token, &mut board_tag, &counts).await else {
                    continue;
                };
                fetch(&room, "/stats", &token, &mut stats_tag, &counts).await;
                let now = chrono::Utc::now();
                let mut lags = lags.lock().map_err(|_| anyhow::anyhow!("lags poisoned"))?;
                pending.retain(|(p, t)| {
                    if *p <= position {
                        lags.push((now - *t).to_std().unwrap_or_default());
                        false
                    } else {
                        true
                    }
                });
                if !pending.is_empty() {
                    due = Some(tokio::time::Instant::now() + Duration::from_millis(200));
                }
            }
            frame = socket.next() => {
                let Some(frame) = frame else { return Ok(()) };
                let Message::Text(text) = frame? else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                let (Some(position), Some(time)) = (
                    v["event"]["position"].as_i64(),
                    v["event"]["time"].as_str().and_then(|t| t.parse().ok()),
                ) else {
                    continue;
                };
                pending.push((position, time));
                due.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_millis(200));
            }
        }
    }
}

/// What [`commands`] sent.
#[derive(Default)]
struct Commands {
    /// From each command's intended send time, of those that succeeded.
    latencies: Vec<Duration>,
    errors: usize,
    /// The tickets opened.
    opened: Vec<Uuid>,
}

/// Commands at `rate` per second for `duration`: tickets opened, commented and assigned.
async fn commands(
    engine: &Engine,
    c: &Callers,
    people: &People,
    pool: &[Uuid],
    rate: f64,
    duration: Duration,
) -> Commands {
    let total = (rate * duration.as_secs_f64()) as usize;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let intended = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(intended.into()).await;
        let ticket = pool[i % pool.len()];
        let (path, body, token) = match i % 4 {
            0 => (
                "/tickets".to_string(),
                {
                    let (title, description) = dataset::text(&mut Rng::new(i as u64));
                    json!({"title": title, "description": description, "category": "printer",
                           "priority": PRIORITIES[i / 4 % 4]})
                },
                c.requester.clone(),
            ),
            2 => (
                format!("/tickets/{ticket}/assign"),
                json!({"assignee_id": people.agents[i % people.agents.len()].id}),
                c.agent.clone(),
            ),
            _ => (
                format!("/tickets/{ticket}/comments"),
                json!({"body": "bench comment"}),
                c.agent.clone(),
            ),
        };
        let request = engine
            .client
            .post(format!("{}/api/v1{path}", engine.base))
            .bearer_auth(token)
            .json(&body);
        let opens = i % 4 == 0;
        tasks.push(tokio::spawn(async move {
            let response = request.send().await.ok()?;
            if !response.status().is_success() {
                eprintln!("viewers    POST {path} answered {}", response.status());
                return None;
            }
            let latency = intended.elapsed();
            let opened = if opens {
                let body: Value = response.json().await.ok()?;
                body["id"].as_str().and_then(|s| s.parse::<Uuid>().ok())
            } else {
                None
            };
            Some((latency, opened))
        }));
    }
    let mut done = Commands::default();
    for t in tasks {
        match t.await.ok().flatten() {
            Some((latency, opened)) => {
                done.latencies.push(latency);
                done.opened.extend(opened);
            }
            None => done.errors += 1,
        }
    }
    done
}

/// One run with `viewers` viewers (none for the baseline). The agents it assigns tickets to
/// must be known to the engine ([`Engine::make_known`]).
pub async fn run(
    engine: Arc<Engine>,
    c: &Callers,
    people: &People,
    viewers: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Round> {
    // Tickets of this run's own, so that assignments and comments meet no closed ticket.
    let mut pool = Vec::new();
    for i in 0..40 {
        let (title, description) = dataset::text(&mut Rng::new(1_000_000 + i));
        let ticket = json!({"title": title, "description": description, "category": "other",
                            "priority": "medium"});
        pool.push(engine.open_ticket(&c.requester, &ticket).await?);
    }
    let lags: Lags = Arc::default();
    let counts: Arc<Mutex<Counts>> = Arc::default();
    let stop = CancellationToken::new();
    // The viewers stand for people at other machines: on a runtime of their own, so that a
    // command's answer does not wait in a task queue behind fifty viewers' frames and bodies
    // (the operating system still shares the cores between them, as it would between
    // processes). On one runtime, answers read 3–9 ms after the engine had sent them.
    let room = Arc::new(Room {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(2 * viewers.max(1))
            .build()?,
        base: engine.base.clone(),
        port: engine.port,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("viewers")
        .enable_all()
        .build()
        .context("start the viewers' runtime")?;
    let mut tasks = Vec::new();
    for _ in 0..viewers {
        tasks.push(runtime.spawn(viewer(
            room.clone(),
            c.agent.clone(),
            lags.clone(),
            counts.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let Commands {
        latencies,
        errors,
        opened,
    } = commands(&engine, c, people, &pool, rate, duration).await;
    // The last events' fetches.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    // Dropping a runtime may block, which an async context must not.
    runtime.shutdown_background();
    pool.extend(opened);
    engine.close_all(&c.agent, &pool).await?;
    // A failed command is a broken bench, not a figure: its latency would be left out.
    anyhow::ensure!(errors == 0, "{errors} of the viewers run's commands failed");
    let lags = lags.lock().map(|l| l.clone()).unwrap_or_default();
    let (fetches, not_modified) = counts
        .lock()
        .map(|c| (c.fetches, c.not_modified))
        .unwrap_or_default();
    let round = Round {
        viewers,
        rate,
        latencies,
        lags,
        fetches,
        not_modified,
    };
    let run = pooled(std::slice::from_ref(&round));
    eprintln!(
        "viewers    {:>3} viewers, {} commands at {}/s: p50 {:.2} ms p99 {:.2} ms; board current p50 {:.0} ms p99 {:.0} ms max {:.0} ms ({:.1} % within 1 s); {} fetches, {} answered 304",
        run.viewers, run.commands, run.rate_per_s, run.commands_latency.p50_ms,
        run.commands_latency.p99_ms, run.board_current.p50_ms, run.board_current.p99_ms,
        run.board_current.max_ms, run.current_within_1s * 100.0, run.fetches, run.not_modified
    );
    Ok(round)
}

/// One run's samples, pooled with the other runs of its kind by [`pooled`].
pub struct Round {
    viewers: usize,
    rate: f64,
    latencies: Vec<Duration>,
    lags: Vec<Duration>,
    fetches: usize,
    not_modified: usize,
}

impl Round {
    pub fn p99_ms(&self) -> f64 {
        summarize(&mut self.latencies.clone()).p99_ms
    }
}

/// The figures of `rounds` (runs of one kind) taken together.
pub fn pooled(rounds: &[Round]) -> ViewersRun {
    let mut latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
    let mut lags: Vec<Duration> = rounds.iter().flat_map(|r| r.lags.clone()).collect();
    let within = lags
        .iter()
        .filter(|l| **l <= Duration::from_secs(1))
        .count();
    ViewersRun {
        viewers: rounds.first().map_or(0, |r| r.viewers),
        rounds: rounds.len(),
        rate_per_s: rounds.first().map_or(0.0, |r| r.rate),
        commands: latencies.len(),
        commands_latency: summarize(&mut latencies),
        current_within_1s: if lags.is_empty() {
            0.0
        } else {
            within as f64 / lags.len() as f64
        },
        board_current: summarize(&mut lags),
        fetches: rounds.iter().map(|r| r.fetches).sum(),
        not_modified: rounds.iter().map(|r| r.not_modified).sum(),
    }
}
