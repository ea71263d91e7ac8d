//! Audit endpoints (CONTRACT 2.5): history, hash-chain verification, the event feed, and the
//! `ticketd history` / `ticketd verify` commands.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::ordering::wait_all_positioned;

async fn comment(app: &TestApp, id: Uuid, user: &TestUser, body: &str, internal: bool) -> i64 {
    let mut payload = json!({ "body": body });
    if internal {
        payload["internal"] = json!(true);
    }
    let r = app
        .post(&format!("/tickets/{id}/comments"), user, payload)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["version"].as_i64().unwrap()
}

async fn json_ok(response: reqwest::Response) -> (Value, i64) {
    assert_eq!(response.status(), StatusCode::OK);
    let position = response.headers()["x-projection-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (response.json().await.unwrap(), position)
}

#[tokio::test]
async fn history_shows_the_requester_their_ticket_without_internal_comments() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let stranger = app.user("requester").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let id = app.create_ticket(&requester).await;
    comment(&app, id, &agent, "public answer", false).await;
    comment(&app, id, &agent, "internal note", true).await;
    let version = comment(&app, id, &requester, "thanks", false).await;
    assert_eq!(version, 4);

    // Act: read-your-writes through min_version.
    let (mine, head) = json_ok(
        app.get(
            &format!("/tickets/{id}/history?min_version={version}"),
            &requester,
        )
        .await,
    )
    .await;
    let (full, _) = json_ok(app.get(&format!("/tickets/{id}/history"), &auditor).await).await;

    // Assert: the requester sees 3 events, the internal comment removed.
    assert_eq!(mine["ticket_id"], id.to_string());
    let events = mine["events"].as_array().unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 4]);
    assert!(events.iter().all(|e| e["data"]["internal"] != true));
    assert!(head >= 4, "X-Projection-Position is the store's head");
    // Auditors see everything, as envelopes chained by prevhash, with positions.
    let events = full["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    let mut prev = "0".repeat(64);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["id"], format!("{id}:{}", i + 1));
        assert_eq!(e["subject"], id.to_string());
        assert_eq!(e["seq"], i as i64 + 1);
        assert!(e["position"].as_i64().unwrap() >= 1);
        assert_eq!(e["prevhash"], prev);
        prev = e["hash"].as_str().unwrap().to_string();
    }
    assert_eq!(events[0]["type"], "ticket.created");
    assert_eq!(events[2]["data"]["internal"], true);
    // Another requester, an unknown ticket and a malformed id: all 404.
    problem(
        app.get(&format!("/tickets/{id}/history"), &stranger).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(&format!("/tickets/{}/history", Uuid::now_v7()), &auditor)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/tickets/not-a-uuid/history", &auditor).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let p = problem(
        app.get(&format!("/tickets/{id}/history?min_version=x"), &auditor)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&p), vec!["min_version"]);
}

#[tokio::test]
async fn history_waiting_for_a_version_that_never_comes_answers_503() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    // Act
    let started = std::time::Instant::now();
    let response = app
        .get(&format!("/tickets/{id}/history?min_version=9"), &requester)
        .await;
    // Assert
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(response.headers().contains_key("retry-after"));
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn verify_detects_an_altered_and_a_removed_event() {
    // Arrange: two tickets of four events each, and one left alone.
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let id = app.create_ticket(&agent).await;
        for i in 0..3 {
            comment(&app, id, &agent, &format!("step {i}"), false).await;
        }
        tickets.push(id);
    }
    let (altered, removed, intact) = (tickets[0], tickets[1], tickets[2]);
    wait_all_positioned(&app.pool).await;
    let (before, _) = json_ok(
        app.get(&format!("/tickets/{altered}/verify"), &auditor)
            .await,
    )
    .await;
    let (history, _) = json_ok(
        app.get(&format!("/tickets/{altered}/history"), &auditor)
            .await,
    )
    .await;
    assert_eq!(before["valid"], true);
    assert_eq!(before["events"], 4);
    assert_eq!(before["first_invalid_sequence"], Value::Null);
    assert_eq!(before["head_hash"], history["events"][3]["hash"]);

    // Act: tamper as a superuser with the append-only triggers switched off for the session.
    let mut conn = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload::jsonb, '{body}', '\"rewritten\"')::json
         WHERE aggregate_id = $1 AND sequence = 3",
    )
    .bind(altered.to_string())
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2")
        .bind(removed.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    // Assert
    let (report, _) = json_ok(app.get(&format!("/tickets/{altered}/verify"), &admin).await).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_invalid_sequence"], 3);
    assert_eq!(report["events"], 4);
    let (report, _) = json_ok(
        app.get(&format!("/tickets/{removed}/verify"), &auditor)
            .await,
    )
    .await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_invalid_sequence"], 2);
    assert_eq!(report["events"], 3);
    let (report, _) = json_ok(
        app.get(&format!("/tickets/{intact}/verify"), &auditor)
            .await,
    )
    .await;
    assert_eq!(report["valid"], true);
    // The CLI says the same, with exit status 1 for a broken chain.
    let out = app.run_ticketd(&["verify", &altered.to_string()]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["first_invalid_sequence"], 3);
    let out = app.run_ticketd(&["verify", &intact.to_string()]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = app.run_ticketd(&["verify", "--all"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines.iter().filter(|l| l["valid"] == false).count(), 2);
    let out = app.run_ticketd(&["history", &intact.to_string()]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let envelopes: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(envelopes.len(), 4);
    assert_eq!(envelopes[3]["id"], format!("{intact}:4"));
    // Only auditors and admins verify; unknown and malformed tickets are 404.
    for user in [&agent, &requester] {
        problem(
            app.get(&format!("/tickets/{intact}/verify"), user).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    problem(
        app.get(&format!("/tickets/{}/verify", Uuid::now_v7()), &auditor)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/tickets/12345/verify", &auditor).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn the_event_feed_checks_roles_and_parameters_and_filters_by_type() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    comment(&app, id, &agent, "one", false).await;
    comment(&app, id, &agent, "two", true).await;
    wait_all_positioned(&app.pool).await;

    // Act + Assert: roles.
    for user in [&agent, &requester] {
        problem(app.get("/events", user).await, StatusCode::FORBIDDEN).await;
    }
    let (page, head) = json_ok(app.get("/events", &admin).await).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_after"], 3);
    assert_eq!(head, 3);
    // Every invalid parameter is named.
    let p = problem(
        app.get("/events?after=-1&limit=0&type=ticket.exploded", &auditor)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&p), vec!["after", "limit", "type"]);
    let p = problem(
        app.get("/events?after=abc&limit=1001", &auditor).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&p), vec!["after", "limit"]);
    // Type filter, limit and paging.
    let (page, _) = json_ok(app.get("/events?type=ticket.commented", &auditor).await).await;
    let types: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["ticket.commented", "ticket.commented"]);
    assert_eq!(page["next_after"], 3);
    let (page, _) = json_ok(app.get("/events?after=1&limit=1", &auditor).await).await;
    assert_eq!(page["events"][0]["position"], 2);
    assert_eq!(page["next_after"], 2);
    let (page, _) = json_ok(app.get("/events?after=50", &auditor).await).await;
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["next_after"], 50);
    // min_position beyond the head waits, then 503.
    let response = app.get("/events?min_position=99", &auditor).await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}
