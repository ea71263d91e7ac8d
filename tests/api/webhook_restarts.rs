//! Webhooks through a crash: the engine runs as a child process, killed with SIGKILL in the
//! middle of its deliveries; a new one delivers every event at least once, with the same
//! `webhook-id` and body.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::helpers::{admin_url, claims, sign, test_pool, SECRET};
use crate::webhook_receiver::{Answer, Receiver};

/// A database of its own, migrated, dropped at the end (the rule restart tests share it).
pub(crate) struct Database {
    name: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) async fn create() -> Self {
        let admin = admin_url();
        let name = format!("ticketd_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.expect("connect");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await
            .expect("create the database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        ticketd::startup::migrate(&test_pool(&url).await)
            .await
            .expect("migrate");
        Self { name, url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::helpers::clean_up(async move {
            if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// `ticketd serve` on `port`, delivering to loopback receivers.
pub(crate) async fn engine(database: &Database, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_ticketd"))
        .arg("serve")
        .env("DATABASE_URL", &database.url)
        .env("JWT_SECRET", SECRET)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("WEBHOOK_ALLOW_HTTP_HOSTS", "127.0.0.1")
        .env("WEBHOOK_ALLOW_PRIVATE_HOSTS", "127.0.0.1")
        .env(
            "WEBHOOK_RETRY_SCHEDULE",
            "200ms,200ms,200ms,200ms,200ms,200ms",
        )
        .env("RUST_LOG", "warn")
        .env_remove("NATS_URL")
        .kill_on_drop(true)
        .spawn()
        .expect("start ticketd");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            if response.status() == StatusCode::OK {
                return child;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ticketd did not start on port {port}");
}

pub(crate) async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("an address").port()
}

pub(crate) async fn user(database: &Database, role: &str) -> String {
    let id = Uuid::now_v7();
    let email = format!("{role}.{}@example.com", id.simple());
    let pool = test_pool(&database.url).await;
    sqlx::query("INSERT INTO users (id, email, name, role, origin) VALUES ($1, $2, $3, $4, 'cli')")
        .bind(id)
        .bind(&email)
        .bind(role)
        .bind(role)
        .execute(&pool)
        .await
        .expect("insert a user");
    sign(&claims(id, &email, role, role))
}

pub(crate) async fn open_tickets(port: u16, token: &str, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..count {
        let response = client
            .post(format!("http://127.0.0.1:{port}/api/v1/tickets"))
            .bearer_auth(token)
            .json(
                &json!({"title": format!("Crash test {i}"), "description": "",
                          "category": "other", "priority": "low"}),
            )
            .send()
            .await
            .expect("POST /tickets");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("an answer");
        ids.push(format!("{}:1", body["id"].as_str().expect("an id")));
    }
    ids
}

#[tokio::test]
async fn every_event_arrives_at_least_once_through_a_kill_9_with_its_id() {
    let database = Database::create().await;
    let admin = user(&database, "admin").await;
    let requester = user(&database, "requester").await;
    // Slow enough that the kill lands with deliveries in flight and others pending.
    let receiver = Receiver::start(Answer::Slow(200, Duration::from_millis(100))).await;
    let port = free_port().await;
    let mut first = engine(&database, port).await;
    let created: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/webhooks"))
        .bearer_auth(&admin)
        .json(&json!({"url": receiver.url(), "event_types": ["ticket.created"]}))
        .send()
        .await
        .expect("POST /webhooks")
        .json()
        .await
        .expect("a webhook");
    let secret = created["secret"].as_str().expect("a secret").to_string();
    let mut expected = open_tickets(port, &requester, 20).await;
    receiver
        .wait_for(Duration::from_secs(15), "the first deliveries", |r| {
            r.len() >= 3
        })
        .await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("the engine exits");
    let before_restart = receiver.received().len();
    assert!(
        before_restart < expected.len(),
        "everything was delivered before the kill"
    );

    let port = free_port().await;
    let _second = engine(&database, port).await;
    expected.extend(open_tickets(port, &requester, 10).await);
    let received = receiver
        .wait_for(Duration::from_secs(30), "every event", |r| {
            let got: HashSet<String> = r.iter().map(|x| x.id()).collect();
            expected.iter().all(|e| got.contains(e))
        })
        .await;
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    for request in &received {
        request.verify(&secret);
        assert!(
            expected.contains(&request.id()),
            "unexpected {}",
            request.id()
        );
        let body = bodies
            .entry(request.id())
            .or_insert_with(|| request.body.to_vec());
        assert_eq!(
            body,
            &request.body.to_vec(),
            "a repeat of {} differs",
            request.id()
        );
    }
}
