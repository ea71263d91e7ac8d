//! `ticketd-chaos`: faults under load, counted. It starts its own Postgres cluster (`initdb`,
//! `pg_ctl`) and nats-server with JetStream, in a temporary directory and on free ports, runs
//! release `ticketd serve` processes against them, and under concurrent commands (retried with
//! idempotency keys) and WebSocket readers it kills and restarts them:
//!
//! - `kill9`: `kill -9` of the engine, then a restart;
//! - `nats`: NATS down for 30 s (10 s with `--short`);
//! - `pg-fast`, `pg-immediate`: Postgres stopped in that mode and started again;
//! - `failover`: two engines, the leader (sequencer and relay) killed;
//! - `ws-stall`: 200 WebSocket clients, 10 of which stop reading for 2,500 events.
//!
//! Then it checks that every acknowledged command's event is in the store, the `/events` feed
//! and the stream, once, that readers saw every position once and in order, and prints a table.
//! It exits non-zero when an expectation fails. Run it with `deploy/chaos.sh` (which builds it).

#[path = "chaos/check.rs"]
mod check;
#[path = "chaos/cluster.rs"]
mod cluster;
#[path = "bench/db.rs"]
mod db;
#[path = "chaos/load.rs"]
mod load;
#[path = "bench/stats.rs"]
mod stats;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use cluster::{Engine, Nats, Postgres};
use db::BenchDb;
use load::{Ledger, ReaderReport, Targets};

const FAULTS: [&str; 6] = [
    "kill9",
    "nats",
    "pg-fast",
    "pg-immediate",
    "failover",
    "ws-stall",
];

/// Faults under load, with lost and duplicated events counted.
#[derive(Debug, Parser)]
#[command(name = "ticketd-chaos", version)]
struct Args {
    /// Quick mode: fewer runs of each fault, NATS down for 10 s.
    #[arg(long)]
    short: bool,
    /// Runs of each fault (default 3, or 1 with --short; ws-stall: 2, or 1).
    #[arg(long)]
    runs: Option<usize>,
    /// Only these faults (comma-separated): kill9, nats, pg-fast, pg-immediate, failover,
    /// ws-stall.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Commands per second, over all workers.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Command workers.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// WebSocket readers during the other faults.
    #[arg(long, default_value_t = 20)]
    readers: usize,
    /// The engine binary (default: `ticketd` next to this one).
    #[arg(long)]
    engine: Option<PathBuf>,
    /// Keep the temporary directory (logs of Postgres, NATS and the engines).
    #[arg(long)]
    keep: bool,
}

/// The figures of one fault.
#[derive(Debug, Default)]
struct Figures {
    fault: String,
    runs: usize,
    acked: u64,
    lost: u64,
    applied_twice: u64,
    nats_duplicates: u64,
    server_errors: u64,
    unavailable: u64,
    unavailable_without_retry_after: u64,
    recovery: Vec<Duration>,
    takeover: Vec<Duration>,
    reader_gaps: u64,
    reader_repeats: u64,
    notes: Vec<String>,
    failures: Vec<String>,
}

/// Everything one fault's run needs: a database, a stream, engines, load and readers.
struct Scene {
    name: String,
    db: BenchDb,
    pool: sqlx::PgPool,
    stream: String,
    nats_url: String,
    engines: Vec<Engine>,
    http: reqwest::Client,
    agent: String,
    admin: String,
    targets: Targets,
    ledger: Arc<Ledger>,
    tickets: Arc<Vec<Uuid>>,
    stop: CancellationToken,
    finish: watch::Sender<Option<i64>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    readers: Vec<tokio::task::JoinHandle<ReaderReport>>,
}

fn mint(user: Uuid, role: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user, "email": format!("{role}@chaos.test"), "name": format!("Chaos {role}"),
        "role": role, "iss": "ticketd", "aud": "ticketd-api", "iat": now, "exp": now + 24 * 3600});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(cluster::SECRET.as_bytes()),
    )?)
}

struct Suite {
    args: Args,
    dir: PathBuf,
    engine: PathBuf,
    pg: Postgres,
    nats: Nats,
    http: reqwest::Client,
}

impl Suite {
    fn runs(&self, fault: &str) -> usize {
        match (self.args.runs, fault, self.args.short) {
            (Some(n), _, _) => n.max(1),
            (None, _, true) => 1,
            (None, "ws-stall", false) => 2,
            (None, _, false) => 3,
        }
    }

    /// A fresh database and stream, `engines` engines, tickets, readers and workers running.
    async fn scene(&self, name: &str, engines: usize, readers: usize) -> anyhow::Result<Scene> {
        let db = BenchDb::create(&self.pg.admin_url(), &name.replace('-', "_")).await?;
        let stream = format!("CHAOS_{}", name.replace('-', "_").to_uppercase());
        let mut started = Vec::new();
        for i in 0..engines {
            let mut engine = Engine::new(
                &format!("{name}-{}", ["a", "b"][i % 2]),
                &self.engine,
                &self.dir,
                &db.url,
                &self.nats.url(),
                &stream,
            )?;
            engine.start(&self.http).await?;
            started.push(engine);
        }
        let pool = db.pool(4).await?;
        let agent = mint(Uuid::now_v7(), "agent")?;
        let admin = mint(Uuid::now_v7(), "admin")?;
        let mut tickets = Vec::new();
        for i in 0..40 {
            let r = self
                .http
                .post(format!("{}/api/v1/tickets", started[0].base))
                .bearer_auth(&agent)
                .json(
                    &json!({"title": format!("Chaos ticket {i}"), "description": "load",
                               "category": "software", "priority": "low"}),
                )
                .send()
                .await?;
            if r.status() != reqwest::StatusCode::CREATED {
                bail!("seeding answered {}", r.status());
            }
            let body: serde_json::Value = r.json().await?;
            tickets.push(body["id"].as_str().context("an id")?.parse()?);
        }
        let targets = Targets::default();
        targets.set(started.iter().map(|e| e.base.clone()).collect());
        let (finish, finish_rx) = watch::channel(None);
        let stop = CancellationToken::new();
        let mut scene = Scene {
            name: name.to_string(),
            db,
            pool,
            stream,
            nats_url: self.nats.url(),
            engines: started,
            http: self.http.clone(),
            agent,
            admin,
            targets,
            ledger: Arc::default(),
            tickets: Arc::new(tickets),
            stop,
            finish,
            workers: Vec::new(),
            readers: Vec::new(),
        };
        for i in 0..readers {
            scene.readers.push(tokio::spawn(load::reader(
                i,
                scene.targets.clone(),
                scene.agent.clone(),
                // A sample of the readers times its pushes (all of them would hold millions).
                name == "ws-stall" && i % 10 == 0,
                scene.stop.clone(),
                finish_rx.clone(),
            )));
        }
        // Let the readers subscribe before the first command.
        tokio::time::sleep(Duration::from_millis(500 + 5 * readers as u64)).await;
        let workers = self.args.workers.max(1);
        let interval = Duration::from_secs_f64(workers as f64 / self.args.rate.max(1.0));
        for i in 0..workers {
            scene.workers.push(tokio::spawn(load::worker(
                i,
                self.http.clone(),
                scene.targets.clone(),
                scene.tickets.clone(),
                scene.agent.clone(),
                scene.ledger.clone(),
                interval,
                scene.stop.clone(),
            )));
        }
        Ok(scene)
    }
}

impl Scene {
    /// Stops the load, checks everything, and stops the engines.
    async fn finish(mut self, figures: &mut Figures) -> anyhow::Result<Vec<ReaderReport>> {
        self.stop.cancel();
        for w in self.workers.drain(..) {
            let _ = w.await;
        }
        let acks = self.ledger.acks();
        let acked: HashSet<String> = acks.iter().map(|(id, _)| id.clone()).collect();
        let base = self
            .engines
            .iter()
            .find(|e| e.is_running())
            .map(|e| e.base.clone())
            .context("no engine running")?;
        let verdict = check::verify(
            &self.pool,
            &self.http,
            &base,
            &self.admin,
            &self.nats_url,
            &self.stream,
            &acked,
        )
        .await?;
        let _ = self.finish.send(Some(verdict.head));
        let mut reports = Vec::new();
        for r in self.readers.drain(..) {
            if let Ok(report) = r.await {
                reports.push(report);
            }
        }
        let c = &self.ledger.counters;
        figures.acked += self.ledger.acked();
        figures.lost += verdict.lost;
        figures.applied_twice += verdict.applied_twice;
        figures.nats_duplicates += verdict.nats_duplicates;
        figures.server_errors += c.server_errors.load(Ordering::Relaxed);
        figures.unavailable += c.unavailable.load(Ordering::Relaxed);
        figures.unavailable_without_retry_after +=
            c.unavailable_without_retry_after.load(Ordering::Relaxed);
        for r in &reports {
            figures.reader_gaps += r.gaps + (verdict.head - r.last).max(0) as u64;
            figures.reader_repeats += r.repeats;
        }
        let abandoned = c.abandoned.load(Ordering::Relaxed);
        let refused = c.client_errors.load(Ordering::Relaxed);
        if verdict.lost > 0 {
            figures.failures.push(format!(
                "{} acknowledged events lost (store {}, feed {}, NATS {})",
                verdict.lost, verdict.lost_store, verdict.lost_feed, verdict.lost_nats
            ));
        }
        if verdict.feed_disorder > 0 {
            figures.failures.push(format!(
                "the feed skipped or repeated {} positions",
                verdict.feed_disorder
            ));
        }
        if abandoned > 0 || refused > 0 {
            figures.failures.push(format!(
                "{abandoned} commands never answered, {refused} refused with a 4xx: {:?}",
                self.ledger
                    .samples
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_default()
            ));
        }
        figures.notes.push(format!(
            "{}: {} acknowledged, {} retries, {} transport errors, {} reader reconnects, head {}",
            self.name,
            self.ledger.acked(),
            c.retries.load(Ordering::Relaxed),
            c.transport_errors.load(Ordering::Relaxed),
            reports.iter().map(|r| r.reconnects).sum::<u64>(),
            verdict.head
        ));
        for engine in &mut self.engines {
            engine.stop().await;
        }
        self.pool.close().await;
        if let Ok(client) = async_nats::connect(&self.nats_url).await {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&self.stream)
                .await;
        }
        self.db.drop_db().await;
        Ok(reports)
    }

    fn ledger_samples(&self) -> HashMap<u16, String> {
        self.ledger
            .samples
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

fn warm_up(short: bool) -> Duration {
    Duration::from_secs(if short { 3 } else { 5 })
}

async fn kill9(ctx: &Suite, figures: &mut Figures) -> anyhow::Result<()> {
    let mut scene = ctx.scene("kill9", 1, ctx.args.readers).await?;
    for _ in 0..figures.runs {
        tokio::time::sleep(warm_up(ctx.args.short)).await;
        // Commands keep coming: those in flight fail, and every retry meets a closed port
        // until the engine is back.
        scene.engines[0].kill9().await;
        let dead = Instant::now();
        scene.engines[0].start(&ctx.http).await?;
        match scene
            .ledger
            .wait_first_ack_after(dead, Duration::from_secs(30))
            .await
        {
            Some(d) => figures.recovery.push(d),
            None => figures
                .failures
                .push("no command acknowledged within 30 s of a restart".into()),
        }
    }
    tokio::time::sleep(warm_up(ctx.args.short)).await;
    scene.finish(figures).await?;
    Ok(())
}

async fn nats_outage(ctx: &mut Suite, figures: &mut Figures) -> anyhow::Result<()> {
    let scene = ctx.scene("nats", 1, ctx.args.readers).await?;
    let outage = Duration::from_secs(if ctx.args.short { 10 } else { 30 });
    for _ in 0..figures.runs {
        tokio::time::sleep(warm_up(ctx.args.short)).await;
        ctx.nats.stop().await;
        let down = Instant::now();
        let acked_before = scene.ledger.acked();
        tokio::time::sleep(outage).await;
        let acked_during = scene.ledger.acked() - acked_before;
        if acked_during == 0 {
            figures
                .failures
                .push("no command acknowledged while NATS was down".into());
        }
        figures.notes.push(format!(
            "nats: {acked_during} commands acknowledged during {:.0} s without NATS",
            down.elapsed().as_secs_f64()
        ));
        ctx.nats.start().await?;
        let up = Instant::now();
        // Recovered: the stream holds everything stored when NATS came back.
        let (head,): (i64,) = sqlx::query_as("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&scene.pool)
            .await?;
        loop {
            let relayed: Option<i64> =
                sqlx::query_scalar("SELECT max(position) FROM relay_checkpoints")
                    .fetch_one(&scene.pool)
                    .await?;
            if relayed.unwrap_or(0) >= head {
                figures.recovery.push(up.elapsed());
                break;
            }
            if up.elapsed() > Duration::from_secs(60) {
                figures
                    .failures
                    .push("the relay did not catch up within 60 s of NATS returning".into());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(warm_up(ctx.args.short)).await;
    scene.finish(figures).await?;
    Ok(())
}

async fn postgres_restart(ctx: &Suite, mode: &str, figures: &mut Figures) -> anyhow::Result<()> {
    let scene = ctx
        .scene(&format!("pg-{mode}"), 1, ctx.args.readers)
        .await?;
    for _ in 0..figures.runs {
        tokio::time::sleep(warm_up(ctx.args.short)).await;
        ctx.pg.stop(mode).await?;
        // Down long enough for commands to meet the outage.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ctx.pg.start().await?;
        let up = Instant::now();
        match scene
            .ledger
            .wait_first_ack_after(up, Duration::from_secs(60))
            .await
        {
            Some(d) => figures.recovery.push(d),
            None => figures.failures.push(format!(
                "no command acknowledged within 60 s of Postgres returning ({:?})",
                scene.ledger_samples()
            )),
        }
    }
    tokio::time::sleep(warm_up(ctx.args.short)).await;
    scene.finish(figures).await?;
    Ok(())
}

/// The engine that leads the relay (and, started first, the sequencer), from `/readyz`.
async fn leader(scene: &Scene, http: &reqwest::Client) -> Option<usize> {
    for (i, engine) in scene.engines.iter().enumerate() {
        if let Some(ready) = engine.readyz(http).await {
            if ready["nats"]["relay"]["leader"] == true {
                return Some(i);
            }
        }
    }
    None
}

async fn failover(ctx: &Suite, figures: &mut Figures) -> anyhow::Result<()> {
    let mut scene = ctx.scene("failover", 2, ctx.args.readers).await?;
    let client = async_nats::connect(&scene.nats_url).await?;
    let probe_ticket = scene.tickets[0];
    for run in 0..figures.runs {
        tokio::time::sleep(warm_up(ctx.args.short)).await;
        let Some(killed) = leader(&scene, &ctx.http).await else {
            figures
                .failures
                .push(format!("run {run}: no instance says it leads the relay"));
            continue;
        };
        let survivor = 1 - killed;
        let prefix = scene.stream.to_lowercase();
        let mut subscription = client.subscribe(format!("{prefix}.>")).await?;
        // The killed engine stays a target, as behind a load balancer that has not noticed yet:
        // the retries of what it had in flight meet a closed port, then go to the survivor.
        let t0 = Instant::now();
        scene.engines[killed].kill9().await;
        // A probe through the survivor: when it has a position (the survivor sequences) and
        // is in the stream (the survivor relays), the standby has taken over.
        let survivor_base = scene.engines[survivor].base.clone();
        let key = Uuid::new_v4().to_string();
        let probe = loop {
            let r = ctx
                .http
                .post(format!(
                    "{survivor_base}/api/v1/tickets/{probe_ticket}/comments"
                ))
                .bearer_auth(&scene.agent)
                .header("Idempotency-Key", &key)
                .json(&json!({"body": format!("probe {key}")}))
                .send()
                .await;
            if let Ok(r) = r {
                if r.status().is_success() {
                    let body: serde_json::Value = r.json().await?;
                    break body["version"].as_i64().context("a version")?;
                }
            }
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("the survivor acknowledged no probe within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let probe_id = format!("{probe_ticket}:{probe}");
        let mut positioned = None;
        let mut relayed = None;
        while (positioned.is_none() || relayed.is_none()) && t0.elapsed() < Duration::from_secs(60)
        {
            if positioned.is_none() {
                let history: serde_json::Value = ctx
                    .http
                    .get(format!(
                        "{survivor_base}/api/v1/tickets/{probe_ticket}/history"
                    ))
                    .bearer_auth(&scene.admin)
                    .send()
                    .await?
                    .json()
                    .await
                    .unwrap_or_default();
                let shown = history["events"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["id"] == probe_id.as_str()));
                if shown {
                    positioned = Some(t0.elapsed());
                }
            }
            if relayed.is_none() {
                while let Ok(Some(message)) =
                    tokio::time::timeout(Duration::from_millis(20), subscription.next()).await
                {
                    let id = message
                        .headers
                        .as_ref()
                        .and_then(ticket_nats::publish::message_id);
                    if id == Some(probe_id.as_str()) {
                        relayed = Some(t0.elapsed());
                        break;
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        match (positioned, relayed) {
            (Some(p), Some(r)) => {
                figures.takeover.push(p.max(r));
                figures.notes.push(format!(
                    "failover run {run}: positioned after {:.2} s, in the stream after {:.2} s",
                    p.as_secs_f64(),
                    r.as_secs_f64()
                ));
            }
            _ => figures.failures.push(format!(
                "run {run}: the standby did not take over within 60 s (positioned {positioned:?}, relayed {relayed:?})"
            )),
        }
        if let Some(d) = scene
            .ledger
            .wait_first_ack_after(t0, Duration::from_secs(30))
            .await
        {
            figures.recovery.push(d);
        }
        // The killed one comes back as the standby.
        scene.engines[killed].start(&ctx.http).await?;
    }
    tokio::time::sleep(warm_up(ctx.args.short)).await;
    scene.finish(figures).await?;
    Ok(())
}

/// Push latency of the readers' arrivals (between `from` and `to`) from the command's answer.
fn push_latency(
    reports: &[ReaderReport],
    acks: &HashMap<String, Instant>,
    from: Instant,
    to: Instant,
) -> stats::Summary {
    let mut samples: Vec<Duration> = reports
        .iter()
        .flat_map(|r| r.arrivals.iter())
        .filter_map(|(id, at)| {
            let acked = acks.get(id)?;
            (*acked >= from && *acked < to).then(|| at.saturating_duration_since(*acked))
        })
        .collect();
    stats::summarize(&mut samples)
}

async fn ws_stall(ctx: &Suite, figures: &mut Figures) -> anyhow::Result<()> {
    const READERS: usize = 190;
    const STALLED: usize = 10;
    const EVENTS: u64 = 2500;
    let scene = ctx.scene("ws-stall", 1, READERS).await?;
    let base = scene.engines[0].base.clone();
    let mut phases = Vec::new();
    let mut stalled_reports = Vec::new();
    for _ in 0..figures.runs {
        // Baseline: everyone reads.
        let from = Instant::now();
        let start = scene.ledger.acked();
        while scene.ledger.acked() < start + EVENTS / 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let baseline = (from, Instant::now());
        // Ten clients stop reading during 2,500 events.
        let resume = CancellationToken::new();
        let (subscribed, mut ready) = tokio::sync::mpsc::channel(STALLED);
        let mut stalled = Vec::new();
        for _ in 0..STALLED {
            stalled.push(tokio::spawn(load::stalled(
                load::ws_url(&base, &scene.agent),
                resume.clone(),
                subscribed.clone(),
            )));
        }
        for _ in 0..STALLED {
            ready.recv().await;
        }
        let from = Instant::now();
        let start = scene.ledger.acked();
        while scene.ledger.acked() < start + EVENTS {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        phases.push((baseline, (from, Instant::now())));
        resume.cancel();
        for s in stalled {
            stalled_reports.push(s.await?);
        }
    }
    let acks: HashMap<String, Instant> = scene.ledger.acks().into_iter().collect();
    let readers = scene.finish(figures).await?;
    let closed = stalled_reports
        .iter()
        .filter(|r| r.close == Some(1013))
        .count();
    let most = stalled_reports.iter().map(|r| r.events).max().unwrap_or(0);
    let disorder: u64 = stalled_reports.iter().map(|r| r.disorder).sum();
    figures.notes.push(format!(
        "ws-stall: {closed} of {} stalled clients closed with 1013, after at most {most} events each \
         ({disorder} out of order); readers closed with 1013: {}",
        stalled_reports.len(),
        readers.iter().flat_map(|r| &r.closes).filter(|c| **c == 1013).count()
    ));
    if closed != stalled_reports.len() || disorder > 0 {
        figures.failures.push(format!(
            "{} of {} stalled clients were not closed with 1013 (or got frames out of order: {disorder})",
            stalled_reports.len() - closed,
            stalled_reports.len()
        ));
    }
    for (i, (baseline, stall)) in phases.iter().enumerate() {
        let before = push_latency(&readers, &acks, baseline.0, baseline.1);
        let during = push_latency(&readers, &acks, stall.0, stall.1);
        figures.notes.push(format!(
            "ws-stall run {i}: push latency of the {READERS} readers p50/p99/max {:.1}/{:.1}/{:.1} ms before, \
             {:.1}/{:.1}/{:.1} ms while {STALLED} clients stalled ({} and {} samples)",
            before.p50_ms, before.p99_ms, before.max_ms, during.p50_ms, during.p99_ms, during.max_ms,
            before.count, during.count
        ));
        // "Flat": the stalled clients must not slow the others beyond noise.
        if during.p99_ms > (before.p99_ms * 2.0).max(before.p99_ms + 50.0) {
            figures.failures.push(format!(
                "readers' push p99 rose from {:.1} ms to {:.1} ms while clients stalled",
                before.p99_ms, during.p99_ms
            ));
        }
    }
    Ok(())
}

fn seconds(samples: &[Duration]) -> String {
    match samples.iter().max() {
        None => "–".into(),
        Some(max) => {
            let mean =
                samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
            format!("{mean:.2} s (max {:.2} s)", max.as_secs_f64())
        }
    }
}

fn print_table(all: &[Figures]) {
    println!();
    println!("| fault | runs | commands acknowledged | lost | applied twice | NATS duplicates | 5xx other than 503 | 503 (without Retry-After) | recovery | takeover | reader gaps / repeats |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|");
    for f in all {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} / {} |",
            f.fault,
            f.runs,
            f.acked,
            f.lost,
            f.applied_twice,
            f.nats_duplicates,
            f.server_errors,
            f.unavailable,
            f.unavailable_without_retry_after,
            seconds(&f.recovery),
            seconds(&f.takeover),
            f.reader_gaps,
            f.reader_repeats,
        );
    }
    println!();
    for f in all {
        for note in &f.notes {
            println!("- {note}");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(unknown) = args.only.iter().find(|f| !FAULTS.contains(&f.as_str())) {
        bail!("--only {unknown}: the faults are {}", FAULTS.join(", "));
    }
    let engine = match &args.engine {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the binary's directory")?
            .join("ticketd"),
    };
    if !engine.exists() {
        bail!(
            "no engine binary at {} (build it: cargo build --release --bin ticketd)",
            engine.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("ticketd-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    eprintln!("ticketd-chaos: working in {}", dir.display());
    let pg = Postgres::create(&dir, std::path::Path::new(&cluster::pg_bin())).await?;
    let nats = Nats::start_new(&dir).await?;
    eprintln!(
        "ticketd-chaos: Postgres on {}, NATS on {}",
        pg.port, nats.port
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let mut ctx = Suite {
        args,
        dir: dir.clone(),
        engine,
        pg,
        nats,
        http,
    };
    let wants = |f: &str, only: &[String]| only.is_empty() || only.iter().any(|o| o == f);
    let mut all = Vec::new();
    let mut outcome = Ok(());
    for fault in FAULTS {
        if !wants(fault, &ctx.args.only) {
            continue;
        }
        let mut figures = Figures {
            fault: fault.to_string(),
            runs: ctx.runs(fault),
            ..Figures::default()
        };
        eprintln!("ticketd-chaos: {fault} × {}", figures.runs);
        let started = Instant::now();
        let ran = match fault {
            "kill9" => kill9(&ctx, &mut figures).await,
            "nats" => nats_outage(&mut ctx, &mut figures).await,
            "pg-fast" => postgres_restart(&ctx, "fast", &mut figures).await,
            "pg-immediate" => postgres_restart(&ctx, "immediate", &mut figures).await,
            "failover" => failover(&ctx, &mut figures).await,
            _ => ws_stall(&ctx, &mut figures).await,
        };
        if let Err(error) = ran {
            figures.failures.push(format!("the run failed: {error:#}"));
        }
        if figures.server_errors > 0 {
            figures.failures.push(format!(
                "{} answers 5xx other than 503",
                figures.server_errors
            ));
        }
        if figures.unavailable_without_retry_after > 0 {
            figures.failures.push(format!(
                "{} answers 503 without Retry-After",
                figures.unavailable_without_retry_after
            ));
        }
        if figures.applied_twice > 0 || figures.nats_duplicates > 0 {
            figures.failures.push(format!(
                "{} commands applied twice, {} duplicates in the stream",
                figures.applied_twice, figures.nats_duplicates
            ));
        }
        if figures.reader_gaps > 0 || figures.reader_repeats > 0 {
            figures.failures.push(format!(
                "readers missed {} positions and saw {} twice or out of order",
                figures.reader_gaps, figures.reader_repeats
            ));
        }
        if figures.takeover.iter().any(|t| *t > Duration::from_secs(5)) {
            figures
                .failures
                .push("a takeover took more than 5 s".to_string());
        }
        eprintln!(
            "ticketd-chaos: {fault} done in {:.0} s, {} failures",
            started.elapsed().as_secs_f64(),
            figures.failures.len()
        );
        for failure in &figures.failures {
            eprintln!("  FAIL {fault}: {failure}");
            outcome = Err(anyhow::anyhow!("expectations failed"));
        }
        all.push(figures);
    }
    print_table(&all);
    ctx.nats.stop().await;
    let _ = ctx.pg.stop("fast").await;
    if ctx.args.keep || outcome.is_err() {
        eprintln!("ticketd-chaos: logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}
