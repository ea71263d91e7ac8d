//! Pending and resume (CONTRACT 9): who may pause a ticket, what resumes it, the timer's
//! `until`, the board's column and `GET /me`, and the SLA standing still meanwhile.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::SlaPolicy;
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, spawn_app_with, TestApp, TestUser};

fn in_secs(secs: i64) -> String {
    (Utc::now() + chrono::TimeDelta::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn command(app: &TestApp, path: String, user: &TestUser, body: Value) -> (StatusCode, Value) {
    let response = app.post(&path, user, body).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn view(app: &TestApp, ticket: Uuid, user: &TestUser, version: i64) -> Value {
    let response = app
        .get(&format!("/tickets/{ticket}?min_version={version}"), user)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a ticket view")
}

fn kinds(events: &[(i64, String, Value, Value)]) -> Vec<&str> {
    events.iter().map(|e| e.1.as_str()).collect()
}

#[tokio::test]
async fn staff_pause_a_ticket_and_resume_it_and_every_view_follows() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;
    let until = in_secs(86_400);

    // Act: pending, with a reason and an until.
    let (status, answer) = command(
        &app,
        format!("/tickets/{ticket}/pending"),
        &agent,
        json!({"reason": "Which printer?", "until": until}),
    )
    .await;

    // Assert: the event, the view, the board's column and the requester's counts.
    assert_eq!(status, 200, "{answer}");
    let version = answer["version"].as_i64().expect("a version");
    let events = app.stored_events(ticket).await;
    assert_eq!(kinds(&events), ["ticket.created", "ticket.pending"]);
    assert_eq!(
        events[1].2,
        json!({"reason": "Which printer?", "until": until})
    );
    let pending = view(&app, ticket, &agent, version).await;
    assert_eq!(pending["status"], "pending");
    assert!(
        pending["sla"]["paused_seconds"].as_i64().is_some(),
        "{pending}"
    );
    let board: Value = app.get("/board", &agent).await.json().await.unwrap();
    let column = board["columns"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["status"] == "pending"))
        .expect("a pending column");
    assert!(column["cards"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == ticket.to_string()));
    let me: Value = app.get("/me", &requester).await.json().await.unwrap();
    assert_eq!(me["requested"]["pending"], 1, "{me}");
    assert_eq!(me["requested"]["open"], 0, "{me}");
    let listed: Value = app
        .get("/tickets?status=pending", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == ticket.to_string()));

    // Act: a second pause is refused; staff resume after a while.
    let (again, _) = command(
        &app,
        format!("/tickets/{ticket}/pending"),
        &agent,
        json!({}),
    )
    .await;
    assert_eq!(again, 409);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, answer) =
        command(&app, format!("/tickets/{ticket}/resume"), &agent, json!({})).await;

    // Assert: resumed by staff, open again, due times moved later by the pause.
    assert_eq!(status, 200, "{answer}");
    let events = app.stored_events(ticket).await;
    let resumed = events.last().expect("events");
    assert_eq!(resumed.1, "ticket.resumed");
    assert_eq!(resumed.2["by"], "staff");
    let before = &events[0].2["sla"]["resolution_due"];
    let after = &resumed.2["sla"]["resolution_due"];
    assert!(after.as_str() > before.as_str(), "{before} → {after}");
    let open = view(&app, ticket, &agent, answer["version"].as_i64().unwrap()).await;
    assert_eq!(open["status"], "open");
    assert_eq!(open["sla"]["resolution_due"], *after);
    assert!(
        open["sla"]["paused_seconds"].as_i64().unwrap() >= 1,
        "{open}"
    );
    let (again, _) = command(&app, format!("/tickets/{ticket}/resume"), &agent, json!({})).await;
    assert_eq!(again, 409);
}

#[tokio::test]
async fn the_requesters_comment_resumes_a_pending_ticket_and_a_staff_comment_does_not() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;
    let (s, _) = command(
        &app,
        format!("/tickets/{ticket}/assign"),
        &agent,
        json!({"assignee_id": agent.id}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = command(
        &app,
        format!("/tickets/{ticket}/pending"),
        &agent,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);

    // Act
    let (s, _) = command(
        &app,
        format!("/tickets/{ticket}/comments"),
        &agent,
        json!({"body": "Any news?"}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, answer) = command(
        &app,
        format!("/tickets/{ticket}/comments"),
        &requester,
        json!({"body": "Here"}),
    )
    .await;

    // Assert: the comment, then `ticket.resumed` by the requester; back in progress.
    assert_eq!(s, 200);
    let events = app.stored_events(ticket).await;
    assert_eq!(
        kinds(&events)[2..],
        [
            "ticket.pending",
            "ticket.commented",
            "ticket.commented",
            "ticket.resumed"
        ]
    );
    assert_eq!(events.last().unwrap().2["by"], "requester");
    assert_eq!(answer["version"], events.len() as i64);
    let v = view(&app, ticket, &requester, events.len() as i64).await;
    assert_eq!(v["status"], "in_progress");
}

#[tokio::test]
async fn the_timer_resumes_at_until_once_even_with_two_instances() {
    // Arrange
    let app = spawn_app_with(|s| s.sla_sweep_interval = Duration::from_millis(200)).await;
    let second = crate::helpers::spawn_second_instance(&app).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;
    let (s, body) = command(
        &app,
        format!("/tickets/{ticket}/pending"),
        &agent,
        json!({"until": in_secs(1)}),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    // Act: let `until` pass and several sweeps of both instances run.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    second.stop().await;

    // Assert: one `ticket.resumed` by the timer, recorded by the engine itself.
    let events = app.stored_events(ticket).await;
    let resumed: Vec<_> = events.iter().filter(|e| e.1 == "ticket.resumed").collect();
    assert_eq!(resumed.len(), 1, "{:?}", kinds(&events));
    assert_eq!(resumed[0].2["by"], "timer");
    assert_eq!(resumed[0].3["actorrole"], "system");
    assert_eq!(resumed[0].3["actorid"], "ticketd");
}

#[tokio::test]
async fn nothing_is_breached_while_pending() {
    // Arrange: urgent tickets are due in 1 s (first response) and 2 s (resolution).
    let app = spawn_app_with(|s| s.sla = SlaPolicy::parse("urgent=1/2").unwrap()).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let (s, answer) = command(
        &app,
        format!("/tickets/{ticket}/pending"),
        &agent,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);

    // Act: both due times pass while pending.
    tokio::time::sleep(Duration::from_millis(3000)).await;

    // Assert: no breach recorded, none shown.
    let events = app.stored_events(ticket).await;
    assert!(
        !kinds(&events).contains(&"ticket.sla_breached"),
        "{:?}",
        kinds(&events)
    );
    let v = view(&app, ticket, &agent, answer["version"].as_i64().unwrap()).await;
    assert_eq!(v["sla"]["first_response_breached"], false, "{v}");
    assert_eq!(v["sla"]["resolution_breached"], false, "{v}");
    assert!(v["sla"]["paused_seconds"].as_i64().unwrap() >= 2, "{v}");
}

#[tokio::test]
async fn bad_pending_requests_are_refused_and_change_nothing() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let ticket = app.create_ticket(&requester).await;
    let path = format!("/tickets/{ticket}/pending");

    // Act and assert: fields out of bounds name themselves.
    for (body, field) in [
        (json!({"until": in_secs(-60)}), "until"),
        (json!({"until": in_secs(10 * 365 * 86_400)}), "until"),
        (json!({"until": "tomorrow"}), "until"),
        (json!({"reason": "x".repeat(5001)}), "reason"),
        (json!({"reason": 5}), "reason"),
        (json!({"later": true}), "later"),
    ] {
        let p = problem(
            app.post(&path, &agent, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(failing_fields(&p), [field], "{body}: {p}");
    }
    let p = problem(
        app.post(
            &format!("/tickets/{ticket}/resume"),
            &agent,
            json!({"now": 1}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&p), ["now"]);
    // Roles: requesters and auditors may not pause or resume.
    problem(
        app.post(&path, &requester, json!({})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.post(&path, &auditor, json!({})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.post(&format!("/tickets/{ticket}/resume"), &requester, json!({}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // State: resuming a ticket that is not pending; pausing a closed one.
    problem(
        app.post(&format!("/tickets/{ticket}/resume"), &agent, json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(kinds(&app.stored_events(ticket).await), ["ticket.created"]);
    let (s, _) = command(&app, format!("/tickets/{ticket}/close"), &agent, json!({})).await;
    assert_eq!(s, 200);
    problem(
        app.post(&path, &agent, json!({})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        kinds(&app.stored_events(ticket).await),
        ["ticket.created", "ticket.closed"]
    );
    // An unknown ticket.
    problem(
        app.post(
            &format!("/tickets/{}/pending", Uuid::now_v7()),
            &agent,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn closing_a_pending_ticket_is_allowed() {
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;
    let (s, _) = command(
        &app,
        format!("/tickets/{ticket}/pending"),
        &agent,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, answer) = command(
        &app,
        format!("/tickets/{ticket}/close"),
        &requester,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let v = view(&app, ticket, &agent, answer["version"].as_i64().unwrap()).await;
    assert_eq!(v["status"], "closed");
}
