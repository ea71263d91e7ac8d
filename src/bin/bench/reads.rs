//! Queries at 10,000 to 1,000,000 tickets: the p99 of single requests, one at a time, against
//! an engine process serving a generated data set ([`super::dataset`]).
//!
//! Board and statistics answers are shared per read-model position (and for a second), so a
//! repeated question is answered from memory. Each of their samples is therefore taken at a new
//! position: a comment is made and awaited (not timed) before the timed request, which then
//! computes the answer as the first viewer after an event does. The shared answer, as every
//! further viewer gets it, is timed apart (`… shared`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::dataset::{self, People};
use super::engine::{mint, Engine};
use super::stats::{summarize, Summary};
use super::Rng;

/// One request kind's figures at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Timed {
    pub name: String,
    pub path: String,
    pub latency: Summary,
}

/// Who asks, and the tokens they ask with.
pub struct Callers {
    pub agent: String,
    pub agent_id: Uuid,
    pub requester: String,
    pub requester_id: Uuid,
}

impl Callers {
    pub fn new(people: &People) -> anyhow::Result<Self> {
        let (agent_id, requester_id) = (people.agents[0].id, people.requesters[0].id);
        Ok(Self {
            agent: mint(agent_id, "agent")?,
            agent_id,
            requester: mint(requester_id, "requester")?,
            requester_id,
        })
    }
}

/// The questions, by name: (name, path, as the requester, answer shared per position).
fn questions(c: &Callers) -> Vec<(String, String, bool, bool)> {
    let from = (chrono::Utc::now() - chrono::TimeDelta::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut q: Vec<(String, String, bool, bool)> = vec![
        ("/board".into(), "/board".into(), false, true),
        ("/stats all time".into(), "/stats".into(), false, true),
        (
            "/stats 30 days".into(),
            format!("/stats?from={}", from.replace('+', "%2B")),
            false,
            true,
        ),
        ("/tickets".into(), "/tickets".into(), false, false),
    ];
    for filter in [
        "status=open".to_string(),
        "status=closed".into(),
        "priority=urgent".into(),
        "category=backup".into(),
        "channel=phone".into(),
        format!("assignee_id={}", c.agent_id),
        format!("requester_id={}", c.requester_id),
        "sort=-updated_at&status=in_progress".into(),
    ] {
        q.push((
            format!("/tickets?{filter}"),
            format!("/tickets?{filter}"),
            false,
            false,
        ));
    }
    for text in ["printer", "printer%20vpn", "headset", "zzqx"] {
        q.push((
            format!("/tickets?q={text}"),
            format!("/tickets?q={text}"),
            false,
            false,
        ));
    }
    q.push(("/me (agent)".into(), "/me".into(), false, false));
    q.push((
        "/me/tickets (agent)".into(),
        "/me/tickets".into(),
        false,
        false,
    ));
    q.push(("/me (requester)".into(), "/me".into(), true, false));
    q.push((
        "/me/tickets (requester)".into(),
        "/me/tickets".into(),
        true,
        false,
    ));
    q
}

async fn get(engine: &Engine, path: &str, token: &str) -> anyhow::Result<reqwest::Response> {
    let r = engine
        .client
        .get(format!("{}/api/v1{path}", engine.base))
        .bearer_auth(token)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("GET {path} answered {}", r.status());
    }
    Ok(r)
}

/// Comments on a ticket and waits until the read models show it: the next shared answer is
/// computed anew. Returns the position to ask with.
async fn new_position(engine: &Engine, c: &Callers, ticket: Uuid) -> anyhow::Result<i64> {
    let r = engine
        .client
        .post(format!("{}/api/v1/tickets/{ticket}/comments", engine.base))
        .bearer_auth(&c.agent)
        .json(&json!({"body": "bench: a new position"}))
        .send()
        .await?;
    let body: Value = r.json().await?;
    let version = body["version"].as_i64().context("a comment's version")?;
    let seen = get(
        engine,
        &format!("/tickets/{ticket}?min_version={version}"),
        &c.agent,
    )
    .await?;
    seen.headers()["x-projection-position"]
        .to_str()?
        .parse()
        .context("X-Projection-Position")
}

/// The p99 of each question over `samples` requests, one at a time.
pub async fn single_requests(
    engine: &Engine,
    c: &Callers,
    samples: usize,
) -> anyhow::Result<Vec<Timed>> {
    // A ticket of its own to comment on, to move the position (closed at the end: commented
    // hundreds of times per run, a ticket of the set would grow slower to read every run).
    let (title, description) = dataset::text(&mut Rng::new(2_000_000));
    let ticket = json!({"title": title, "description": description, "category": "other",
                        "priority": "low"});
    let ticket = engine.open_ticket(&c.requester, &ticket).await?;
    let mut out = Vec::new();
    for (name, path, as_requester, shared) in questions(c) {
        let token = if as_requester { &c.requester } else { &c.agent };
        for _ in 0..5 {
            get(engine, &path, token).await?;
        }
        let mut cold = Vec::with_capacity(samples);
        let mut warm = Vec::with_capacity(samples);
        for _ in 0..samples {
            let path = if shared {
                let position = new_position(engine, c, ticket).await?;
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{path}{sep}min_position={position}")
            } else {
                path.clone()
            };
            let started = Instant::now();
            get(engine, &path, token).await?.bytes().await?;
            cold.push(started.elapsed());
            if shared {
                let started = Instant::now();
                get(engine, &path, token).await?.bytes().await?;
                warm.push(started.elapsed());
            }
        }
        let timed = Timed {
            name: name.clone(),
            path: path.clone(),
            latency: summarize(&mut cold),
        };
        eprintln!(
            "reads      {:<40} p50 {:>7.2} ms  p99 {:>7.2} ms",
            timed.name, timed.latency.p50_ms, timed.latency.p99_ms
        );
        out.push(timed);
        if shared {
            let timed = Timed {
                name: format!("{name} shared"),
                path,
                latency: summarize(&mut warm),
            };
            eprintln!(
                "reads      {:<40} p50 {:>7.2} ms  p99 {:>7.2} ms",
                timed.name, timed.latency.p50_ms, timed.latency.p99_ms
            );
            out.push(timed);
        }
    }
    engine.close_all(&c.agent, &[ticket]).await?;
    Ok(out)
}

/// Asks every question once with `auto_explain` logging each statement's plan with
/// `ANALYZE, BUFFERS` into the Postgres server log (the engine's own SQL, as it runs).
pub async fn explain(admin_url: &str, data_url: &str, tickets: usize) -> anyhow::Result<()> {
    let name = format!("ticketd_bench_data_{tickets}");
    let set = |sql: String| async move {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
        sqlx::query(&sql).execute(&mut admin).await?;
        anyhow::Ok(())
    };
    for (setting, value) in [
        ("session_preload_libraries", "auto_explain"),
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_analyze", "on"),
        ("auto_explain.log_buffers", "on"),
        ("auto_explain.log_timing", "on"),
    ] {
        set(format!(
            r#"ALTER DATABASE "{name}" SET {setting} = '{value}'"#
        ))
        .await?;
    }
    let outcome = async {
        let engine = Engine::start(data_url, None).await?;
        let c = Callers::new(&dataset::people(tickets))?;
        for (name, path, as_requester, _) in questions(&c) {
            let token = if as_requester { &c.requester } else { &c.agent };
            eprintln!("explain    {name}: GET {path}");
            get(&engine, &path, token).await?;
            // Statements of one request apart from the next in the log.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        engine.stop().await;
        anyhow::Ok(())
    }
    .await;
    set(format!(r#"ALTER DATABASE "{name}" RESET ALL"#)).await?;
    outcome?;
    eprintln!("explain    the plans are in the Postgres server log (auto_explain)");
    Ok(())
}
