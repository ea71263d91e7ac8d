//! CONTRACT 7, integration keys: an instance remembers the keys it verified, and a revocation
//! still takes effect at once, even one made by another instance (straight in the database
//! here): the statement that records an intake checks the integration, and every other use of a
//! remembered key confirms it first.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{problem, spawn_app, TestApp};
use crate::people::{intake, integration, json_of, ticket_body};

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_remembered_key_revoked_by_another_instance_writes_nothing_from_that_moment() {
    // Arrange: the key has opened a ticket, so this instance remembers it.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (id, key) = integration(&app, &admin, "chat").await;
    let mut first = ticket_body(json!({"name": "Gil", "email": "gil@example.com"}));
    first["external_id"] = json!("chat-1");
    json_of(
        intake(&app, &key, "/intake/tickets", first.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let before = (
        count(&app, "events").await,
        count(&app, "users").await,
        count(&app, "intake_tickets").await,
    );

    // Act: another instance revokes it (no call reaches this one).
    sqlx::query("UPDATE integrations SET revoked_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();

    // Assert: a new intake, a repeat, a message, and a request this instance would refuse
    // for its body all get a 401, and nothing is stored.
    let mut returning = ticket_body(json!({"name": "Gil", "email": "gil@example.com"}));
    returning["external_id"] = json!("chat-2");
    let new_person = ticket_body(json!({"name": "Hal", "phone": "+5511944443333"}));
    let message = json!({"external_id": "chat-1", "body": "Still there?"});
    let bad = json!({"requester": {"name": "Hal"}, "title": ""});
    for (what, path, body) in [
        ("returning requester", "/intake/tickets", returning),
        ("new requester", "/intake/tickets", new_person),
        ("repeated external id", "/intake/tickets", first),
        ("message", "/intake/messages", message),
        ("bad body", "/intake/tickets", bad.clone()),
        ("bad message", "/intake/messages", bad),
    ] {
        let answer = intake(&app, &key, path, body).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{what}");
        problem(answer, StatusCode::UNAUTHORIZED).await;
    }
    let after = (
        count(&app, "events").await,
        count(&app, "users").await,
        count(&app, "intake_tickets").await,
    );
    assert_eq!(after, before, "nothing stored");
}

#[tokio::test]
async fn a_key_revoked_on_this_instance_is_forgotten_at_once() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (id, key) = integration(&app, &admin, "web").await;
    let body = ticket_body(json!({"name": "Ida", "email": "ida@example.com"}));
    json_of(
        intake(&app, &key, "/intake/tickets", body.clone()).await,
        StatusCode::CREATED,
    )
    .await;

    // Act
    let deleted = app
        .client
        .delete(app.api(&format!("/integrations/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // Assert
    let events = count(&app, "events").await;
    problem(
        intake(&app, &key, "/intake/tickets", body).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(count(&app, "events").await, events);
}
