//! Rules: command throughput at `clients` closed-loop clients with no rule enabled and with
//! `rules` enabled rules, in the same run on the same engine, alternating the two so that
//! whatever else loads the machine falls on both.

use std::time::Duration;

use anyhow::bail;
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::json;
use ticketd::settings::Settings;
use uuid::Uuid;

use super::db::BenchDb;
use crate::{closed_loop, LoadResult};

const SECRET: &str = "ticketd-bench-rules-secret-0123456789ab";
/// Rounds of (no rules, rules): the figure is the median of each.
const ROUNDS: usize = 3;

/// What the rule measurement found.
#[derive(Debug, Default, Serialize)]
pub struct RulesResult {
    pub rules: usize,
    pub clients: usize,
    pub without: Vec<LoadResult>,
    pub with: Vec<LoadResult>,
    pub without_per_s: f64,
    pub with_per_s: f64,
    /// `with_per_s / without_per_s`: 0.9 or more meets "within 10 %".
    pub ratio: f64,
    /// Events rules appended during the runs with rules (most of their commands are no-ops:
    /// the priority they set is already set).
    pub actions: i64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Comments from `clients` clients on an engine in this process, alternating no rules and
/// `rules` enabled rules answering `ticket.commented` (each with conditions on the ticket, one
/// in ten matching and commenting internally).
pub async fn measure(
    admin_url: &str,
    rules: usize,
    clients: usize,
    seconds: Duration,
) -> anyhow::Result<RulesResult> {
    let db = BenchDb::create(admin_url, "rules").await?;
    let pool = db.pool(32).await?;
    ticketd::startup::migrate(&pool).await?;
    sqlx::query("DELETE FROM rules").execute(&pool).await?;
    let settings = Settings::for_database(&db.url, SECRET);
    let app = ticketd::startup::Application::build_with_pool(settings, pool.clone()).await?;
    let base = format!("http://127.0.0.1:{}/api/v1", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let token = token()?;

    let mut tickets = Vec::new();
    for i in 0..clients * 8 {
        let category = if i % 10 == 0 { "hardware" } else { "other" };
        let response = client
            .post(format!("{base}/tickets"))
            .bearer_auth(&token)
            .json(
                &json!({"title": format!("Rules bench {i}"), "description": "",
                          "category": category, "priority": "low"}),
            )
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            bail!("POST /tickets answered {}", response.status());
        }
        let body: serde_json::Value = response.json().await?;
        tickets.push(body["id"].as_str().unwrap_or_default().parse::<Uuid>()?);
    }
    for i in 0..rules {
        // Rule i answers comments on tickets of one category: one in ten tickets matches.
        let category = if i % 10 == 0 { "hardware" } else { "software" };
        let response = client
            .post(format!("{base}/rules"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("bench rule {i}"), "enabled": false,
                          "when": {"event_types": ["ticket.commented"], "category": [category],
                                   "priority": ["low", "medium"]},
                          "then": [{"set_priority": "medium"}]}))
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            bail!("POST /rules answered {}", response.status());
        }
    }

    let comment = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        move |ticket: Uuid| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                client
                    .post(format!("{base}/tickets/{ticket}/comments"))
                    .bearer_auth(token)
                    .json(&json!({"body": "bench comment"}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        }
    };
    let mut result = RulesResult {
        rules,
        clients,
        ..RulesResult::default()
    };
    for _ in 0..ROUNDS {
        sqlx::query("UPDATE rules SET enabled = false")
            .execute(&pool)
            .await?;
        let run = closed_loop(&tickets, clients, seconds, comment.clone()).await;
        eprintln!(
            "rules      {clients} clients, no rules: {:.0} commands/s",
            run.per_s
        );
        result.without.push(run);
        sqlx::query("UPDATE rules SET enabled = true")
            .execute(&pool)
            .await?;
        let before: i64 = actions(&pool).await?;
        let run = closed_loop(&tickets, clients, seconds, comment.clone()).await;
        result.actions += actions(&pool).await? - before;
        eprintln!(
            "rules      {clients} clients, {rules} rules: {:.0} commands/s",
            run.per_s
        );
        result.with.push(run);
    }
    result.without_per_s = median(&mut result.without.iter().map(|r| r.per_s).collect::<Vec<_>>());
    result.with_per_s = median(&mut result.with.iter().map(|r| r.per_s).collect::<Vec<_>>());
    result.ratio = if result.without_per_s > 0.0 {
        result.with_per_s / result.without_per_s
    } else {
        0.0
    };
    let _ = stop.send(());
    let _ = served.await;
    pool.close().await;
    db.drop_db().await;
    Ok(result)
}

async fn actions(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE metadata->>'actorrole' = 'automation'",
    )
    .fetch_one(pool)
    .await?)
}

fn token() -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": Uuid::now_v7(), "email": "admin@bench.test", "name": "Bench admin",
        "role": "admin", "iss": "ticketd", "aud": "ticketd-api", "iat": now, "exp": now + 3600});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )?)
}
