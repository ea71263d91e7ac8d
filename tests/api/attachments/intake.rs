//! Files on intake (CONTRACT 10 and 7): an integration uploads through `/intake/attachments`,
//! then lists the ids on `POST /intake/tickets` or `/intake/messages`; each id once, only by the
//! integration that uploaded it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::support::{intake_upload, Upload};
use crate::helpers::{failing_fields, problem, spawn_app, TestApp};
use crate::people::{intake, integration, json_of, ticket_body};

async fn uploaded(app: &TestApp, key: &str, name: &str, content: &[u8]) -> Value {
    json_of(
        intake_upload(app, key, Upload::file(name, "text/plain", content)).await,
        StatusCode::CREATED,
    )
    .await
}

/// The files `ticket.commented` events of `ticket` list, in order.
async fn listed_files(app: &TestApp, ticket: Uuid) -> Vec<Value> {
    app.stored_events(ticket)
        .await
        .into_iter()
        .filter(|(_, t, _, _)| t == "ticket.commented")
        .flat_map(|(_, _, data, _)| data["attachments"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn an_intake_ticket_opens_with_the_integrations_upload_and_the_agent_downloads_it() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let (_, key) = integration(&app, &admin, "web").await;
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let expected = hex::encode(Sha256::digest(&content));

    // Act
    let info = uploaded(&app, &key, "screen.txt", &content).await;
    let mut body = ticket_body(json!({"name": "Ana", "email": "ana@example.com"}));
    body["attachment_ids"] = json!([info["id"]]);
    body["external_id"] = json!("form-1");
    let opened = json_of(
        intake(&app, &key, "/intake/tickets", body).await,
        StatusCode::CREATED,
    )
    .await;
    let ticket: Uuid = opened["id"].as_str().unwrap().parse().unwrap();
    let download = app
        .get(
            &format!("/attachments/{}", info["id"].as_str().unwrap()),
            &agent,
        )
        .await;

    // Assert
    assert_eq!(info["sha256"], expected);
    assert_eq!(info["size"], content.len());
    let events = app.stored_events(ticket).await;
    let types: Vec<&str> = events.iter().map(|(_, t, _, _)| t.as_str()).collect();
    assert_eq!(types, ["ticket.created", "ticket.commented"]);
    let (_, _, comment, _) = &events[1];
    assert_eq!(comment["internal"], false);
    assert_eq!(comment["author"]["id"], opened["requester_id"]);
    assert_eq!(
        comment["attachments"],
        json!([{"id": info["id"], "filename": "screen.txt", "content_type": "text/plain",
                "size": content.len(), "sha256": expected}])
    );
    assert_eq!(download.status(), StatusCode::OK);
    let bytes = download.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), expected, "recomputed");
}

#[tokio::test]
async fn an_intake_lists_only_its_own_integrations_unused_uploads() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "web").await;
    let (_, other_key) = integration(&app, &admin, "chat").await;
    let theirs = uploaded(&app, &other_key, "theirs.txt", b"theirs").await;
    let mine = uploaded(&app, &key, "mine.txt", b"mine").await;
    let spare = uploaded(&app, &key, "spare.txt", b"spare").await;
    let requester = json!({"name": "Ana", "email": "ana@example.com"});
    let with = |ids: Value, external_id: &str| {
        let mut body = ticket_body(requester.clone());
        body["attachment_ids"] = ids;
        body["external_id"] = json!(external_id);
        body
    };

    // Act
    let another_integrations = intake(
        &app,
        &key,
        "/intake/tickets",
        with(json!([theirs["id"]]), "a"),
    )
    .await;
    let first = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            with(json!([mine["id"]]), "b"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let used_twice = intake(
        &app,
        &key,
        "/intake/tickets",
        with(json!([mine["id"]]), "c"),
    )
    .await;
    let used_on_a_message = intake(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "b", "body": "again", "attachment_ids": [mine["id"]]}),
    )
    .await;
    let unknown = intake(
        &app,
        &key,
        "/intake/tickets",
        with(json!([Uuid::now_v7()]), "d"),
    )
    .await;
    let events_before = app
        .stored_events(first["id"].as_str().unwrap().parse().unwrap())
        .await
        .len();
    // A repeat of "b" with an unused upload applies nothing, and leaves the upload usable.
    let repeat = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            with(json!([spare["id"]]), "b"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let message = json_of(
        intake(
            &app,
            &key,
            "/intake/messages",
            json!({"external_id": "b", "body": "the log", "attachment_ids": [spare["id"]]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // Assert
    for refused in [another_integrations, used_twice, used_on_a_message, unknown] {
        let refused = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&refused), ["attachment_ids"]);
    }
    assert_eq!(repeat["id"], first["id"]);
    let ticket: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(events_before, 2, "created and the comment listing mine");
    let files: Vec<Value> = listed_files(&app, ticket)
        .await
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(files, [mine["id"].clone(), spare["id"].clone()]);
    assert!(message.is_object());
    // A refused intake opened nothing: the same external id, sent again without the file,
    // opens its ticket.
    let retried = intake(&app, &key, "/intake/tickets", with(json!([]), "a")).await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    let opened: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ticket.created'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(opened, 2, "no ticket opened by a refused intake");
}

#[tokio::test]
async fn an_upload_no_intake_lists_goes_with_the_janitor_and_a_listed_one_stays() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "web").await;
    let listed = uploaded(&app, &key, "kept.txt", b"kept").await;
    uploaded(&app, &key, "orphan.txt", b"orphan").await;
    let mut body = ticket_body(json!({"name": "Ana", "email": "ana@example.com"}));
    body["attachment_ids"] = json!([listed["id"]]);
    json_of(
        intake(&app, &key, "/intake/tickets", body).await,
        StatusCode::CREATED,
    )
    .await;
    // A lost mark: the event log still lists the file.
    sqlx::query("UPDATE attachments SET referenced_at = NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let store = &app.state.attachments;

    // Act
    let young =
        ticketd::attachments::sweep_orphans(&app.pool, store, ticketd::attachments::ORPHAN_AGE)
            .await
            .unwrap();
    let old = ticketd::attachments::sweep_orphans(&app.pool, store, std::time::Duration::ZERO)
        .await
        .unwrap();

    // Assert
    assert_eq!(young, 0, "nothing is 24 h old yet");
    assert_eq!(old, 1, "the upload no intake listed");
    assert_eq!(super::support::stored_files(&app).await.len(), 1);
}
