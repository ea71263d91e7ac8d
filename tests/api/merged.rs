//! CONTRACT 7, merges: once a duplicate is merged into another user, the kept user who signs
//! in sees the duplicate's tickets as their own everywhere a requester sees theirs (`/me`,
//! `/me/tickets`, `/tickets`, the ticket, its history, commenting, the `me` channel), others
//! still do not, and a full rebuild of the read models answers the same.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{claims, problem, sign, spawn_app, TestApp, TestUser};
use crate::queries::{done, read};
use crate::ws::{connect, events_until, subscribe};

/// Opens a ticket through an intake integration; returns (ticket id, requester id).
async fn intake(app: &TestApp, key: &str, requester: Value, title: &str) -> (Uuid, Uuid) {
    let response = app
        .client
        .post(app.api("/intake/tickets"))
        .bearer_auth(key)
        .json(&json!({"requester": requester, "title": title, "description": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let id = |k: &str| body[k].as_str().unwrap().parse().unwrap();
    (id("id"), id("requester_id"))
}

/// A requester's token for a user intake added.
fn signed_in(id: Uuid, email: &str, name: &str) -> TestUser {
    TestUser {
        id,
        email: email.into(),
        name: name.into(),
        role: "requester".into(),
        token: sign(&claims(id, email, name, "requester")),
    }
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// A duplicate requester merged into a kept one: (kept user signed in, the kept user's ticket,
/// the duplicate's ticket, the admin).
async fn merged_pair(app: &TestApp) -> (TestUser, Uuid, Uuid, TestUser) {
    let admin = app.user("admin").await;
    let made = app
        .post(
            "/integrations",
            &admin,
            json!({"name": "chat", "channel": "chat"}),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let key = made.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (kept_ticket, keep) = intake(
        app,
        &key,
        json!({"name": "Ivy", "email": "ivy@example.com"}),
        "Kept's printer",
    )
    .await;
    let (dup_ticket, dup) = intake(
        app,
        &key,
        json!({"name": "Ivy", "phone": "+5511933332222"}),
        "Duplicate's VPN",
    )
    .await;
    assert_ne!(keep, dup);
    done(
        app.post(
            &format!("/users/{dup}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await,
    )
    .await;
    (
        signed_in(keep, "ivy@example.com", "Ivy"),
        kept_ticket,
        dup_ticket,
        admin,
    )
}

#[tokio::test]
async fn the_kept_user_sees_and_answers_the_merged_duplicates_tickets_as_their_own() {
    // Arrange
    let app = spawn_app().await;
    let (ivy, kept_ticket, dup_ticket, admin) = merged_pair(&app).await;
    let stranger = app.user("requester").await;
    let mut ws = connect(app.port, &ivy).await;
    subscribe(&mut ws, &["me"], None).await;

    // Act: the kept user comments on the duplicate's ticket as its requester.
    done(
        app.post(
            &format!("/tickets/{dup_ticket}/comments"),
            &ivy,
            json!({"body": "any news?"}),
        )
        .await,
    )
    .await;

    // Assert: the `me` channel tells them, as for their own tickets.
    let frames = events_until(&mut ws, |f| f["event"]["data"]["body"] == "any news?").await;
    assert_eq!(
        frames.last().unwrap()["event"]["subject"],
        dup_ticket.to_string()
    );
    let mut both = vec![kept_ticket.to_string(), dup_ticket.to_string()];
    both.sort();
    assert_eq!(ids(&read(&app, "/me/tickets", &ivy).await), both);
    assert_eq!(ids(&read(&app, "/tickets", &ivy).await), both);
    assert_eq!(
        read(&app, "/me", &ivy).await["requested"],
        json!({"open": 2, "in_progress": 0, "pending": 0, "closed": 0})
    );
    let ticket = read(&app, &format!("/tickets/{dup_ticket}"), &ivy).await;
    let comment = &ticket["comments"][0];
    assert_eq!(
        (&comment["body"], &comment["author"]["id"]),
        (&json!("any news?"), &json!(ivy.id)),
        "{ticket}"
    );
    assert_eq!(
        ticket["first_response_at"],
        Value::Null,
        "the requester's own words are not a response"
    );
    let history = app
        .get(&format!("/tickets/{dup_ticket}/history"), &ivy)
        .await;
    assert_eq!(history.status(), StatusCode::OK);
    let as_of = app
        .get(
            &format!("/tickets/{dup_ticket}?as_of=2100-01-01T00:00:00Z"),
            &ivy,
        )
        .await;
    assert_eq!(as_of.status(), StatusCode::OK);
    let counts = read(&app, &format!("/users/{}", ivy.id), &ivy).await;
    assert_eq!(counts["tickets"]["total"], 2, "{counts}");
    let staff_counts = read(&app, &format!("/users/{}", ivy.id), &admin).await;
    assert_eq!(staff_counts["tickets"], counts["tickets"]);

    // Someone else still sees none of them.
    problem(
        app.get(&format!("/tickets/{dup_ticket}"), &stranger).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.post(
            &format!("/tickets/{dup_ticket}/comments"),
            &stranger,
            json!({"body": "me too"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(ids(&read(&app, "/me/tickets", &stranger).await).is_empty());
}

#[tokio::test]
async fn a_rebuild_lists_the_merged_duplicates_tickets_under_the_kept_user_as_before() {
    // Arrange
    let app = spawn_app().await;
    let (ivy, _, dup_ticket, admin) = merged_pair(&app).await;
    done(
        app.post(
            &format!("/tickets/{dup_ticket}/comments"),
            &ivy,
            json!({"body": "still down"}),
        )
        .await,
    )
    .await;
    let paths = [
        "/me".to_string(),
        "/me/tickets".to_string(),
        "/tickets".to_string(),
        format!("/tickets/{dup_ticket}"),
        format!("/users/{}", ivy.id),
    ];
    let mut live = Vec::new();
    for path in &paths {
        live.push(read(&app, path, &ivy).await);
    }
    let stats = read(&app, "/stats", &admin).await;

    // Act
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    // Shared answers are kept for a second at an unchanged position: let them go.
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // Assert
    for (path, before) in paths.iter().zip(&live) {
        assert_eq!(&read(&app, path, &ivy).await, before, "{path}");
    }
    assert_eq!(live[1]["items"].as_array().unwrap().len(), 2);
    assert_eq!(read(&app, "/stats", &admin).await, stats);
}

#[tokio::test]
async fn a_ticket_opened_for_the_merged_duplicate_is_the_kept_users() {
    // Arrange
    let app = spawn_app().await;
    let (ivy, _, _, _) = merged_pair(&app).await;
    let agent = app.user("agent").await;
    let dup: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE merged_into = $1")
        .bind(ivy.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // Act
    let id = app
        .create_ticket_with(&agent, json!({"requester_id": dup}))
        .await;

    // Assert
    let events = app.stored_events(id).await;
    assert_eq!(events[0].2["requester"]["id"], json!(ivy.id));
    let mine = read(&app, "/me/tickets", &ivy).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
}
