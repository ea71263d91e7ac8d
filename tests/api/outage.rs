//! Postgres going away: commands answer 503 with Retry-After, then work again by themselves.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use ticket_projections::connection::Stash;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::helpers::{admin_url, problem, spawn_app, spawn_app_routed};

/// A TCP proxy to Postgres that a test can cut (refusing and dropping connections) and restore.
struct Proxy {
    port: u16,
    upstream: String,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            upstream,
            tasks: Arc::new(Mutex::new(JoinSet::new())),
        };
        proxy.serve(listener).await;
        proxy
    }

    async fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let conns = self.tasks.clone();
        tasks.lock().await.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.lock().await.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
    }

    /// Stops listening and drops every open connection.
    async fn cut(&self) {
        self.tasks.lock().await.abort_all();
        while self.tasks.lock().await.join_next().await.is_some() {}
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener).await;
    }
}

fn upstream() -> String {
    let url = admin_url();
    let after_at = url.rsplit('@').next().unwrap_or("127.0.0.1:5432/postgres");
    let host_port = after_at.split('/').next().unwrap_or("127.0.0.1:5432");
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

#[tokio::test]
async fn commands_answer_503_while_postgres_is_unreachable_and_recover_without_a_restart() {
    // Arrange: the engine reaches Postgres only through the proxy.
    let proxy = Proxy::start(upstream()).await;
    let port = proxy.port;
    let app = spawn_app_routed(
        |_| {},
        |url| {
            let (head, tail) = url.split_once('@').unwrap();
            let db = tail.split_once('/').unwrap().1;
            format!("{head}@127.0.0.1:{port}/{db}")
        },
    )
    .await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;

    // Act: cut Postgres off.
    proxy.cut().await;
    let response = app
        .post(
            &format!("/tickets/{id}/comments"),
            &agent,
            json!({"body": "lost?"}),
        )
        .await;

    // Assert: a clear 503 with Retry-After, and nothing half-written.
    assert!(response.headers().contains_key("retry-after"));
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let create = app
        .post(
            "/tickets",
            &agent,
            json!({"title": "t", "description": "", "category": "other", "priority": "low"}),
        )
        .await;
    problem(create, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(app.stored_events(id).await.len(), 1);

    // Postgres returns: the same engine serves again.
    proxy.restore().await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        let r = app
            .post(
                &format!("/tickets/{id}/comments"),
                &agent,
                json!({"body": "back"}),
            )
            .await;
        status = r.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::OK);
    let events = app.stored_events(id).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].2["body"], "back");
}

/// A connection of a [`Stash`] that Postgres ended is dropped and replaced: at once if it fails
/// in use, and before use if it sat idle.
#[tokio::test]
async fn a_stashed_connection_that_postgres_ended_is_replaced() {
    // Arrange
    let app = spawn_app().await;
    let stash = Stash::new(app.pool.clone(), 2);
    let backend = || async {
        stash
            .run(async |c| {
                sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                    .fetch_one(c)
                    .await
            })
            .await
    };
    let terminate = |pid: i32| {
        let pool = app.pool.clone();
        async move {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&pool)
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let first = backend().await.unwrap();
    assert_eq!(
        backend().await.unwrap(),
        first,
        "a stashed connection is reused"
    );

    // Act: ended while stashed, used at once.
    terminate(first).await;
    let failed = backend().await;

    // Assert: that use fails, and the next one runs on a fresh connection.
    assert!(failed.is_err());
    let second = backend().await.unwrap();
    assert_ne!(second, first);

    // Act: ended while stashed, used after sitting idle for over a second.
    terminate(second).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Assert: checked before use and replaced, without a failure.
    let third = backend().await.unwrap();
    assert_ne!(third, second);
}
