//! CONTRACT 6: nothing outside ticketd holds positions back. Transactions that write no event
//! (in another database of the cluster, on another table, idle in a transaction) never delay
//! read models, pushes or NATS; an event writer left open, or a sequencer kept from running, is
//! visible in `/readyz` and `/metrics` and turns readiness to 503 past the limit.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use ticket_projections::sequencer::SEQUENCER_LOCK;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::{admin_url, clean_up, spawn_app_with, spawn_second_instance, TestApp};
use crate::nats::{shared_nats_url, TestStream};
use crate::ordering::{created_envelope, feed_page, insert_event, wait_all_positioned};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket subscribed to `board`.
async fn board_subscriber(app: &TestApp, token: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{}/api/v1/ws?access_token={token}", app.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket handshake");
    let subscribe = json!({"op": "subscribe", "channels": ["board"]});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    assert_eq!(next_frame(&mut ws).await["type"], "subscribed");
    ws
}

async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the connection is open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("a JSON frame");
        }
    }
}

/// Polls `/readyz` until `done` holds for it, or fails after `limit`.
async fn readyz_until(
    app: &TestApp,
    limit: Duration,
    done: impl Fn(StatusCode, &Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = app.readyz().await;
        if done(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never got there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The backend pid of the session holding the sequencer's lock, once there is one.
async fn sequencer_pid(app: &TestApp) -> i32 {
    let (_, body) = app.readyz().await;
    match body["positions"]["sequencer_pid"].as_i64() {
        Some(pid) => pid as i32,
        None => readyz_until(app, Duration::from_secs(5), |_, b| {
            b["positions"]["sequencer_pid"].is_i64()
        })
        .await["positions"]["sequencer_pid"]
            .as_i64()
            .unwrap() as i32,
    }
}

#[tokio::test]
async fn transactions_that_write_no_event_never_delay_positions() {
    // Arrange: an engine with NATS and a board subscriber.
    let stream = TestStream::new(&shared_nats_url());
    let app = spawn_app_with(|s| stream.configure(s)).await;
    let agent = app.user("agent").await;
    let mut ws = board_subscriber(&app, &agent.token).await;

    // Neighbours, each holding a transaction id: a write in another database of the cluster,
    // a write on another table of ticketd's own database, and a session idle in a transaction.
    let neighbour_db = format!("neighbour_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::query(&format!(r#"CREATE DATABASE "{neighbour_db}""#))
        .execute(&mut admin)
        .await
        .unwrap();
    let neighbour_url = app.database_url.replace(&app.db_name, &neighbour_db);
    let mut other_app = PgConnection::connect(&neighbour_url).await.unwrap();
    let mut same_db = PgConnection::connect(&app.database_url).await.unwrap();
    let mut idle = PgConnection::connect(&app.database_url).await.unwrap();
    for (conn, statements) in [
        (
            &mut other_app,
            "CREATE TABLE t (x int); INSERT INTO t VALUES (1)",
        ),
        (
            &mut same_db,
            "CREATE TABLE neighbour (x int); INSERT INTO neighbour VALUES (1)",
        ),
        (&mut idle, "SELECT pg_current_xact_id()"),
    ] {
        sqlx::raw_sql(&format!("BEGIN; {statements}"))
            .execute(conn)
            .await
            .unwrap();
    }

    // Act and assert: every command reads back, is pushed and is published at once.
    let mut slowest_read = Duration::ZERO;
    for i in 0..10 {
        let created = app
            .post(
                "/tickets",
                &agent,
                json!({"title": format!("Printer {i}"), "description": "jammed",
                       "category": "printer", "priority": "low"}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let started = Instant::now();
        let read = app
            .get(&format!("/tickets/{id}?min_version=1"), &agent)
            .await;
        assert_eq!(read.status(), StatusCode::OK, "ticket {i} reads back");
        slowest_read = slowest_read.max(started.elapsed());
        let pushed = next_frame(&mut ws).await;
        assert_eq!(
            pushed["event"]["subject"],
            id.as_str(),
            "ticket {i} is pushed"
        );
    }
    assert!(
        slowest_read < Duration::from_secs(1),
        "read-your-write took {slowest_read:?} while neighbours held transactions"
    );
    stream.wait_for(10, Duration::from_secs(5)).await;
    let ready = readyz_until(&app, Duration::from_secs(2), |status, body| {
        status == StatusCode::OK && body["positions"]["unpositioned"] == 0
    })
    .await;
    assert_eq!(ready["positions"]["holders"], json!([]));
    assert_eq!(ready["positions"]["held"], false);

    // Clean up: the neighbours give up their transactions; the other database goes.
    for conn in [other_app, same_db, idle] {
        let _ = conn.close().await;
    }
    let _ = admin.close().await;
    // The cleanup runs on a runtime of its own, so it needs a connection of its own.
    clean_up(async move {
        if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
            let drop = format!(r#"DROP DATABASE IF EXISTS "{neighbour_db}" WITH (FORCE)"#);
            let _ = sqlx::query(&drop).execute(&mut admin).await;
        }
    });
}

#[tokio::test]
async fn an_event_writer_left_open_is_named_and_turns_readyz_503_past_the_limit() {
    // Arrange: a two-second limit.
    let app = spawn_app_with(|s| s.positions_hold_limit = Duration::from_secs(2)).await;
    let auditor = app.user("auditor").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let busy = app.create_ticket(&agent).await;

    // Act: a transaction writes an event and stays open.
    let late = Uuid::now_v7();
    let mut slow = PgConnection::connect(&app.database_url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut slow)
        .await
        .unwrap();
    // The engine ages the transaction from its start, so the clock starts before BEGIN: started
    // after the insert, it would run behind the engine's and `not before the limit` would flake.
    let opened = Instant::now();
    let mut tx = slow.begin().await.unwrap();
    let number: i64 = sqlx::query_scalar("SELECT nextval('ticket_numbers')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let envelope = created_envelope(late, number, &requester);
    insert_event(&mut *tx, &envelope).await;

    // Assert: other writes are positioned meanwhile; readiness holds until the limit.
    let commented = app
        .post(
            &format!("/tickets/{busy}/comments"),
            &agent,
            json!({"body": "meanwhile"}),
        )
        .await;
    assert_eq!(commented.status(), StatusCode::OK);
    let read = app
        .get(&format!("/tickets/{busy}?min_version=2"), &agent)
        .await;
    assert_eq!(read.status(), StatusCode::OK, "the other ticket reads back");
    let (status, _) = app.readyz().await;
    if opened.elapsed() < Duration::from_millis(1500) {
        assert_eq!(status, StatusCode::OK, "ready before the limit");
    }
    let not_ready = readyz_until(&app, Duration::from_secs(6), |status, _| {
        status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(
        opened.elapsed() >= Duration::from_secs(2),
        "not before the limit"
    );
    let reason = not_ready["reasons"][0].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("pid {pid}")),
        "the reason names the pid: {reason}"
    );
    let holder = &not_ready["positions"]["holders"][0];
    assert_eq!(holder["pid"], pid);
    assert_eq!(holder["kind"], "event_writer");
    assert!(holder["age_seconds"].as_f64().unwrap() >= 2.0, "{holder}");
    assert_eq!(not_ready["positions"]["held"], true);
    let metrics = app.root_text("/metrics").await;
    assert!(
        metrics.contains(&format!("ticketd_positions_holder_pid {pid}")),
        "{metrics}"
    );
    assert!(metrics.contains("ticketd_positions_held 1"), "{metrics}");
    assert!(metrics.contains("ticketd_event_writer_oldest_seconds "));

    // Once it commits, its event is positioned and readiness returns.
    tx.commit().await.unwrap();
    readyz_until(&app, Duration::from_secs(5), |status, body| {
        status == StatusCode::OK && body["positions"]["unpositioned"] == 0
    })
    .await;
    let (feed, _, _) = feed_page(&app, &auditor, 0, 100).await;
    assert_eq!(feed.last().unwrap()["id"], format!("{late}:1"));
}

#[tokio::test]
async fn committed_events_waiting_for_the_sequencer_count_in_readyz_metrics_and_lags() {
    // Arrange: a one-second limit; the test takes the sequencer's lock from the engine.
    let app = spawn_app_with(|s| s.positions_hold_limit = Duration::from_secs(1)).await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&agent).await;
    wait_all_positioned(&app.pool).await;
    let leader = sequencer_pid(&app).await;
    let mut thief = PgConnection::connect(&app.database_url).await.unwrap();
    let thief_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut thief)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(leader)
        .execute(&mut thief)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(SEQUENCER_LOCK)
        .fetch_one(&mut thief)
        .await
        .unwrap()
    {
        assert!(
            Instant::now() < deadline,
            "the test takes the sequencer's lock"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Act: three commands commit; nobody positions them.
    for i in 0..3 {
        let r = app
            .post(
                &format!("/tickets/{ticket}/comments"),
                &agent,
                json!({"body": format!("{i}")}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    // Assert: counted, in the lags too, then not ready past the limit.
    let waiting = readyz_until(&app, Duration::from_secs(2), |_, body| {
        body["positions"]["unpositioned"] == 3
    })
    .await;
    assert_eq!(waiting["positions"]["sequencer_pid"], thief_pid);
    for projection in waiting["projections"].as_array().unwrap() {
        assert!(projection["lag"].as_i64().unwrap() >= 3, "{projection}");
    }
    let metrics = app.root_text("/metrics").await;
    assert!(
        metrics.contains("ticketd_events_unpositioned 3"),
        "{metrics}"
    );
    let not_ready = readyz_until(&app, Duration::from_secs(5), |status, _| {
        status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let reason = not_ready["reasons"][0].as_str().unwrap_or_default();
    assert!(reason.contains("positions held back"), "{reason}");

    // The lock released, the engine's sequencer takes over and readiness returns.
    thief.close().await.unwrap();
    readyz_until(&app, Duration::from_secs(5), |status, body| {
        status == StatusCode::OK && body["positions"]["unpositioned"] == 0
    })
    .await;
    let read = app
        .get(&format!("/tickets/{ticket}?min_version=4"), &agent)
        .await;
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn two_instances_writing_the_same_tickets_give_every_consumer_each_event_once_in_order() {
    // Arrange: two engines on one store and one stream.
    let stream = TestStream::new(&shared_nats_url());
    let app = spawn_app_with(|s| stream.configure(s)).await;
    let second = spawn_second_instance(&app).await;
    let auditor = app.user("auditor").await;
    let agent = app.user("agent").await;
    let mut tickets = Vec::new();
    for _ in 0..4 {
        tickets.push(app.create_ticket(&agent).await);
    }
    let bases = [
        app.api(""),
        format!("http://127.0.0.1:{}/api/v1", second.port),
    ];

    // Act: two rounds of writers on both instances, all on the same few tickets.
    for round in 0..2 {
        let mut writers = Vec::new();
        for (w, base) in bases.iter().cycle().take(12).enumerate() {
            let (base, token, tickets) = (base.clone(), agent.token.clone(), tickets.clone());
            let client = app.client.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..8 {
                    let ticket = tickets[(w + i) % tickets.len()];
                    let r = client
                        .post(format!("{base}/tickets/{ticket}/comments"))
                        .bearer_auth(&token)
                        .json(&json!({"body": format!("round {round} writer {w} note {i}")}))
                        .send()
                        .await
                        .expect("send a comment");
                    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
                }
            }));
        }
        for writer in writers {
            writer.await.expect("a writer");
        }
    }
    let total = wait_all_positioned(&app.pool).await;
    assert_eq!(total, 4 + 2 * 12 * 8);

    // Assert, from the feed: dense positions, each event once, each ticket in sequence order.
    let mut feed = Vec::new();
    let mut after = 0;
    loop {
        let (page, next_after, _) = feed_page(&app, &auditor, after, 100).await;
        if page.is_empty() {
            break;
        }
        feed.extend(page);
        after = next_after;
    }
    let positions: Vec<i64> = feed
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(
        positions,
        (1..=total).collect::<Vec<_>>(),
        "dense, in order"
    );
    let feed_order: Vec<(String, i64)> = feed
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap().to_string(),
                e["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_in_ticket_order(&feed_order, "the feed");

    // And from NATS: each event once (by message id), in the same order.
    stream.wait_for(total as u64, Duration::from_secs(10)).await;
    let messages = stream.messages().await;
    let ids: HashSet<&str> = messages.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(ids.len(), total as usize, "each event once on NATS");
    let nats_order: Vec<(String, i64)> = messages
        .iter()
        .map(|m| (m.3.subject.clone(), m.3.seq))
        .collect();
    assert_eq!(nats_order, feed_order, "NATS carries the feed's order");
    second.stop().await;
}

/// Every ticket's events appear as 1, 2, 3… with no gap or repeat.
fn assert_in_ticket_order(events: &[(String, i64)], what: &str) {
    let mut last: HashMap<&str, i64> = HashMap::new();
    for (ticket, seq) in events {
        let previous = last.insert(ticket, *seq).unwrap_or(0);
        assert_eq!(
            *seq,
            previous + 1,
            "{what}: ticket {ticket} jumps from {previous} to {seq}"
        );
    }
}
