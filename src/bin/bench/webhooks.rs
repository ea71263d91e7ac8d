//! Webhook delivery: throughput of a backlog (events × endpoints to local receivers), and
//! commit → delivery latency under a steady command rate, with every endpoint up and with one
//! down for the whole run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use ticket_projections::listen::Notifications;
use ticket_projections::CancellationToken;
use ticketd::settings::Settings;
use ticketd::webhooks::{Deliverer, WebhookSettings};
use uuid::Uuid;

use super::db::BenchDb;
use super::stats::{summarize, Summary};

const SECRET: &str = "ticketd-bench-webhooks-secret-0123456789";

/// What the webhook measurements found.
#[derive(Debug, Default, Serialize)]
pub struct WebhookResult {
    pub events: usize,
    pub endpoints: usize,
    pub deliveries: usize,
    pub backlog_seconds: f64,
    pub deliveries_per_s: f64,
    pub rate: f64,
    pub all_up: Summary,
    pub one_down: Summary,
    pub one_down_vs_all_up_p99: f64,
}

/// A local receiver answering 200 and noting, per delivery, the time since the event's `time`.
#[derive(Clone, Default)]
struct Receiver {
    latencies: Arc<Mutex<Vec<Duration>>>,
}

impl Receiver {
    async fn start() -> anyhow::Result<(Self, String)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr()?.port());
        let this = Self::default();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(this.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((this, url))
    }

    fn count(&self) -> usize {
        self.latencies.lock().map(|l| l.len()).unwrap_or(0)
    }

    fn take(&self) -> Vec<Duration> {
        self.latencies
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> StatusCode {
    let now = chrono::Utc::now();
    let latency = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["time"].as_str().map(str::to_string))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .and_then(|t| (now - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default();
    if let Ok(mut l) = receiver.latencies.lock() {
        l.push(latency);
    }
    StatusCode::OK
}

fn local() -> WebhookSettings {
    WebhookSettings {
        allow_http_hosts: vec!["127.0.0.1".into()],
        allow_private_hosts: vec!["127.0.0.1".into()],
        ..WebhookSettings::default()
    }
}

/// Both measurements on fresh databases.
pub async fn measure(
    admin_url: &str,
    events: usize,
    endpoints: usize,
    rate: f64,
    seconds: Duration,
) -> anyhow::Result<WebhookResult> {
    let (generated, backlog) = backlog(admin_url, events, endpoints).await?;
    let deliveries = generated * endpoints;
    eprintln!(
        "webhooks   {generated} events × {endpoints} endpoints: {:.1} s, {:.0} deliveries/s",
        backlog.as_secs_f64(),
        deliveries as f64 / backlog.as_secs_f64()
    );
    let all_up = latency(admin_url, endpoints, 0, rate, seconds).await?;
    let one_down = latency(admin_url, endpoints, 1, rate, seconds).await?;
    eprintln!(
        "webhooks   commit → delivery at {rate:.0} commands/s: p99 {:.1} ms all up, {:.1} ms with one endpoint down",
        all_up.p99_ms, one_down.p99_ms
    );
    Ok(WebhookResult {
        events: generated,
        endpoints,
        deliveries,
        backlog_seconds: backlog.as_secs_f64(),
        deliveries_per_s: deliveries as f64 / backlog.as_secs_f64(),
        rate,
        one_down_vs_all_up_p99: one_down.p99_ms / all_up.p99_ms.max(f64::EPSILON),
        all_up,
        one_down,
    })
}

/// `events` stored events, then `endpoints` endpoints from the start of the log: the time until
/// every receiver has every event.
async fn backlog(
    admin_url: &str,
    events: usize,
    endpoints: usize,
) -> anyhow::Result<(usize, Duration)> {
    let db = BenchDb::create(admin_url, "webhooks").await?;
    let pool = db.pool(16).await?;
    ticketd::startup::migrate(&pool).await?;
    let generated = super::rebuild::generate(&pool, events).await?;
    let mut receivers = Vec::new();
    for _ in 0..endpoints {
        let (receiver, url) = Receiver::start().await?;
        insert_endpoint(&pool, &url).await?;
        receivers.push(receiver);
    }
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let (notifications, _listener) = Notifications::start(pool.clone(), shutdown.clone());
    let deliverer = Deliverer::new(pool.clone(), local())?;
    let task = tokio::spawn(deliverer.run(notifications, shutdown.clone()));
    while receivers.iter().any(|r| r.count() < generated) {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the deliveries did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    shutdown.cancel();
    let _ = task.await;
    pool.close().await;
    db.drop_db().await;
    Ok((generated, took))
}

/// An endpoint that receives the whole log (an empty snapshot: nothing counts as older).
async fn insert_endpoint(pool: &PgPool, url: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, url, event_types, secret, position, created_snapshot)
         VALUES ($1, $2, '{*}', $3, 0, '1:1:')",
    )
    .bind(Uuid::now_v7())
    .bind(url)
    .bind("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    .execute(pool)
    .await
    .context("insert an endpoint")?;
    Ok(())
}

/// An engine in this process taking `rate` ticket creations per second for `seconds`, with
/// `endpoints` endpoints of which `down` point at a closed port: the latency the live ones see.
async fn latency(
    admin_url: &str,
    endpoints: usize,
    down: usize,
    rate: f64,
    seconds: Duration,
) -> anyhow::Result<Summary> {
    let db = BenchDb::create(admin_url, "webhooks").await?;
    let pool = db.pool(32).await?;
    ticketd::startup::migrate(&pool).await?;
    let mut settings = Settings::for_database(&db.url, SECRET);
    settings.webhooks = local();
    let app = ticketd::startup::Application::build_with_pool(settings, pool.clone()).await?;
    let base = format!("http://127.0.0.1:{}/api/v1", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let token = token()?;
    let mut receivers = Vec::new();
    for i in 0..endpoints {
        let url = if i < down {
            // Nothing listens there: every attempt is refused at once and retried later.
            let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            format!("http://127.0.0.1:{}/hook", closed.local_addr()?.port())
        } else {
            let (receiver, url) = Receiver::start().await?;
            receivers.push(receiver);
            url
        };
        let response = client
            .post(format!("{base}/webhooks"))
            .bearer_auth(&token)
            .json(&json!({"url": url, "event_types": ["ticket.created"]}))
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            bail!("POST /webhooks answered {}", response.status());
        }
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut sent = 0_usize;
    let mut tick = tokio::time::interval(interval);
    while started.elapsed() < seconds {
        tick.tick().await;
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        tokio::spawn(async move {
            let _ = client
                .post(format!("{base}/tickets"))
                .bearer_auth(token)
                .json(&json!({"title": "Bench", "description": "", "category": "other", "priority": "low"}))
                .send()
                .await;
        });
        sent += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while receivers.iter().any(|r| r.count() < sent) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples: Vec<Duration> = receivers.iter().flat_map(Receiver::take).collect();
    let _ = stop.send(());
    let _ = served.await;
    pool.close().await;
    db.drop_db().await;
    Ok(summarize(&mut samples))
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
