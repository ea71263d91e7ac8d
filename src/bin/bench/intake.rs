//! Intake against the API's own way in: `POST /intake/tickets` (requester resolution, an
//! `external_id` each) and `POST /tickets` by a signed-in agent, each in a closed loop at the
//! same concurrency on one engine process, in the same run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::engine::{mint, Engine};
use super::{closed_loop, LoadResult};

/// Distinct requesters the intake load names: most intakes find a returning one, as a busy
/// chat or web form does; the first of each adds them.
const PEOPLE: usize = 500;

/// What the intake run measured.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IntakeResult {
    pub clients: usize,
    /// `POST /tickets` by an agent.
    pub tickets: LoadResult,
    /// `POST /intake/tickets` with an integration key.
    pub intake: LoadResult,
    /// Intake tickets/s over `POST /tickets` tickets/s (target ≥ 0.8).
    pub intake_vs_tickets: f64,
}

/// Runs both loads, `clients` at a time for `duration` each, on the engine at `database_url`.
pub async fn run(
    database_url: &str,
    pool: &PgPool,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<IntakeResult> {
    let engine = Engine::start(database_url, None).await?;
    let result = measure(&engine, pool, clients, duration).await;
    engine.stop().await;
    result
}

async fn measure(
    engine: &Engine,
    pool: &PgPool,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<IntakeResult> {
    let key = integration(engine, pool).await?;
    // The loop hands each call a ticket id to work on; creations need none, only a count.
    let slots: Vec<Uuid> = (0..clients * 4).map(|_| Uuid::now_v7()).collect();
    let counter = Arc::new(AtomicUsize::new(0));
    let api = format!("{}/api/v1", engine.base);

    let (client, token, url, n) = (
        engine.client.clone(),
        engine.token.clone(),
        format!("{api}/tickets"),
        counter.clone(),
    );
    settle(engine).await?;
    let tickets = closed_loop(&slots, clients, duration, move |_| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let request = client.post(&url).bearer_auth(&token).json(&json!({
            "title": format!("Bench ticket {i}"), "description": "Opened by ticketd-bench",
            "category": "software", "priority": "medium"}));
        async move { created(request).await }
    })
    .await;

    let (client, url, n) = (
        engine.client.clone(),
        format!("{api}/intake/tickets"),
        counter,
    );
    let run = Uuid::now_v7().simple().to_string();
    settle(engine).await?;
    let intake = closed_loop(&slots, clients, duration, move |_| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let person = i % PEOPLE;
        let request = client.post(&url).bearer_auth(&key).json(&json!({
            "requester": {"name": format!("Person {person}"), "email": format!("person{person}@bench.test")},
            "title": format!("Bench intake {i}"), "description": "Opened by ticketd-bench",
            "category": "software", "priority": "medium", "external_id": format!("{run}-{i}")}));
        async move { created(request).await }
    })
    .await;

    Ok(IntakeResult {
        clients,
        intake_vs_tickets: if tickets.per_s > 0.0 {
            intake.per_s / tickets.per_s
        } else {
            0.0
        },
        tickets,
        intake,
    })
}

/// Waits until the engine's read models have applied every event so far: the second load
/// would otherwise share the machine with the projection of the first one's events. Setting
/// `BENCH_INTAKE_NO_SETTLE` skips the wait, as runs before 2026-12-06 did, for comparisons.
async fn settle(engine: &Engine) -> anyhow::Result<()> {
    if std::env::var_os("BENCH_INTAKE_NO_SETTLE").is_some() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    loop {
        let body: Value = engine
            .client
            .get(format!("{}/readyz", engine.base))
            .send()
            .await?
            .json()
            .await?;
        let lag: Option<i64> = body["projections"].as_array().map(|projections| {
            projections
                .iter()
                .map(|p| p["lag"].as_i64().unwrap_or(1))
                .sum()
        });
        if lag == Some(0) {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the read models did not catch up within 120 s (lag {lag:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn created(request: reqwest::RequestBuilder) -> bool {
    request
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED)
}

/// An admin in the directory creates a web-form integration; returns its key.
async fn integration(engine: &Engine, pool: &PgPool) -> anyhow::Result<String> {
    let admin = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, name, role, origin)
         VALUES ($1, 'admin@bench.test', 'Bench admin', 'admin', 'cli')",
    )
    .bind(admin)
    .execute(pool)
    .await
    .context("add the bench admin")?;
    let answer = engine
        .client
        .post(format!("{}/api/v1/integrations", engine.base))
        .bearer_auth(mint(admin, "admin")?)
        .json(&json!({"name": "Bench form", "channel": "web"}))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status() == reqwest::StatusCode::CREATED,
        "creating the integration answered {}",
        answer.status()
    );
    let body: Value = answer.json().await?;
    body["key"]
        .as_str()
        .map(str::to_string)
        .context("no key in the answer")
}
