//! The SLA timer records each missed target once, and nothing for targets met in time.

use std::time::Duration;

use serde_json::json;
use ticketd::domain::SlaPolicy;

use crate::helpers::{spawn_app, spawn_app_with};

fn breaches(events: &[(i64, String, serde_json::Value, serde_json::Value)]) -> Vec<String> {
    let mut targets: Vec<String> = events
        .iter()
        .filter(|e| e.1 == "ticket.sla_breached")
        .map(|e| e.2["target"].as_str().unwrap_or_default().to_string())
        .collect();
    targets.sort();
    targets
}

#[tokio::test]
async fn missed_targets_are_recorded_once_each_and_met_ones_never() {
    // Arrange: urgent tickets are due in 1 s (first response) and 2 s (resolution).
    let app = spawn_app_with(|s| s.sla = SlaPolicy::parse("urgent=1/2").unwrap()).await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let ignored = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let answered = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let closed = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let r = app
        .post(
            &format!("/tickets/{answered}/comments"),
            &agent,
            json!({"body": "Looking"}),
        )
        .await;
    assert!(r.status().is_success());
    let r = app
        .post(&format!("/tickets/{closed}/close"), &requester, json!({}))
        .await;
    assert!(r.status().is_success());

    // Act: let both due times pass, and several sweeps run.
    tokio::time::sleep(Duration::from_millis(3500)).await;

    // Assert
    assert_eq!(
        breaches(&app.stored_events(ignored).await),
        ["first_response", "resolution"]
    );
    assert_eq!(breaches(&app.stored_events(answered).await), ["resolution"]);
    assert!(breaches(&app.stored_events(closed).await).is_empty());
    let ignored_events = app.stored_events(ignored).await;
    let breach = ignored_events
        .iter()
        .find(|e| e.1 == "ticket.sla_breached")
        .unwrap();
    assert_eq!(breach.3["actorrole"], "system");
    assert!(breach.2["due_at"].as_str().unwrap().ends_with('Z'));

    // More sweeps, and a second instance taking turns as leader, record nothing more.
    let second = crate::helpers::spawn_second_instance(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    second.stop().await;
    assert_eq!(breaches(&app.stored_events(ignored).await).len(), 2);
    assert_eq!(breaches(&app.stored_events(answered).await).len(), 1);
}

#[tokio::test]
async fn each_target_is_warned_once_at_eighty_percent_before_its_breach() {
    // Arrange: urgent tickets are due in 3 s (first response) and 6 s (resolution), so warned
    // at 2.4 s and 4.8 s; a second instance sweeps too.
    let app = spawn_app_with(|s| {
        s.sla = SlaPolicy::parse("urgent=3/6").unwrap();
        s.sla_sweep_interval = Duration::from_millis(200);
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
    let r = app
        .post(
            &format!("/tickets/{answered}/comments"),
            &agent,
            json!({"body": "On it"}),
        )
        .await;
    assert!(r.status().is_success());

    // Act: before the first warning, then after every instant.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let early = app.stored_events(ticket).await;
    tokio::time::sleep(Duration::from_millis(6000)).await;
    second.stop().await;

    // Assert
    assert!(early.iter().all(|e| e.1 == "ticket.created"));
    let events = app.stored_events(ticket).await;
    let sla: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.1.starts_with("ticket.sla_"))
        .map(|e| {
            (
                e.1.clone(),
                e.2["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pair = |kind: &str, target: &str| (kind.to_string(), target.to_string());
    assert_eq!(
        sla,
        [
            pair("ticket.sla_warning", "first_response"),
            pair("ticket.sla_breached", "first_response"),
            pair("ticket.sla_warning", "resolution"),
            pair("ticket.sla_breached", "resolution"),
        ]
    );
    let warning = events.iter().find(|e| e.1 == "ticket.sla_warning").unwrap();
    assert_eq!(
        warning.2["due_at"],
        events[0].2["sla"]["first_response_due"]
    );
    assert_eq!(warning.3["actorrole"], "system");
    // The answered ticket is warned and breached for its resolution only.
    let kinds: Vec<(String, String)> = app
        .stored_events(answered)
        .await
        .iter()
        .filter(|e| e.1.starts_with("ticket.sla_"))
        .map(|e| {
            (
                e.1.clone(),
                e.2["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            pair("ticket.sla_warning", "resolution"),
            pair("ticket.sla_breached", "resolution"),
        ]
    );
}

/// Waits until the ticket view holds what the command answered with `response` did, as
/// `reader` sees it.
async fn in_the_view(
    app: &crate::helpers::TestApp,
    reader: &crate::helpers::TestUser,
    ticket: uuid::Uuid,
    response: reqwest::Response,
) {
    assert!(response.status().is_success());
    let version = response.json::<serde_json::Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let r = app
        .get(&format!("/tickets/{ticket}?min_version={version}"), reader)
        .await;
    assert!(r.status().is_success());
}

/// The timer's first look plans every open ticket and no closed one; the next looks read what
/// changed after it, and nothing when nothing did.
#[tokio::test]
async fn the_timers_first_look_plans_the_open_tickets_and_later_looks_what_changed() {
    // Arrange: one open ticket and one closed, both in the ticket view.
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let open = app.create_ticket_with(&requester, json!({})).await;
    let closed = app.create_ticket_with(&requester, json!({})).await;
    let r = app
        .post(&format!("/tickets/{closed}/close"), &requester, json!({}))
        .await;
    in_the_view(&app, &agent, closed, r).await;
    let services = app.state.commands.services().await;
    let mut plan = ticketd::sla_timer::Plan::default();

    // Act and assert: the first look reads the open ticket only.
    assert_eq!(plan.catch_up(&app.pool, &services).await.unwrap(), 1);
    assert!(
        plan.next().is_some(),
        "the open ticket's targets are planned"
    );
    assert_eq!(plan.catch_up(&app.pool, &services).await.unwrap(), 0);

    // A comment on the open ticket: the next look reads it again.
    let r = app
        .post(
            &format!("/tickets/{open}/comments"),
            &agent,
            json!({"body": "Looking"}),
        )
        .await;
    in_the_view(&app, &agent, open, r).await;
    assert_eq!(plan.catch_up(&app.pool, &services).await.unwrap(), 1);
    assert_eq!(plan.catch_up(&app.pool, &services).await.unwrap(), 0);
}
