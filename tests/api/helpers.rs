//! Test harness: every test gets its own database, migrated, and an engine on a free port.

use std::sync::LazyLock;

use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use ticketd::domain::Role;
use ticketd::settings::Settings;
use ticketd::startup::{migrate, Application};
use ticketd::store::user_stream::Recorder;
use ticketd::users::{self, NewUser, Origin, User};
use uuid::Uuid;

/// The HS256 secret every test engine is configured with.
pub const SECRET: &str = "test-secret-for-ticketd-integration-tests-0123456789";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        ticketd::telemetry::init_subscriber(ticketd::telemetry::get_subscriber(
            "info,ticketd=debug,ticket_projections=debug",
            ticketd::settings::LogFormat::Text,
            std::io::stdout,
        ));
    }
});

/// The server-level connection tests create their databases through.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn database_url(admin: &str, name: &str) -> String {
    match admin.rfind('/') {
        Some(i) if !admin[..i].ends_with('/') => format!("{}/{}", &admin[..i], name),
        _ => format!("{admin}/{name}"),
    }
}

/// A user known to the engine, with a valid token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub token: String,
}

/// A running engine on its own database.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub pool: PgPool,
    pub db_name: String,
    pub database_url: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// The engine's shared state (its task registry, its rate limiter).
    pub state: ticketd::http::AppState,
}

/// A small pool that gives up quickly, like the engine's own.
/// Every read model's projection, counting business time on the 24×7 clock (the default
/// configuration the tests that rebuild by hand run with).
pub fn read_models() -> Vec<std::sync::Arc<dyn ticket_projections::Projection>> {
    ticket_projections::read_models::all(std::sync::Arc::new(
        ticketd::business_clock::LoadedCalendars::default(),
    ))
}

pub async fn test_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect(url)
        .await
        .expect("connect to the test database")
}

/// Starts an engine with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an engine after `configure` adjusted its settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_routed(configure, |url| url.to_string()).await
}

/// Starts an engine whose own connections go to `route(database_url)` (e.g. through a proxy
/// a test can cut), while the test's pool connects directly.
pub async fn spawn_app_routed(
    configure: impl FnOnce(&mut Settings),
    route: impl FnOnce(&str) -> String,
) -> TestApp {
    LazyLock::force(&TRACING);
    let admin = admin_url();
    let db_name = format!("ticketd_test_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the admin database");
    sqlx::query(&format!(r#"CREATE DATABASE "{db_name}""#))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    let database_url = database_url(&admin, &db_name);
    let pool = test_pool(&database_url).await;
    migrate(&pool).await.expect("migrate");
    let mut settings = Settings::for_database(&database_url, SECRET);
    configure(&mut settings);
    let app_pool = test_pool(&route(&database_url)).await;
    let app = Application::build_with_pool(settings.clone(), app_pool)
        .await
        .expect("build the application");
    let port = app.port();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        db_name,
        database_url,
        client: reqwest::Client::new(),
        settings,
        state,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The engine's own attachment directory (a local store only; an S3 bucket is the test's).
        if self.settings.attachments.store.is_none() {
            let _ = std::fs::remove_dir_all(&self.settings.attachments.dir);
        }
        let name = self.db_name.clone();
        clean_up(async move {
            if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// Runs `cleanup` to the end from a `Drop`. A drop runs inside the test's runtime, which cannot
/// block on itself, so the cleanup gets a thread and a runtime of its own.
pub fn clean_up(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(cleanup);
        }
    })
    .join();
}

/// Claims of a test token; tests change them to attack the verifier.
pub fn claims(id: Uuid, email: &str, name: &str, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": id.to_string(), "email": email, "name": name, "role": role,
        "iss": "ticketd", "aud": "ticketd-api", "iat": now, "exp": now + 3600,
    })
}

/// Signs `claims` with the test secret (HS256).
pub fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign a token")
}

impl TestApp {
    /// A URL under `/api/v1`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.address, path)
    }

    /// Adds a user to the directory and returns it with a token.
    pub async fn user(&self, role: &str) -> TestUser {
        let id = Uuid::now_v7();
        let short = &id.simple().to_string()[20..];
        let name = format!("{role} {short}");
        let email = format!("{role}.{short}@example.com");
        sqlx::query(
            "INSERT INTO users (id, email, name, role, origin) VALUES ($1, $2, $3, $4, 'cli')",
        )
        .bind(id)
        .bind(&email)
        .bind(&name)
        .bind(role)
        .execute(&self.pool)
        .await
        .expect("insert a user");
        let token = sign(&claims(id, &email, &name, role));
        TestUser {
            id,
            email,
            name,
            role: role.into(),
            token,
        }
    }

    /// POSTs JSON under `/api/v1`.
    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> Response {
        self.client
            .post(self.api(path))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .expect("send a request")
    }

    /// PATCHes JSON under `/api/v1`.
    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> Response {
        self.client
            .patch(self.api(path))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .expect("send a request")
    }

    /// GETs an operations endpoint at the server root (`/readyz`, `/openapi.json`) as JSON.
    pub async fn root_json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("send a request")
            .json()
            .await
            .expect("a JSON answer")
    }

    /// GETs an operations endpoint at the server root (`/metrics`) as text.
    /// `GET /readyz`: its status and body.
    pub async fn readyz(&self) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}/readyz", self.address))
            .send()
            .await
            .expect("GET /readyz");
        let status = response.status();
        (status, response.json().await.expect("a JSON body"))
    }

    pub async fn root_text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("send a request")
            .text()
            .await
            .expect("a text answer")
    }

    /// GETs under `/api/v1`.
    pub async fn get(&self, path: &str, user: &TestUser) -> Response {
        self.client
            .get(self.api(path))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("send a request")
    }

    /// Opens a ticket as `user` and returns its id.
    pub async fn create_ticket(&self, user: &TestUser) -> Uuid {
        self.create_ticket_with(user, json!({})).await
    }

    /// Opens a ticket with fields of `overrides` replacing the defaults.
    pub async fn create_ticket_with(&self, user: &TestUser, overrides: Value) -> Uuid {
        let mut body = json!({
            "title": "Printer on floor 3 is jammed",
            "description": "It blinks orange.",
            "category": "printer",
            "priority": "medium",
        });
        if let (Some(b), Some(o)) = (body.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
        }
        let response = self.post("/tickets", user, body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create a ticket");
        let body: Value = response.json().await.expect("JSON answer");
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("an id")
    }

    /// The stored events of a ticket: (sequence, type, payload, metadata).
    pub async fn stored_events(&self, ticket: Uuid) -> Vec<(i64, String, Value, Value)> {
        sqlx::query_as::<_, (i64, String, Value, Value)>(
            "SELECT sequence, event_type, payload, metadata FROM events
             WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(ticket.to_string())
        .fetch_all(&self.pool)
        .await
        .expect("read stored events")
    }

    /// How many events the store holds.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}

/// Reads a problem document and checks its status and content type.
pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a problem document");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// The `field`s listed in a 422's `errors`.
pub fn failing_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    fields.sort();
    fields
}

/// Another engine on the same database as a [`TestApp`]: its own pool, port, sequencer and
/// WebSocket hub, like a second replica behind a load balancer.
pub struct SecondInstance {
    pub port: u16,
    /// The instance's hub, to observe its connections.
    pub hub: ticketd::hub::Hub,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl SecondInstance {
    /// Stops the instance as SIGTERM would, and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("the instance's task")
                .expect("the instance stops cleanly");
        }
    }
}

/// Starts a second engine on `app`'s database.
pub async fn spawn_second_instance(app: &TestApp) -> SecondInstance {
    spawn_second_instance_with(app, ticketd::hub::HubConfig::default()).await
}

/// Starts a second engine on `app`'s database with its WebSocket hub configured by `hub`.
pub async fn spawn_second_instance_with(
    app: &TestApp,
    hub: ticketd::hub::HubConfig,
) -> SecondInstance {
    let pool = test_pool(&app.database_url).await;
    let built = Application::build_with_pool(app.settings.clone(), pool)
        .await
        .expect("build the second instance")
        .with_hub_config(hub);
    let port = built.port();
    let hub = built.state().hub.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(built.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    SecondInstance {
        port,
        hub,
        stop: Some(stop),
        served: Some(served),
    }
}

impl TestApp {
    /// Runs the `ticketd` binary against the test database. Awaited, never blocking: the engine
    /// runs on the test's runtime, and a blocked runtime can leave one of its transactions open
    /// (e.g. the SLA sweep's) for the command to wait on.
    pub async fn run_ticketd(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketd"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run ticketd")
    }
}

/// Adds a user to the app's directory as the CLI would.
pub async fn add_user_with(
    pool: &PgPool,
    email: &str,
    name: &str,
    role: Role,
    password: Option<&str>,
    origin: Origin,
) -> User {
    let new = NewUser {
        email: Some(email),
        phone: None,
        name,
        role,
        password,
        origin,
    };
    users::create(pool, &Recorder::system("ticketd"), new)
        .await
        .expect("add a user")
}
