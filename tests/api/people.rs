//! CONTRACT 7: people and intake channels through HTTP and NATS: integrations and their keys,
//! intake of tickets and messages, requester resolution (email, phone, both, neither,
//! concurrent), merges, user streams in the feed and on NATS, and channel statistics.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, spawn_app_with, TestApp, TestUser};
use crate::nats::{shared_nats_url, TestStream};

/// Creates an integration as `admin`; returns (id, key).
pub(crate) async fn integration(app: &TestApp, admin: &TestUser, channel: &str) -> (Uuid, String) {
    let response = app
        .post(
            "/integrations",
            admin,
            json!({"name": format!("{channel} widget"), "channel": channel}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let key = body["key"].as_str().unwrap().to_string();
    (body["id"].as_str().unwrap().parse().unwrap(), key)
}

pub(crate) async fn intake(app: &TestApp, key: &str, path: &str, body: Value) -> Response {
    app.client
        .post(app.api(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) fn ticket_body(requester: Value) -> Value {
    json!({"requester": requester, "title": "Cannot log in", "description": "Since Monday."})
}

pub(crate) async fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The events of one stream (ticket or user) as stored: (sequence, type, payload).
async fn stream_events(app: &TestApp, id: Uuid) -> Vec<(i64, String, Value)> {
    sqlx::query_as("SELECT sequence, event_type, payload FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(id.to_string())
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn intake_finds_requesters_by_email_then_phone_and_fills_what_is_missing() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "web").await;

    // Neither known: a new requester with no password.
    let first = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": "Ana", "email": " Ana@Example.COM "})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["requester_created"], true);
    let ana: Uuid = first["requester_id"].as_str().unwrap().parse().unwrap();

    // By email, whatever its case; the phone is filled in, the name is not changed.
    let second = json_of(
        intake(&app, &key, "/intake/tickets", ticket_body(json!({"name": "Someone Else", "email": "ana@example.com", "phone": "(11) 98765-4321"}))).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        second["requester_id"], first["requester_id"],
        "found by email"
    );
    assert_eq!(second["requester_created"], false);

    // By phone alone, in another national spelling.
    let third = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": "Ana", "phone": "+55 11 98765 4321"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        third["requester_id"], first["requester_id"],
        "found by phone"
    );

    // An unknown email with a known phone: found by the phone; the email is never overwritten.
    let fourth = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(
                json!({"name": "Ana", "email": "other@example.com", "phone": "+5511987654321"}),
            ),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        fourth["requester_id"], first["requester_id"],
        "found by phone"
    );
    assert_eq!(fourth["requester_created"], false);

    // Both known, as two people: the email wins, and the phone another user holds is not filled.
    let new_person = ticket_body(json!({"name": "Otto", "email": "otto@example.com"}));
    let otto = json_of(
        intake(&app, &key, "/intake/tickets", new_person).await,
        StatusCode::CREATED,
    )
    .await;
    let both = ticket_body(
        json!({"name": "Otto", "email": "otto@example.com", "phone": "+5511987654321"}),
    );
    let fifth = json_of(
        intake(&app, &key, "/intake/tickets", both).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        fifth["requester_id"], otto["requester_id"],
        "the email wins"
    );
    let other: Uuid = otto["requester_id"].as_str().unwrap().parse().unwrap();
    assert_ne!(other, ana);

    let ana_now = json_of(
        app.get(&format!("/users/{ana}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ana_now["email"], "ana@example.com");
    assert_eq!(ana_now["phone"], "+5511987654321");
    assert_eq!(ana_now["name"], "Ana");
    assert_eq!(ana_now["role"], "requester");
    assert_eq!(ana_now["login"], false);
    assert_eq!(ana_now["active"], true);
    let other_now = json_of(
        app.get(&format!("/users/{other}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        other_now["phone"],
        Value::Null,
        "a phone held by another user is not filled in"
    );

    // The tickets are the requester's, with the integration's channel, the requester as actor.
    let ticket: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    let events = stream_events(&app, ticket).await;
    assert_eq!(events[0].1, "ticket.created");
    assert_eq!(events[0].2["channel"], "web");
    assert_eq!(events[0].2["requester"]["id"], ana.to_string());
    assert_eq!(events[0].2["integration"]["name"], "web widget");
    assert_eq!(events[0].2["category"], "other");
    assert_eq!(events[0].2["priority"], "medium");
    let actor: String =
        sqlx::query_scalar("SELECT metadata->>'actorid' FROM events WHERE aggregate_id = $1")
            .bind(ticket.to_string())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(actor, ana.to_string());

    // The detail counts the tickets and names the channel, once the read models have them.
    let detail = json_of(
        app.get(&format!("/users/{ana}?min_position=9999999"), &admin)
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(detail["status"], 503);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let detail = json_of(
            app.get(&format!("/users/{ana}"), &admin).await,
            StatusCode::OK,
        )
        .await;
        if detail["tickets"]["total"] == 4 {
            assert_eq!(detail["tickets"]["open"], 4);
            assert_eq!(detail["tickets"]["pending"], 0);
            assert_eq!(detail["channels"], json!(["web"]));
            break;
        }
        assert!(Instant::now() < deadline, "{detail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn concurrent_intakes_for_one_new_email_create_one_user() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "chat").await;
    let before = user_count(&app).await;

    let answers = futures::future::join_all((0..8).map(|i| {
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": format!("Bea {i}"), "email": "bea@example.com"})),
        )
    }))
    .await;

    let mut requesters = std::collections::HashSet::new();
    for answer in answers {
        let body = json_of(answer, StatusCode::CREATED).await;
        requesters.insert(body["requester_id"].as_str().unwrap().to_string());
    }
    assert_eq!(requesters.len(), 1, "one person");
    assert_eq!(user_count(&app).await, before + 1);
}

#[tokio::test]
async fn an_external_id_returns_the_first_ticket_per_integration_and_applies_nothing() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "api").await;
    let (_, other_key) = integration(&app, &admin, "api").await;
    let mut body = ticket_body(json!({"name": "Cid", "email": "cid@example.com"}));
    body["external_id"] = json!("crm-42");
    body["metadata"] = json!({"order": "A-1", "plan": "gold"});

    let first = json_of(
        intake(&app, &key, "/intake/tickets", body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let events = app.event_count().await;
    body["title"] = json!("Something else entirely");
    body["requester"] = json!({"name": "Dee", "email": "dee@example.com"});
    let again = json_of(
        intake(&app, &key, "/intake/tickets", body.clone()).await,
        StatusCode::OK,
    )
    .await;
    let elsewhere = json_of(
        intake(&app, &other_key, "/intake/tickets", body).await,
        StatusCode::CREATED,
    )
    .await;

    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["number"], first["number"]);
    assert_eq!(again["requester_id"], first["requester_id"]);
    assert_eq!(again["requester_created"], false);
    assert_ne!(
        elsewhere["id"], first["id"],
        "external ids are per integration"
    );
    assert_eq!(
        app.event_count().await,
        events + 2,
        "only the other integration's intake wrote (user and ticket)"
    );
    let id = first["id"].as_str().unwrap();
    let view = json_of(
        app.get(&format!("/tickets/{id}?min_version=1"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(view["metadata"], json!({"order": "A-1", "plan": "gold"}));
    assert_eq!(view["title"], "Cannot log in");
    assert_eq!(view["channel"], "api");
}

#[tokio::test]
async fn concurrent_intakes_of_one_external_id_for_a_returning_requester_open_one_ticket() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "api").await;
    let person = json!({"name": "Eli", "email": "eli@example.com"});
    json_of(
        intake(&app, &key, "/intake/tickets", ticket_body(person.clone())).await,
        StatusCode::CREATED,
    )
    .await;
    let events = app.event_count().await;
    let users = user_count(&app).await;
    let mut body = ticket_body(person);
    body["external_id"] = json!("form-7");

    let answers = futures::future::join_all(
        (0..8).map(|_| intake(&app, &key, "/intake/tickets", body.clone())),
    )
    .await;

    let (mut created, mut tickets) = (0, std::collections::HashSet::new());
    for answer in answers {
        let status = answer.status();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
        created += usize::from(status == StatusCode::CREATED);
        let body = json_of(answer, status).await;
        assert_eq!(body["requester_created"], false);
        tickets.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!((created, tickets.len()), (1, 1), "one ticket, created once");
    assert_eq!(app.event_count().await, events + 1, "one ticket.created");
    assert_eq!(user_count(&app).await, users);
}

#[tokio::test]
async fn chat_messages_become_comments_and_reopen_a_closed_ticket() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "chat").await;
    let mut body = ticket_body(json!({"name": "Eva", "phone": "+5511912345678"}));
    body["external_id"] = json!("conv-1");
    let opened = json_of(
        intake(&app, &key, "/intake/tickets", body).await,
        StatusCode::CREATED,
    )
    .await;
    let ticket: Uuid = opened["id"].as_str().unwrap().parse().unwrap();

    let said = intake(&app, &key, "/intake/messages", json!({"external_id": "conv-1", "from": {"phone": "+5511912345678"}, "body": "Still broken"})).await;
    json_of(said, StatusCode::OK).await;
    json_of(
        app.post(&format!("/tickets/{ticket}/close"), &admin, json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let again = intake(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "conv-1", "body": "It broke again"}),
    )
    .await;
    let again = json_of(again, StatusCode::OK).await;
    let unknown = intake(
        &app,
        &key,
        "/intake/messages",
        json!({"external_id": "conv-404", "body": "hello"}),
    )
    .await;
    problem(unknown, StatusCode::NOT_FOUND).await;

    let types: Vec<String> = stream_events(&app, ticket)
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(
        types,
        [
            "ticket.created",
            "ticket.commented",
            "ticket.closed",
            "ticket.reopened",
            "ticket.commented"
        ]
    );
    let events = stream_events(&app, ticket).await;
    assert_eq!(events[3].2["reason"], "new message");
    assert_eq!(events[4].2["author"]["id"], opened["requester_id"]);
    assert_eq!(events[4].2["author"]["role"], "requester");
    assert_eq!(events[4].2["internal"], false);
    assert_eq!(again["version"], 5);
}

#[tokio::test]
async fn integration_keys_are_shown_once_work_only_on_intake_and_are_revoked_at_once() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let (id, key) = integration(&app, &admin, "web").await;
    assert!(key.starts_with("tdk_") && key.len() == 4 + 43, "{key}");

    let listed = json_of(app.get("/integrations", &admin).await, StatusCode::OK).await;
    assert_eq!(listed["items"][0]["id"], id.to_string());
    assert!(
        listed["items"][0].get("key").is_none(),
        "the key is never shown again"
    );
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM integrations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!stored.contains(&key[4..]), "the key is stored hashed");
    problem(
        app.get("/integrations", &agent).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let as_key = |path: &str| {
        app.client
            .post(app.api(path))
            .bearer_auth(&key)
            .json(&json!({"title": "x", "description": "", "category": "other", "priority": "low"}))
            .send()
    };
    let refused = problem(as_key("/tickets").await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("intake"),
        "{refused}"
    );
    let user_token = app
        .client
        .post(app.api("/intake/tickets"))
        .bearer_auth(&admin.token)
        .json(&ticket_body(json!({"name": "F", "email": "f@example.com"})))
        .send()
        .await
        .unwrap();
    problem(user_token, StatusCode::UNAUTHORIZED).await;

    let deleted = app
        .client
        .delete(app.api(&format!("/integrations/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let revoked = intake(
        &app,
        &key,
        "/intake/tickets",
        ticket_body(json!({"name": "F", "email": "f@example.com"})),
    )
    .await;
    problem(revoked, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn bad_intakes_are_refused_naming_each_field_and_store_nothing() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "web").await;
    let events = app.event_count().await;
    let users = user_count(&app).await;
    let many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (
            ticket_body(json!({"name": "G", "phone": "12"})),
            "requester.phone",
            "a bad phone",
        ),
        (
            ticket_body(json!({"name": "G", "email": "no-at-sign"})),
            "requester.email",
            "a bad email",
        ),
        (
            ticket_body(json!({"name": "G"})),
            "requester",
            "neither email nor phone",
        ),
        (
            ticket_body(json!({"name": "G", "email": "g@example.com", "fax": "1"})),
            "requester.fax",
            "an unknown member",
        ),
        (
            json!({"requester": {"name": "G", "email": "g@example.com"}, "title": "t", "description": "", "metadata": Value::Object(many)}),
            "metadata",
            "21 metadata keys",
        ),
        (
            json!({"requester": {"name": "G", "email": "g@example.com"}, "title": "t", "description": "", "metadata": {"a": {"b": "c"}}}),
            "metadata.a",
            "nested metadata",
        ),
        (
            json!({"requester": {"name": "G", "email": "g@example.com"}, "title": "t", "description": "", "external_id": ""}),
            "external_id",
            "an empty external id",
        ),
        (
            json!({"requester": {"name": "G", "email": "g@example.com"}, "title": "t", "description": "", "category": "nope"}),
            "category",
            "an unknown category",
        ),
        (
            json!({"requester": "G", "title": "t", "description": ""}),
            "requester",
            "a requester that is no object",
        ),
    ];
    for (body, field, case) in cases {
        let refused = problem(
            intake(&app, &key, "/intake/tickets", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            failing_fields(&refused).contains(&field.to_string()),
            "{case}: {refused}"
        );
    }
    let message = problem(
        intake(
            &app,
            &key,
            "/intake/messages",
            json!({"external_id": "x", "body": " "}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&message), ["body"]);
    assert_eq!(app.event_count().await, events, "nothing stored");
    assert_eq!(user_count(&app).await, users, "nobody added");
}

#[tokio::test]
async fn admins_change_users_and_a_deactivated_user_is_refused() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;

    let changed = app
        .patch(
            &format!("/users/{}", requester.id),
            &admin,
            json!({"name": "Rita R", "phone": "+55 21 99876-5432", "email": "Rita@Example.com"}),
        )
        .await;
    let changed = json_of(changed, StatusCode::OK).await;
    assert_eq!(changed["phone"], "+5521998765432");
    assert_eq!(changed["email"], "rita@example.com");
    let taken = app
        .patch(
            &format!("/users/{}", agent.id),
            &admin,
            json!({"email": "rita@example.com"}),
        )
        .await;
    problem(taken, StatusCode::CONFLICT).await;
    let bad = problem(
        app.patch(
            &format!("/users/{}", agent.id),
            &admin,
            json!({"phone": "abc", "active": "no"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&bad), ["active", "phone"]);
    problem(
        app.patch(
            &format!("/users/{}", agent.id),
            &agent,
            json!({"name": "Me"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A requester sees themself only.
    json_of(
        app.get(&format!("/users/{}", requester.id), &requester)
            .await,
        StatusCode::OK,
    )
    .await;
    problem(
        app.get(&format!("/users/{}", agent.id), &requester).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    json_of(
        app.patch(
            &format!("/users/{}", requester.id),
            &admin,
            json!({"active": false}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    problem(app.get("/me", &requester).await, StatusCode::UNAUTHORIZED).await;

    let updates = stream_events(&app, requester.id).await;
    assert_eq!(
        updates.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["user.updated", "user.updated"]
    );
    assert_eq!(
        updates[0].2["changes"]["phone"],
        json!({"from": "", "to": "+5521998765432"})
    );
    assert_eq!(
        updates[1].2["changes"]["active"],
        json!({"from": "true", "to": "false"})
    );
}

#[tokio::test]
async fn a_merged_user_is_found_as_the_other_and_their_tickets_are_listed_there() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "web").await;
    let by_mail = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": "Hal", "email": "hal@example.com"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let by_phone = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": "Hal", "phone": "+5511955554444"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let (keep, dup) = (
        by_mail["requester_id"].as_str().unwrap(),
        by_phone["requester_id"].as_str().unwrap(),
    );
    assert_ne!(keep, dup);

    let merged = app
        .post(
            &format!("/users/{dup}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await;
    assert_eq!(json_of(merged, StatusCode::OK).await["id"], keep);
    problem(
        app.post(
            &format!("/users/{dup}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        app.post(
            &format!("/users/{keep}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let nobody = problem(
        app.post(
            &format!("/users/{keep}/merge"),
            &admin,
            json!({"into": Uuid::now_v7()}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&nobody), ["into"]);
    problem(
        app.post(
            &format!("/users/{}/merge", Uuid::now_v7()),
            &admin,
            json!({"into": keep}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let later = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": "Hal", "phone": "+5511955554444"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        later["requester_id"], keep,
        "the merged user's phone finds the one kept"
    );
    let dup_id: Uuid = dup.parse().unwrap();
    let events = stream_events(&app, dup_id).await;
    assert_eq!(events.last().unwrap().1, "user.merged");
    assert_eq!(events.last().unwrap().2, json!({"into": keep}));
    let gone = json_of(
        app.get(&format!("/users/{dup}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(gone["active"], false);
    assert_eq!(gone["merged_into"], keep);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = json_of(
            app.get(&format!("/tickets?requester_id={keep}"), &admin)
                .await,
            StatusCode::OK,
        )
        .await;
        if list["items"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = json_of(
        app.get(&format!("/users/{keep}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["tickets"]["total"], 3);
}

#[tokio::test]
async fn user_events_are_in_the_feed_and_on_nats_with_a_valid_chain() {
    let stream = TestStream::new(&shared_nats_url());
    let app = spawn_app_with(|s| stream.configure(s)).await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "web").await;
    let opened = json_of(
        intake(
            &app,
            &key,
            "/intake/tickets",
            ticket_body(json!({"name": "Ivy", "email": "ivy@example.com"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ivy: Uuid = opened["requester_id"].as_str().unwrap().parse().unwrap();
    json_of(
        app.patch(
            &format!("/users/{ivy}"),
            &admin,
            json!({"phone": "+5511933332222"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // The feed: both user events, positioned among the ticket's.
    let deadline = Instant::now() + Duration::from_secs(10);
    let feed = loop {
        let page = json_of(
            app.get("/events?type=user.created,user.updated", &admin)
                .await,
            StatusCode::OK,
        )
        .await;
        if page["events"].as_array().unwrap().len() == 2 {
            break page;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let created = &feed["events"][0];
    assert_eq!(created["type"], "user.created");
    assert_eq!(created["subject"], ivy.to_string());
    assert_eq!(created["id"], format!("{ivy}:1"));
    assert_eq!(created["actorrole"], "integration");
    assert_eq!(created["data"]["email"], "ivy@example.com");
    assert_eq!(created["data"]["login"], false);
    assert_eq!(feed["events"][1]["prevhash"], created["hash"]);
    let checked = ticket_projections::verify::verify_stream(&app.pool, ivy)
        .await
        .unwrap()
        .expect("a stream");
    assert!(checked.valid, "{checked:?}");
    assert_eq!(checked.events, 2);

    // NATS: users.v1.<user_id>.<kind> beside tickets.v1.<ticket_id>.<kind>, in the same stream.
    let total = app.event_count().await as u64;
    stream.wait_for(total, Duration::from_secs(10)).await;
    let messages = stream.messages().await;
    let subjects: Vec<&str> = messages.iter().map(|m| m.0.as_str()).collect();
    let prefix = stream.prefix();
    let users = ticket_nats::subject::users_prefix(prefix);
    assert!(
        subjects.contains(&format!("{users}.v1.{ivy}.created").as_str()),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&format!("{users}.v1.{ivy}.updated").as_str()),
        "{subjects:?}"
    );
    let ticket = opened["id"].as_str().unwrap();
    assert!(
        subjects.contains(&format!("{prefix}.v1.{ticket}.created").as_str()),
        "{subjects:?}"
    );
    let on_nats = messages.iter().find(|m| m.1 == format!("{ivy}:1")).unwrap();
    assert_eq!(on_nats.3.hash, created["hash"].as_str().unwrap());
}

#[tokio::test]
async fn stats_count_channels_and_requesters() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let (_, chat) = integration(&app, &admin, "chat").await;
    for (name, email) in [
        ("Jo", "jo@example.com"),
        ("Jo", "jo@example.com"),
        ("Kim", "kim@example.com"),
    ] {
        json_of(
            intake(
                &app,
                &chat,
                "/intake/tickets",
                ticket_body(json!({"name": name, "email": email})),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let web = app
        .create_ticket_with(&agent, json!({"channel": "web"}))
        .await;
    json_of(
        app.post(&format!("/tickets/{web}/close"), &agent, json!({}))
            .await,
        StatusCode::OK,
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = json_of(app.get("/stats", &admin).await, StatusCode::OK).await;
        if stats["tickets"]["total"] == 4 && stats["tickets"]["by_status"]["closed"] == 1 {
            break stats;
        }
        assert!(Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let channels = &stats["channels"];
    for channel in ["web", "email", "chat", "api", "phone"] {
        assert!(
            channels.get(channel).is_some(),
            "{channel} present: {channels}"
        );
    }
    assert_eq!(channels["chat"]["tickets"], 3);
    assert_eq!(channels["chat"]["resolved_pct"], 0.0);
    assert_eq!(channels["web"]["tickets"], 1);
    assert_eq!(channels["web"]["resolved_pct"], 100.0);
    assert!(channels["web"]["resolution_p50_seconds"].is_number());
    assert_eq!(channels["email"]["tickets"], 0);
    assert_eq!(channels["email"]["resolved_pct"], Value::Null);
    let requesters = &stats["requesters"];
    assert_eq!(requesters["unique"], 3);
    assert_eq!(requesters["recurring"], 1);
    assert_eq!(requesters["top"][0]["name"], "Jo");
    assert_eq!(requesters["top"][0]["tickets"], 2);
    assert_eq!(requesters["top"].as_array().unwrap().len(), 3);
}
