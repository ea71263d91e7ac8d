//! CONTRACT 7, `POST /intake/messages`: the message's `from` is its author, found like an
//! intake's requester. The ticket's requester (or the user a duplicate requester was merged
//! into) and staff comment on the ticket; anyone else gets a ticket of their own, as a mail
//! reply by someone else does, and the ticket named is left alone.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::spawn_app;
use crate::helpers::{TestApp, TestUser};

async fn send(app: &TestApp, key: &str, path: &str, body: Value) -> Response {
    app.client
        .post(app.api(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

/// A chat integration's key, and a conversation `conv` opened by Eva (by phone).
async fn conversation(app: &TestApp, admin: &TestUser) -> (String, Value) {
    let made = app
        .post(
            "/integrations",
            admin,
            json!({"name": "chat", "channel": "chat", "default_priority": "high"}),
        )
        .await;
    let key = json_of(made, StatusCode::CREATED).await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let opened = json_of(
        send(
            app,
            &key,
            "/intake/tickets",
            json!({"requester": {"name": "Eva", "phone": "+5511912345678"},
                   "title": "Cannot log in", "description": "Since Monday.", "external_id": "conv"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    (key, opened)
}

async fn events(app: &TestApp, id: &Value) -> Vec<(String, Value, Value)> {
    sqlx::query_as(
        "SELECT event_type, payload, metadata FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.as_str().unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_requester_found_by_any_of_their_contacts_is_the_author_and_gains_the_new_one() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (key, opened) = conversation(&app, &admin).await;

    // Act: Eva writes from her phone, now also giving an e-mail address.
    let said = send(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "conv", "from": {"email": "Eva@Example.com", "phone": "011 91234-5678", "name": "Someone"}, "body": "Still broken"}),
    )
    .await;

    // Assert
    json_of(said, StatusCode::OK).await;
    let stored = events(&app, &opened["id"]).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].1["author"]["id"], opened["requester_id"]);
    assert_eq!(stored[1].1["author"]["role"], "requester");
    let eva = json_of(
        app.get(
            &format!("/users/{}", opened["requester_id"].as_str().unwrap()),
            &admin,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&eva["email"], &eva["name"]),
        (&json!("eva@example.com"), &json!("Eva")),
        "the missing e-mail is filled, the name left as it was"
    );
    // Without `from` (or with a name only), the requester speaks.
    for body in [
        json!({"external_id": "conv", "body": "hello?"}),
        json!({"external_id": "conv", "from": {"name": "E."}, "body": "anyone?"}),
    ] {
        json_of(
            send(&app, &key, "/intake/messages", body).await,
            StatusCode::OK,
        )
        .await;
    }
    let stored = events(&app, &opened["id"]).await;
    assert!(stored[2..]
        .iter()
        .all(|e| e.1["author"]["id"] == opened["requester_id"]));
}

#[tokio::test]
async fn staff_answer_publicly_and_reopen_a_closed_ticket_as_themselves() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let (key, opened) = conversation(&app, &admin).await;
    let id = opened["id"].as_str().unwrap();
    json_of(
        app.post(&format!("/tickets/{id}/close"), &admin, json!({}))
            .await,
        StatusCode::OK,
    )
    .await;

    // Act
    let said = send(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "conv", "from": {"email": agent.email}, "body": "Try now, please."}),
    )
    .await;

    // Assert
    json_of(said, StatusCode::OK).await;
    let stored = events(&app, &opened["id"]).await;
    let types: Vec<&str> = stored.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        types,
        [
            "ticket.created",
            "ticket.closed",
            "ticket.reopened",
            "ticket.commented"
        ]
    );
    assert_eq!(stored[2].1["reason"], "new message");
    let comment = &stored[3].1;
    assert_eq!(
        (
            &comment["author"]["id"],
            &comment["author"]["role"],
            &comment["internal"]
        ),
        (&json!(agent.id), &json!("agent"), &json!(false))
    );
    assert_eq!(
        stored[3].2["actorid"],
        json!(agent.id.to_string()),
        "{:?}",
        stored[3].2
    );
}

#[tokio::test]
async fn someone_else_gets_a_ticket_of_their_own_and_the_named_one_is_left_alone() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (key, opened) = conversation(&app, &admin).await;
    let before = events(&app, &opened["id"]).await;

    // Act
    let said = send(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "conv", "from": {"email": "mallory@example.com", "name": "Mal"},
               "body": "\n  My own problem: the printer\nis on fire"}),
    )
    .await;

    // Assert
    let own = json_of(said, StatusCode::CREATED).await;
    assert_ne!(own["id"], opened["id"]);
    assert_ne!(own["requester_id"], opened["requester_id"]);
    assert_eq!(own["requester_created"], true);
    assert_eq!(
        events(&app, &opened["id"]).await,
        before,
        "nothing on Eva's ticket"
    );
    let stored = events(&app, &own["id"]).await;
    assert_eq!(stored.len(), 1);
    let created = &stored[0].1;
    assert_eq!(created["title"], "My own problem: the printer");
    assert_eq!(
        created["description"],
        "\n  My own problem: the printer\nis on fire"
    );
    assert_eq!(created["channel"], "chat");
    assert_eq!(created["priority"], "high", "the integration's default");
    assert_eq!(created["requester"]["id"], own["requester_id"]);
    assert_eq!(created["requester"]["name"], "Mal");

    // A long first line is cut to a title's 200 characters.
    let long = "x".repeat(300);
    let own = json_of(
        send(
            &app,
            &key,
            "/intake/messages",
            json!({"external_id": "conv", "from": {"phone": "+5511900001111"}, "body": long}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let created = &events(&app, &own["id"]).await[0].1;
    assert_eq!(created["title"].as_str().unwrap().chars().count(), 200);
    assert_eq!(created["requester"]["name"], "+5511900001111");
}

#[tokio::test]
async fn the_user_a_duplicate_requester_was_merged_into_answers_its_conversation() {
    // Arrange: Eva (by phone) is a duplicate of Eve, known by e-mail.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (key, opened) = conversation(&app, &admin).await;
    let eve = json_of(
        send(
            &app,
            &key,
            "/intake/tickets",
            json!({"requester": {"name": "Eve", "email": "eve@example.com"},
                   "title": "Other", "description": "d"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let dup: Uuid = opened["requester_id"].as_str().unwrap().parse().unwrap();
    json_of(
        app.post(
            &format!("/users/{dup}/merge"),
            &admin,
            json!({"into": eve["requester_id"]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // Act
    let said = send(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "conv", "from": {"email": "eve@example.com"}, "body": "It's me, from my mail"}),
    )
    .await;

    // Assert
    json_of(said, StatusCode::OK).await;
    let stored = events(&app, &opened["id"]).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].1["author"]["id"], eve["requester_id"]);
    assert_eq!(stored[1].1["author"]["role"], "requester");
}
