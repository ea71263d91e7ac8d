//! ticketd itself, as a separate process, driven through its HTTP API while its projectors,
//! relay and WebSocket hub run.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::cpu::process_seconds;
use super::stats::{summarize, Summary};
use super::{closed_loop, LoadResult, Rng};

pub const SECRET: &str = "ticketd-bench-secret-0123456789-0123456789";

/// A running engine process.
pub struct Engine {
    child: Child,
    pub pid: Option<u32>,
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub token: String,
    pub nats_prefix: String,
    pub nats_stream: String,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub fn mint(user: Uuid, role: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    // An e-mail address of its own: a user first seen in a token is added only under an address
    // no other user has.
    let claims = json!({"sub": user, "email": format!("{role}.{}@bench.test", user.simple()), "name": format!("Bench {role}"),
        "role": role, "iss": "ticketd", "aud": "ticketd-api", "iat": now, "exp": now + 24 * 3600});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )?)
}

impl Engine {
    /// Starts `ticketd-bench __serve` on `database_url` and waits until it is ready.
    pub async fn start(database_url: &str, nats_url: Option<&str>) -> anyhow::Result<Self> {
        Self::start_with(database_url, nats_url, &[]).await
    }

    /// Like [`Engine::start`], with more environment variables (e.g. the mail settings).
    pub async fn start_with(
        database_url: &str,
        nats_url: Option<&str>,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let tag = Uuid::new_v4().simple().to_string()[..10].to_string();
        let nats_stream = format!("BENCH_{tag}");
        let nats_prefix = format!("bench{tag}");
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("__serve")
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", SECRET)
            .env("TICKETD_RATE_LIMIT_PER_SECOND", "1000000")
            .env("TICKETD_RATE_LIMIT_BURST", "1000000")
            .env("NATS_STREAM", &nats_stream)
            .env("NATS_SUBJECT_PREFIX", &nats_prefix)
            .env(
                "RUST_LOG",
                std::env::var("BENCH_ENGINE_LOG").unwrap_or_else(|_| "error,tower_http=off".into()),
            )
            .env_remove("NATS_URL")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = nats_url {
            command.env("NATS_URL", url);
        }
        let child = command.spawn().context("start the engine process")?;
        let pid = child.id();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the engine did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let agent = Uuid::now_v7();
        Ok(Self {
            child,
            pid,
            base,
            port,
            client,
            token: mint(agent, "agent")?,
            nats_prefix,
            nats_stream,
        })
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.pid {
            // SIGTERM: the engine shuts down gracefully.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    /// Opens `count` tickets, 16 at a time.
    pub async fn seed(&self, count: usize) -> anyhow::Result<Vec<Uuid>> {
        let gate = Arc::new(Semaphore::new(16));
        let mut tasks = Vec::new();
        for i in 0..count {
            let permit = gate.clone().acquire_owned().await?;
            let client = self.client.clone();
            let url = self.api("/tickets");
            let token = self.token.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let priority = ["low", "medium", "high", "urgent"][i % 4];
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"title": format!("Bench ticket {i}"), "description": "Seeded by ticketd-bench",
                                   "category": "software", "priority": priority}))
                    .send()
                    .await?;
                if r.status() != reqwest::StatusCode::CREATED {
                    bail!("seeding answered {}", r.status());
                }
                let body: Value = r.json().await?;
                body["id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok())
                    .context("no id in the answer")
            }));
        }
        let mut ids = Vec::with_capacity(count);
        for t in tasks {
            ids.push(t.await??);
        }
        Ok(ids)
    }

    /// Opens `ticket` (the body of `POST /tickets`) as the user of `token`; returns its id.
    pub async fn open_ticket(&self, token: &str, ticket: &Value) -> anyhow::Result<Uuid> {
        let r = self
            .client
            .post(self.api("/tickets"))
            .bearer_auth(token)
            .json(ticket)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("opening a ticket answered {status}: {body}"))
    }

    /// Makes the engine know `agents` (a user is added when first seen in a valid token): the
    /// data sets name agents in their events only, and an assignment must name a known one.
    pub async fn make_known(&self, agents: impl IntoIterator<Item = Uuid>) -> anyhow::Result<()> {
        for agent in agents {
            let r = self
                .client
                .get(self.api("/me"))
                .bearer_auth(mint(agent, "agent")?)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("agent {agent} asking /me answered {}", r.status());
            }
        }
        Ok(())
    }

    /// Closes `tickets` as the user of `token`, 16 at a time. A part that opens tickets on a
    /// reused data set closes them when it is done, so that the next run meets the set as the
    /// generator left it: open tickets are what `/stats` counts the passed targets over, and the
    /// reads runs of one afternoon had opened 2,520 of the 3,425 open in its last 30 days.
    pub async fn close_all(&self, token: &str, tickets: &[Uuid]) -> anyhow::Result<()> {
        let closes = futures::stream::iter(tickets.iter().map(|id| {
            self.client
                .post(self.api(&format!("/tickets/{id}/close")))
                .bearer_auth(token)
                .json(&json!({"resolution": "closed by ticketd-bench"}))
                .send()
        }))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
        for close in closes {
            let status = close?.status();
            if !status.is_success() {
                bail!("closing a bench ticket answered {status}");
            }
        }
        Ok(())
    }

    /// Closed loop: `clients` workers, each commenting on its own tickets back to back.
    pub async fn closed_loop(
        &self,
        tickets: &[Uuid],
        clients: usize,
        duration: Duration,
    ) -> LoadResult {
        let client = self.client.clone();
        let token = self.token.clone();
        let base = self.api("/tickets");
        closed_loop(tickets, clients, duration, move |ticket| {
            let request = client
                .post(format!("{base}/{ticket}/comments"))
                .bearer_auth(&token)
                .json(&json!({"body": "closed-loop comment"}));
            async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await
    }
}

/// What the open-loop run measured.
#[derive(Debug, Default, serde::Serialize)]
pub struct OpenLoop {
    pub rate_per_s: f64,
    pub commands: usize,
    pub errors: u64,
    /// From each command's intended send time (corrects for coordinated omission).
    pub latency: Summary,
    /// Command response → `GET /tickets/{id}?min_version=` answered (sampled).
    pub read_model: Summary,
    /// `GET /tickets/{id}` without `min_version`, sent on a response as the samples above are
    /// (other commands): what the read itself costs at this load, waiting for nothing.
    pub read_alone: Summary,
    /// Command response → JetStream message seen by a subscriber.
    pub ack: Summary,
    /// Command response → WebSocket push received (measuring clients).
    pub push: Summary,
    pub ws_clients: usize,
    /// `event` frames received by all WebSocket clients together.
    pub frames: u64,
    /// The engine process's CPU seconds (user + system) from the first command until the last
    /// pushes had time to arrive; the clients run in this process, not the engine's.
    pub engine_cpu_seconds: f64,
}

type Responses = Arc<Mutex<HashMap<String, Instant>>>;
type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

async fn ws_client(
    url: String,
    measure: bool,
    arrivals: Arrivals,
    frames: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .context("WebSocket connect")?;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"op": "subscribe", "channels": ["board"]}).to_string(),
        ))
        .await?;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            frame = socket.next() => {
                let Some(frame) = frame else { return Ok(()) };
                let frame = frame?;
                if let tokio_tungstenite::tungstenite::Message::Text(text) = &frame {
                    if text.as_str().starts_with(r#"{"type":"event""#) {
                        frames.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if !measure {
                    continue;
                }
                if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                    let now = Instant::now();
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        if let Some(id) = v["event"]["id"].as_str() {
                            arrivals.lock().map(|mut a| a.push((id.to_string(), now))).ok();
                        }
                    }
                }
            }
        }
    }
}

impl Engine {
    /// Open loop at `rate` commands/s for `duration`, with `ws_clients` connected to the
    /// board channel and a NATS subscriber on the engine's subjects.
    pub async fn open_loop(
        &self,
        tickets: &[Uuid],
        rate: f64,
        duration: Duration,
        ws_clients: usize,
        nats_url: Option<&str>,
    ) -> anyhow::Result<OpenLoop> {
        let responses: Responses = Arc::default();
        let push_arrivals: Arrivals = Arc::default();
        let ack_arrivals: Arrivals = Arc::default();
        let stop = tokio_util::sync::CancellationToken::new();
        let frames = Arc::new(AtomicU64::new(0));

        let ws_url = format!(
            "ws://127.0.0.1:{}/api/v1/ws?access_token={}",
            self.port, self.token
        );
        let mut clients = Vec::new();
        for i in 0..ws_clients {
            // A few clients measure; the rest load the hub's fan-out.
            let measure = i % (ws_clients / 10).max(1) == 0;
            clients.push(tokio::spawn(ws_client(
                ws_url.clone(),
                measure,
                push_arrivals.clone(),
                frames.clone(),
                stop.clone(),
            )));
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut nats_task = None;
        if let Some(url) = nats_url {
            let client = async_nats::connect(url).await.context("connect to NATS")?;
            let mut sub = client.subscribe(format!("{}.>", self.nats_prefix)).await?;
            let arrivals = ack_arrivals.clone();
            let stop = stop.clone();
            nats_task = Some(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        msg = sub.next() => {
                            let Some(msg) = msg else { break };
                            let now = Instant::now();
                            if let Some(id) = msg.headers.as_ref().and_then(ticket_nats::publish::message_id) {
                                arrivals.lock().map(|mut a| a.push((id.to_string(), now))).ok();
                            }
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        let engine_cpu = || self.pid.and_then(process_seconds).unwrap_or(0.0);
        let cpu_before = engine_cpu();
        let total = (rate * duration.as_secs_f64()) as usize;
        let gate = Arc::new(Semaphore::new(2048));
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        let mut rng = Rng::new(4242);
        let read_samples: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let alone_samples: Arc<Mutex<Vec<Duration>>> = Arc::default();
        for i in 0..total {
            let intended = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(intended.into()).await;
            let permit = gate.clone().acquire_owned().await?;
            let client = self.client.clone();
            let token = self.token.clone();
            let ticket = tickets[rng.below(tickets.len())];
            let url = self.api(&format!("/tickets/{ticket}"));
            let responses = responses.clone();
            let read_samples = read_samples.clone();
            let alone_samples = alone_samples.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let r = client
                    .post(format!("{url}/comments"))
                    .bearer_auth(&token)
                    .json(&json!({"body": "open-loop comment"}))
                    .send()
                    .await
                    .ok()?;
                if !r.status().is_success() {
                    return None;
                }
                let body: Value = r.json().await.ok()?;
                let answered = Instant::now();
                let version = body["version"].as_i64()?;
                responses
                    .lock()
                    .ok()?
                    .insert(format!("{ticket}:{version}"), answered);
                // Every 20th command reads its own write; another 1 in 20 reads without waiting.
                let sample = match i % 20 {
                    0 => Some((format!("{url}?min_version={version}"), &read_samples)),
                    10 => Some((url.clone(), &alone_samples)),
                    _ => None,
                };
                if let Some((read_url, samples)) = sample {
                    let seen = client.get(read_url).bearer_auth(&token).send().await.ok()?;
                    if seen.status().is_success() {
                        samples.lock().ok()?.push(answered.elapsed());
                    }
                }
                Some(answered.duration_since(intended))
            }));
        }
        let mut latencies = Vec::with_capacity(total);
        let mut errors = 0;
        for t in tasks {
            match t.await.ok().flatten() {
                Some(l) => latencies.push(l),
                None => errors += 1,
            }
        }
        // Let the last pushes and acks arrive.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let engine_cpu_seconds = engine_cpu() - cpu_before;
        stop.cancel();
        for c in clients {
            let _ = c.await;
        }
        if let Some(t) = nats_task {
            let _ = t.await;
        }
        let responses = responses.lock().map(|r| r.clone()).unwrap_or_default();
        let delays = |arrivals: &Arrivals| -> Vec<Duration> {
            arrivals
                .lock()
                .map(|a| {
                    a.iter()
                        .filter_map(|(id, at)| {
                            // A push can beat the HTTP response to the client: count that as 0.
                            responses.get(id).map(|r| at.saturating_duration_since(*r))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut push = delays(&push_arrivals);
        let mut ack = delays(&ack_arrivals);
        let mut read = read_samples.lock().map(|r| r.clone()).unwrap_or_default();
        let mut alone = alone_samples.lock().map(|r| r.clone()).unwrap_or_default();
        Ok(OpenLoop {
            rate_per_s: rate,
            commands: latencies.len(),
            errors,
            latency: summarize(&mut latencies),
            read_model: summarize(&mut read),
            read_alone: summarize(&mut alone),
            ack: summarize(&mut ack),
            push: summarize(&mut push),
            ws_clients,
            frames: frames.load(Ordering::Relaxed),
            engine_cpu_seconds,
        })
    }
}

/// Deletes the engine's NATS stream.
pub async fn delete_stream(nats_url: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(nats_url).await {
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(stream).await;
    }
}
