//! Next response and recomputation through HTTP (CONTRACT 9): a requester's comment starts a
//! clock the next public staff reply stops, warned and breached once by the engine's real
//! clock with two instances; a policy edit moves an open ticket's due times, and the timer
//! records at the new instants.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::SlaPolicy;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestUser};

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an instant: {value}"))
}

/// The ticket's `sla`, once the view shows every event stored so far.
async fn sla_of(app: &TestApp, user: &TestUser, ticket: Uuid) -> Value {
    let version = app.stored_events(ticket).await.len();
    let response = app
        .get(&format!("/tickets/{ticket}?min_version={version}"), user)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.expect("a ticket");
    view["sla"].clone()
}

/// `(type, target, due_at, recorded at)` of the ticket's SLA events, in order.
async fn sla_events(app: &TestApp, ticket: Uuid) -> Vec<(String, String, Value, DateTime<Utc>)> {
    app.stored_events(ticket)
        .await
        .into_iter()
        .filter(|e| e.1.starts_with("ticket.sla_"))
        .map(|e| {
            (
                e.1.clone(),
                e.2["target"].as_str().unwrap_or_default().to_string(),
                e.2["due_at"].clone(),
                time(&e.3["time"]),
            )
        })
        .collect()
}

/// The `sla` of `ticket` in `GET /tickets`.
async fn listed_sla(app: &TestApp, user: &TestUser, ticket: Uuid) -> Value {
    let page: Value = app
        .get("/tickets?limit=200", user)
        .await
        .json()
        .await
        .expect("a page");
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == ticket.to_string()))
        .map(|i| i["sla"].clone())
        .expect("the ticket listed")
}

async fn comment(app: &TestApp, user: &TestUser, ticket: Uuid, internal: bool) {
    let response = app
        .post(
            &format!("/tickets/{ticket}/comments"),
            user,
            json!({"body": "words", "internal": internal}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn a_requester_comment_is_answered_within_next_response_or_warned_then_breached_once() {
    // Arrange: urgent tickets get 5 s for the next response (warned at 4 s); two instances.
    let app = spawn_app_with(|s| {
        s.sla = SlaPolicy::parse("urgent=3600/7200/5").unwrap();
    })
    .await;
    let second = crate::helpers::spawn_second_instance(&app).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let answered = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    assert_eq!(
        sla_of(&app, &agent, ticket).await["next_response_due"],
        Value::Null
    );
    for t in [ticket, answered] {
        comment(&app, &agent, t, false).await;
        comment(&app, &requester, t, false).await;
    }
    let events = app.stored_events(ticket).await;
    let asked_at = time(&events.last().expect("the comment").3["time"]);
    let sla = sla_of(&app, &agent, ticket).await;
    let due = time(&sla["next_response_due"]);
    assert_eq!(due - asked_at, chrono::TimeDelta::seconds(5));
    assert_eq!(
        listed_sla(&app, &agent, ticket).await["next_response_due"],
        sla["next_response_due"]
    );
    // An internal note is no reply; a public one stops the clock.
    comment(&app, &agent, answered, true).await;
    comment(&app, &agent, answered, false).await;
    let replied = sla_of(&app, &agent, answered).await;

    // Act: past the due time, with both instances looking.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    second.stop().await;

    // Assert: warned, then breached, once each, close to their instants.
    let recorded = sla_events(&app, ticket).await;
    let kinds: Vec<(&str, &str)> = recorded
        .iter()
        .map(|(k, t, _, _)| (k.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ticket.sla_warning", "next_response"),
            ("ticket.sla_breached", "next_response"),
        ]
    );
    assert_eq!(time(&recorded[0].2), due);
    assert_eq!(time(&recorded[1].2), due);
    let warn_at = asked_at + chrono::TimeDelta::seconds(4);
    for (at, instant) in [(recorded[0].3, warn_at), (recorded[1].3, due)] {
        let late = at - instant;
        assert!(
            late >= chrono::TimeDelta::zero() && late < chrono::TimeDelta::milliseconds(1500),
            "recorded {late} after its instant"
        );
    }
    assert!(sla_events(&app, answered).await.is_empty());
    assert_eq!(replied["next_response_due"], Value::Null);
}

async fn put_policy(app: &TestApp, admin: &TestUser, priority: &str, body: Value) {
    let response = app
        .client
        .put(app.api(&format!("/sla-policies/{priority}")))
        .bearer_auth(&admin.token)
        .json(&body)
        .send()
        .await
        .expect("send a request");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_policy_edit_moves_an_open_tickets_due_times_and_the_timer_records_at_the_new_ones() {
    // Arrange: an urgent ticket under a policy of hours.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    put_policy(
        &app,
        &admin,
        "urgent",
        json!({"first_response": "4h", "resolution": "1d", "next_response": "2h"}),
    )
    .await;
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let created = time(&app.stored_events(ticket).await[0].3["time"]);
    let before = sla_of(&app, &agent, ticket).await;
    assert_eq!(
        time(&before["first_response_due"]) - created,
        chrono::TimeDelta::hours(4)
    );

    // Act: the policy now gives one minute to respond, two to resolve.
    put_policy(
        &app,
        &admin,
        "urgent",
        json!({"first_response": "1m", "resolution": "2m"}),
    )
    .await;

    // Assert: the open ticket shows the new due times at once.
    let after = sla_of(&app, &agent, ticket).await;
    let due = time(&after["first_response_due"]);
    assert_eq!(due - created, chrono::TimeDelta::minutes(1));
    assert_eq!(
        time(&after["resolution_due"]) - created,
        chrono::TimeDelta::minutes(2)
    );
    let listed = listed_sla(&app, &agent, ticket).await;
    assert_eq!(listed["first_response_due"], after["first_response_due"]);
    assert_eq!(listed["resolution_due"], after["resolution_due"]);
    // And the engine's real clock records the first response's warning at 48 s and its
    // breach at 60 s, within a second or two of each.
    let wait = (due - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(2500);
    tokio::time::sleep(wait).await;
    let recorded = sla_events(&app, ticket).await;
    let kinds: Vec<(&str, &str)> = recorded
        .iter()
        .map(|(k, t, _, _)| (k.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ticket.sla_warning", "first_response"),
            ("ticket.sla_breached", "first_response"),
        ]
    );
    assert_eq!(time(&recorded[1].2), due);
    let warn_at = created + chrono::TimeDelta::seconds(48);
    for (at, instant) in [(recorded[0].3, warn_at), (recorded[1].3, due)] {
        let late = at - instant;
        assert!(
            late >= chrono::TimeDelta::zero() && late < chrono::TimeDelta::milliseconds(2000),
            "recorded {late} after its instant"
        );
    }
}

/// `sla` of the ticket as it stood at `at`.
async fn sla_as_of(app: &TestApp, user: &TestUser, ticket: Uuid, at: DateTime<Utc>) -> Value {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let response = app
        .get(&format!("/tickets/{ticket}?as_of={at}"), user)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.expect("a ticket");
    view["sla"].clone()
}

#[tokio::test]
async fn a_view_as_of_an_instant_shows_the_next_response_due_then() {
    // Arrange: urgent tickets get an hour for the next response.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let response = crate::sla_policies::put(
        &app,
        &admin,
        "urgent",
        json!({"first_response": "4h", "next_response": "1h", "resolution": "1d"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    comment(&app, &agent, ticket, false).await;
    sla_of(&app, &agent, ticket).await;
    let answered = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Act: the requester writes back (the clock starts), then staff reply (it stops).
    comment(&app, &requester, ticket, false).await;
    let waiting = sla_of(&app, &agent, ticket).await;
    let asked = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    comment(&app, &agent, ticket, false).await;
    let replied = sla_of(&app, &agent, ticket).await;

    // Assert: each instant shows the clock running then, as the live view did.
    assert!(waiting["next_response_due"].is_string(), "{waiting}");
    assert_eq!(sla_as_of(&app, &agent, ticket, asked).await, waiting);
    assert_eq!(
        sla_as_of(&app, &agent, ticket, answered).await["next_response_due"],
        Value::Null
    );
    assert_eq!(replied["next_response_due"], Value::Null);
    assert_eq!(sla_as_of(&app, &agent, ticket, Utc::now()).await, replied);
}
