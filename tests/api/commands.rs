//! The write side through HTTP: every command, rule and error of CONTRACT 2.3 and 2.4.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

async fn version(response: reqwest::Response, status: StatusCode) -> i64 {
    assert_eq!(response.status(), status);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", body["version"]));
    body["version"].as_i64().unwrap()
}

async fn closed_ticket(app: &TestApp, requester: &TestUser) -> Uuid {
    let id = app.create_ticket(requester).await;
    let r = app
        .post(&format!("/tickets/{id}/close"), requester, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    id
}

#[tokio::test]
async fn create_answers_201_and_stores_the_contract_event() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    // Act
    let response = app
        .client
        .post(app.api("/tickets"))
        .bearer_auth(&requester.token)
        .header("x-request-id", "req-create-1")
        .json(
            &json!({"title": "  VPN drops  ", "description": "Every hour.",
                       "category": "network", "priority": "urgent", "channel": "email"}),
        )
        .send()
        .await
        .unwrap();
    // Assert
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let body: Value = response.json().await.unwrap();
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 7, "new ticket ids are UUID v7");
    assert_eq!(body["version"], 1);
    assert!(body["number"].as_i64().unwrap() >= 1);
    let events = app.stored_events(id).await;
    assert_eq!(events.len(), 1);
    let (seq, kind, data, meta) = &events[0];
    assert_eq!((*seq, kind.as_str()), (1, "ticket.created"));
    assert_eq!(data["title"], "VPN drops");
    assert_eq!(data["number"], body["number"]);
    assert_eq!(data["priority"], "urgent");
    assert_eq!(data["channel"], "email");
    assert_eq!(
        data["requester"],
        json!({"id": requester.id, "name": requester.name, "email": requester.email})
    );
    let time: chrono::DateTime<chrono::Utc> = meta["time"].as_str().unwrap().parse().unwrap();
    let due: chrono::DateTime<chrono::Utc> = data["sla"]["first_response_due"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((due - time).num_minutes(), 15);
    assert_eq!(meta["correlationid"], "req-create-1");
    assert_eq!(meta["actorid"], requester.id.to_string());
    assert_eq!(meta["actorrole"], "requester");
    assert_eq!(meta["prevhash"], "0".repeat(64));
    assert_eq!(meta["hash"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn every_command_appends_its_event_and_chains_the_hashes() {
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&requester).await;
    let steps: Vec<(&TestUser, &str, Value, &str)> = vec![
        (
            &agent,
            "comments",
            json!({"body": "On it", "internal": false}),
            "ticket.commented",
        ),
        (
            &agent,
            "assign",
            json!({"assignee_id": agent.id}),
            "ticket.assigned",
        ),
        (
            &agent,
            "",
            json!({"priority": "high", "title": "Printer jammed"}),
            "ticket.updated",
        ),
        (
            &requester,
            "close",
            json!({"resolution": "Fixed"}),
            "ticket.closed",
        ),
        (
            &requester,
            "rating",
            json!({"score": 4, "comment": "Quick"}),
            "ticket.rated",
        ),
        (
            &requester,
            "reopen",
            json!({"reason": "Again"}),
            "ticket.reopened",
        ),
    ];
    for (i, (user, path, body, _)) in steps.iter().enumerate() {
        let response = if path.is_empty() {
            app.patch(&format!("/tickets/{id}"), user, body.clone())
                .await
        } else {
            app.post(&format!("/tickets/{id}/{path}"), user, body.clone())
                .await
        };
        assert_eq!(
            version(response, StatusCode::OK).await,
            i as i64 + 2,
            "step {path}"
        );
    }
    let events = app.stored_events(id).await;
    let kinds: Vec<_> = events.iter().map(|e| e.1.as_str()).collect();
    let expected: Vec<_> = std::iter::once("ticket.created")
        .chain(steps.iter().map(|s| s.3))
        .collect();
    assert_eq!(kinds, expected);
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].3["prevhash"], pair[0].3["hash"],
            "chain at {}",
            pair[1].0
        );
    }
    let updated = &events[3].2;
    assert_eq!(
        updated["changes"]["priority"],
        json!({"from": "medium", "to": "high"})
    );
    assert!(updated["sla"]["resolution_due"].is_string());
    assert_eq!(events[2].2["previous_assignee"], Value::Null);
    assert_eq!(events[5].2["assignee"]["id"], agent.id.to_string());
}

#[tokio::test]
async fn state_rules_answer_409_and_store_nothing() {
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let closed = closed_ticket(&app, &requester).await;
    let open = app.create_ticket(&requester).await;
    let cases: Vec<(Uuid, &TestUser, &str, Value)> = vec![
        (closed, &agent, "comments", json!({"body": "hello"})),
        (closed, &agent, "assign", json!({"assignee_id": agent.id})),
        (closed, &agent, "", json!({"title": "new"})),
        (closed, &agent, "close", json!({})),
        (open, &agent, "reopen", json!({})),
        (open, &requester, "rating", json!({"score": 5})),
    ];
    let before = app.event_count().await;
    for (id, user, path, body) in cases {
        let response = if path.is_empty() {
            app.patch(&format!("/tickets/{id}"), user, body).await
        } else {
            app.post(&format!("/tickets/{id}/{path}"), user, body).await
        };
        problem(response, StatusCode::CONFLICT).await;
    }
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn repeating_an_assignment_or_an_unchanged_update_is_a_no_op() {
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&requester).await;
    let assign = json!({"assignee_id": agent.id});
    let first = app
        .post(&format!("/tickets/{id}/assign"), &agent, assign.clone())
        .await;
    assert_eq!(version(first, StatusCode::OK).await, 2);
    let again = app
        .post(&format!("/tickets/{id}/assign"), &agent, assign)
        .await;
    assert_eq!(version(again, StatusCode::OK).await, 2);
    let same = app
        .patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"priority": "medium", "category": "printer"}),
        )
        .await;
    assert_eq!(version(same, StatusCode::OK).await, 2);
    assert_eq!(app.stored_events(id).await.len(), 2);
}

#[tokio::test]
async fn roles_that_may_not_use_a_command_or_field_get_403() {
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let id = app.create_ticket(&requester).await;
    closed_ticket(&app, &requester).await;
    let closed = closed_ticket(&app, &requester).await;
    let cases: Vec<(&TestUser, String, Value)> = vec![
        (
            &auditor,
            "/tickets".into(),
            json!({"title": "t", "description": "", "category": "other", "priority": "low"}),
        ),
        (
            &auditor,
            format!("/tickets/{id}/comments"),
            json!({"body": "hi"}),
        ),
        (
            &requester,
            format!("/tickets/{id}/comments"),
            json!({"body": "hi", "internal": true}),
        ),
        (
            &requester,
            "/tickets".into(),
            json!({"title": "t", "description": "", "category": "other", "priority": "low", "requester_id": agent.id}),
        ),
        (
            &requester,
            format!("/tickets/{id}/assign"),
            json!({"assignee_id": agent.id}),
        ),
        (
            &agent,
            format!("/tickets/{closed}/rating"),
            json!({"score": 3}),
        ),
    ];
    let before = app.event_count().await;
    for (user, path, body) in cases {
        let response = app.post(&path, user, body).await;
        problem(response, StatusCode::FORBIDDEN).await;
    }
    let patch = app
        .patch(&format!("/tickets/{id}"), &requester, json!({"title": "x"}))
        .await;
    problem(patch, StatusCode::FORBIDDEN).await;
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn another_requesters_ticket_is_404_exactly_like_a_missing_one() {
    let app = spawn_app().await;
    let owner = app.user("requester").await;
    let other = app.user("requester").await;
    let id = app.create_ticket(&owner).await;
    let theirs = problem(
        app.post(
            &format!("/tickets/{id}/comments"),
            &other,
            json!({"body": "hi"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let missing = problem(
        app.post(
            &format!("/tickets/{}/comments", Uuid::now_v7()),
            &other,
            json!({"body": "hi"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(theirs, missing);
    for bad in ["not-a-uuid", "1", "%20"] {
        let r = app
            .post(&format!("/tickets/{bad}/close"), &owner, json!({}))
            .await;
        problem(r, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(app.stored_events(id).await.len(), 1);
}

#[tokio::test]
async fn a_422_lists_every_failing_field() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let response = app
        .post(
            "/tickets",
            &agent,
            json!({"title": "   ", "description": 7, "category": "coffee", "priority": "asap",
                   "channel": "fax", "requester_id": "nope", "colour": "red"}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        failing_fields(&body),
        [
            "category",
            "channel",
            "colour",
            "description",
            "priority",
            "requester_id",
            "title"
        ]
    );
    let missing = problem(
        app.post("/tickets", &agent, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        failing_fields(&missing),
        ["category", "description", "priority", "title"]
    );
    let id = app.create_ticket(&agent).await;
    let limits = problem(
        app.post(
            &format!("/tickets/{id}/comments"),
            &agent,
            json!({"body": "x".repeat(20_001)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&limits), ["body"]);
    let stranger = problem(
        app.post(
            &format!("/tickets/{id}/assign"),
            &agent,
            json!({"assignee_id": Uuid::now_v7()}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&stranger), ["assignee_id"]);
    assert_eq!(app.event_count().await, 1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_one_over_64_kib_is_413() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let not_json = app
        .client
        .post(app.api("/tickets"))
        .bearer_auth(&agent.token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    problem(not_json, StatusCode::BAD_REQUEST).await;
    let huge = app
        .post("/tickets", &agent, json!({"title": "t", "description": "x".repeat(70_000), "category": "other", "priority": "low"}))
        .await;
    problem(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn if_match_makes_a_command_conditional() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;
    let send = |v: &str| {
        app.client
            .post(app.api(&format!("/tickets/{id}/comments")))
            .bearer_auth(&agent.token)
            .header("if-match", v.to_string())
            .json(&json!({"body": "hi"}))
            .send()
    };
    assert_eq!(
        version(send("\"1\"").await.unwrap(), StatusCode::OK).await,
        2
    );
    problem(
        send("\"1\"").await.unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    problem(
        send("banana").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(app.stored_events(id).await.len(), 2);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let create = |key: &str, title: &str| {
        app.client
            .post(app.api("/tickets"))
            .bearer_auth(&agent.token)
            .header("idempotency-key", key.to_string())
            .json(
                &json!({"title": title, "description": "", "category": "other", "priority": "low"}),
            )
            .send()
    };
    let first = create("key-1", "Once").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = create("key-1", "Once").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = create("key-1", "Twice").await.unwrap();
    assert_eq!(
        failing_fields(&problem(other, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["Idempotency-Key"]
    );
    assert_eq!(app.event_count().await, 1);
    // Concurrent twins: one applies, all answer alike.
    let id: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    let comment = || {
        app.client
            .post(app.api(&format!("/tickets/{id}/comments")))
            .bearer_auth(&agent.token)
            .header("idempotency-key", "key-2")
            .json(&json!({"body": "only once"}))
            .send()
    };
    let answers = futures::future::join_all((0..5).map(|_| comment())).await;
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), StatusCode::OK);
        assert_eq!(a.json::<Value>().await.unwrap()["version"], 2);
    }
    assert_eq!(app.stored_events(id).await.len(), 2);
}

#[tokio::test]
async fn twenty_concurrent_comments_all_succeed_with_dense_sequences() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;
    let path = format!("/tickets/{id}/comments");
    let sends = (0..20).map(|i| app.post(&path, &agent, json!({"body": format!("c{i}")})));
    for response in futures::future::join_all(sends).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let sequences: Vec<i64> = app.stored_events(id).await.iter().map(|e| e.0).collect();
    assert_eq!(sequences, (1..=21).collect::<Vec<_>>());
}

#[tokio::test]
async fn malformed_bodies_never_yield_a_500_and_store_nothing() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;
    let raw_bodies = [
        "",
        "null",
        "[]",
        "\"text\"",
        "42",
        "true",
        "{",
        "{\"title\":}",
        "{'a':1}",
        "\u{0}",
        "{\"title\": \"\\ud800\"}",
        "[{}]",
        "{\"body\": null}",
        "{\"body\": []}",
        "{\"body\": {}}",
        "{\"body\": 1e999}",
        "{\"score\": 1.5}",
        "{\"score\": \"5\"}",
        "{\"score\": 99999999999999999999}",
        "{\"internal\": \"yes\", \"body\": \"x\"}",
        "{\"assignee_id\": 12}",
        "{\"assignee_id\": \"\"}",
        "{\"priority\": \"URGENT\"}",
        "{\"title\": \"x\", \"title\": 5}",
        "{\"resolution\": false}",
        "{\"reason\": {\"nested\": true}}",
        "{\"comment\": [1,2]}",
        "{\"a\":{\"b\":{\"c\":[[[[[]]]]]}}}",
        "\u{feff}{}",
        "{\"body\": \"x\"} trailing",
    ];
    let paths = [
        "/tickets".to_string(),
        format!("/tickets/{id}/comments"),
        format!("/tickets/{id}/assign"),
        format!("/tickets/{id}/close"),
        format!("/tickets/{id}/rating"),
    ];
    for raw in raw_bodies {
        for path in &paths {
            let response = app
                .client
                .post(app.api(path))
                .bearer_auth(&agent.token)
                .header("content-type", "application/json")
                .body(raw.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert!(
                status.is_client_error()
                    || status == StatusCode::OK && raw.is_empty() && path.ends_with("close"),
                "{path} with {raw:?} answered {status}"
            );
        }
    }
    // An empty body on close is a valid close; everything else stored nothing.
    assert!(app.event_count().await <= 2);
}

#[tokio::test]
async fn a_caller_over_the_configured_rate_gets_429_with_retry_after() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.rate_limit = ticketd::settings::RateLimit {
            per_second: 1,
            burst: 3,
        }
    })
    .await;
    let agent = app.user("agent").await;
    let other = app.user("agent").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get("/auth/me", &agent).await.status());
    }
    assert_eq!(&statuses[..3], [StatusCode::OK; 3]);
    let limited = app.get("/auth/me", &agent).await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    // Another caller has a budget of its own.
    assert_eq!(app.get("/auth/me", &other).await.status(), StatusCode::OK);
}
