//! Rules (CONTRACT 8) through HTTP: they act from the event log once per (rule, event), as
//! actor role `automation`, never on events rules caused, and record what they cannot do.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

const WAIT: Duration = Duration::from_secs(15);

pub(crate) async fn create_rule(app: &TestApp, admin: &TestUser, body: Value) -> Value {
    let response = app.post("/rules", admin, body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create a rule");
    response.json().await.expect("a rule")
}

/// Waits until the rule processor has read every event committed so far.
pub(crate) async fn rules_caught_up(app: &TestApp) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (unpositioned, head, checkpoint): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events WHERE position IS NULL),
                    (SELECT max(position) FROM events),
                    (SELECT position FROM relay_checkpoints WHERE name = 'rules')",
        )
        .fetch_one(&app.pool)
        .await
        .expect("read the rule checkpoint");
        if unpositioned == 0 && checkpoint >= head {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rule processor did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The ticket's events once the rule processor caught up: (type, payload, metadata).
pub(crate) async fn settled_events(app: &TestApp, ticket: Uuid) -> Vec<(String, Value, Value)> {
    // Twice: a rule's own commands add events that must be positioned and read too.
    rules_caught_up(app).await;
    rules_caught_up(app).await;
    app.stored_events(ticket)
        .await
        .into_iter()
        .map(|(_, kind, payload, metadata)| (kind, payload, metadata))
        .collect()
}

pub(crate) fn types(events: &[(String, Value, Value)]) -> Vec<&str> {
    events.iter().map(|(kind, _, _)| kind.as_str()).collect()
}

#[tokio::test]
async fn rules_are_for_admins_and_bad_rules_are_refused_naming_the_member() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let valid = json!({"name": "r", "when": {"event_types": ["ticket.created"]},
                       "then": [{"set_priority": "high"}]});
    for role in ["agent", "auditor", "requester"] {
        let user = app.user(role).await;
        problem(app.get("/rules", &user).await, StatusCode::FORBIDDEN).await;
        problem(
            app.post("/rules", &user, valid.clone()).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let cases = [
        (
            json!({"name": "r", "when": {"event_types": ["ticket.nope!"]}, "then": [{"set_priority": "high"}]}),
            "when.event_types",
            "an event type that is not one",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"], "priority": ["whenever"]}, "then": [{"set_priority": "high"}]}),
            "when.priority",
            "an unknown priority",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": [{"set_priority": "asap"}]}),
            "then.0.set_priority",
            "an unknown priority to set",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": [{"assign": requester.id}]}),
            "then.0.assign",
            "a requester to assign",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": [{"assign": Uuid::now_v7()}]}),
            "then.0.assign",
            "an unknown user to assign",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": [{"notify": Uuid::now_v7()}]}),
            "then.0.notify",
            "an unknown channel",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": [{"comment": "{{env.HOME}}"}]}),
            "then.0.comment",
            "a placeholder that is not one",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": []}),
            "then",
            "no action",
        ),
        (
            json!({"name": " ", "when": {"event_types": ["ticket.created"]}, "then": [{"set_priority": "high"}]}),
            "name",
            "a blank name",
        ),
        (
            json!({"name": "r", "when": {"event_types": ["ticket.created"]}, "then": [{"set_priority": "high"}], "extra": 1}),
            "extra",
            "an unknown member",
        ),
    ];
    for (body, field, case) in cases {
        let response = app.post("/rules", &admin, body).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            failing_fields(&problem).iter().any(|f| f == field),
            "{case}: expected {field} in {problem}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM rules")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "only the two default rules are stored");
}

#[tokio::test]
async fn a_new_install_has_the_default_rules_and_they_are_editable() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let rules: Value = app.get("/rules", &admin).await.json().await.unwrap();
    let names: Vec<&str> = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Mail the assignee on assignment",
            "Notify agents of urgent tickets"
        ]
    );
    let id = rules["items"][0]["id"].as_str().unwrap();
    let response = app
        .patch(&format!("/rules/{id}"), &admin, json!({"enabled": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rule: Value = app
        .get(&format!("/rules/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rule["enabled"], json!(false));
    let channels: Value = app
        .get("/notification-channels", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(channels["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_rule_acts_once_as_automation_with_the_events_correlation() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let rule = create_rule(
        &app,
        &admin,
        json!({"name": "Triage printers", "when": {"event_types": ["ticket.created"],
                 "category": ["printer"], "priority": ["high"]},
               "then": [{"assign": agent.id}, {"set_priority": "urgent"},
                        {"comment": "Triage of #{{ticket.number}} ({{ticket.priority}}) for {{actor.name}}"}]}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_string();

    let matching = app
        .create_ticket_with(&requester, json!({"priority": "high"}))
        .await;
    let other = app
        .create_ticket_with(&requester, json!({"priority": "low"}))
        .await;

    let events = settled_events(&app, matching).await;
    assert_eq!(
        types(&events),
        [
            "ticket.created",
            "ticket.assigned",
            "ticket.updated",
            "ticket.commented"
        ]
    );
    let correlation = events[0].2["correlationid"].clone();
    for (kind, _, metadata) in &events[1..] {
        assert_eq!(metadata["actorrole"], "automation", "{kind}");
        assert_eq!(metadata["actorid"], json!(rule_id), "{kind}");
        assert_eq!(metadata["actorname"], "Triage printers", "{kind}");
        assert_eq!(metadata["correlationid"], correlation, "{kind}");
    }
    assert_eq!(events[1].1["assignee"]["id"], json!(agent.id));
    assert_eq!(events[2].1["changes"]["priority"]["to"], "urgent");
    let number = events[0].1["number"].as_i64().unwrap();
    assert_eq!(
        events[3].1["body"],
        // The placeholders hold the ticket as the triggering event left it.
        json!(format!("Triage of #{number} (high) for {}", requester.name))
    );
    assert_eq!(events[3].1["internal"], json!(true));
    assert_eq!(
        types(&settled_events(&app, other).await),
        ["ticket.created"]
    );
}

#[tokio::test]
async fn two_rules_assigning_back_and_forth_act_once_and_stop() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let ana = app.user("agent").await;
    let bruno = app.user("agent").await;
    let requester = app.user("requester").await;
    for (from, to) in [(&ana, &bruno), (&bruno, &ana)] {
        create_rule(
            &app,
            &admin,
            json!({"name": format!("pass to {}", to.name),
                   "when": {"event_types": ["ticket.assigned"], "assignee_id": from.id},
                   "then": [{"assign": to.id}]}),
        )
        .await;
    }
    let ticket = app.create_ticket(&requester).await;
    let response = app
        .post(
            &format!("/tickets/{ticket}/assign"),
            &admin,
            json!({"assignee_id": ana.id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let events = settled_events(&app, ticket).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = settled_events(&app, ticket).await;
    assert_eq!(events.len(), again.len(), "the rules kept acting");
    assert_eq!(
        types(&again),
        ["ticket.created", "ticket.assigned", "ticket.assigned"]
    );
    assert_eq!(again[2].1["assignee"]["id"], json!(bruno.id));
    assert_eq!(again[2].2["actorrole"], "automation");
}

#[tokio::test]
async fn a_rule_naming_a_deactivated_user_records_a_failure_and_others_go_on() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let gone = app.user("agent").await;
    let requester = app.user("requester").await;
    let failing = create_rule(
        &app,
        &admin,
        json!({"name": "to the one who left", "when": {"event_types": ["ticket.created"]},
               "then": [{"assign": gone.id}]}),
    )
    .await;
    create_rule(
        &app,
        &admin,
        json!({"name": "raise", "when": {"event_types": ["ticket.created"]},
               "then": [{"set_priority": "high"}]}),
    )
    .await;
    let response = app
        .patch(
            &format!("/users/{}", gone.id),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "deactivate the agent");

    let ticket = app.create_ticket(&requester).await;
    let events = settled_events(&app, ticket).await;
    assert_eq!(types(&events), ["ticket.created", "ticket.updated"]);

    let id = failing["id"].as_str().unwrap();
    let rule: Value = app
        .get(&format!("/rules/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let failures = rule["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{rule}");
    assert_eq!(failures[0]["event_id"], json!(format!("{ticket}:1")));
    assert_eq!(failures[0]["action"], json!(0));
    assert!(failures[0]["error"]
        .as_str()
        .unwrap()
        .contains(&gone.id.to_string()));
}

#[tokio::test]
async fn a_batch_processed_again_after_a_crash_acts_once() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    create_rule(
        &app,
        &admin,
        json!({"name": "assign and note", "when": {"event_types": ["ticket.created"]},
               "then": [{"assign": agent.id}, {"comment": "noted", "internal": true}]}),
    )
    .await;
    let tickets = [
        app.create_ticket(&requester).await,
        app.create_ticket(&requester).await,
    ];
    for ticket in tickets {
        assert_eq!(settled_events(&app, ticket).await.len(), 3);
    }
    // As if the processor died after its commands committed and before its checkpoint did:
    // the same events are read and acted on again.
    sqlx::query("UPDATE relay_checkpoints SET position = 0 WHERE name = 'rules'")
        .execute(&app.pool)
        .await
        .unwrap();
    let later = app.create_ticket(&requester).await;
    assert_eq!(settled_events(&app, later).await.len(), 3);
    for ticket in tickets {
        assert_eq!(
            types(&settled_events(&app, ticket).await),
            ["ticket.created", "ticket.assigned", "ticket.commented"],
            "a rule acted twice on {ticket}"
        );
    }
}

#[tokio::test]
async fn a_disabled_or_deleted_rule_does_not_act() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let rule = create_rule(
        &app,
        &admin,
        json!({"name": "raise", "enabled": false, "when": {"event_types": ["*"]},
               "then": [{"set_priority": "high"}]}),
    )
    .await;
    let id = rule["id"].as_str().unwrap();
    let ticket = app.create_ticket(&requester).await;
    assert_eq!(
        types(&settled_events(&app, ticket).await),
        ["ticket.created"]
    );
    let response = app
        .client
        .delete(app.api(&format!("/rules/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&format!("/rules/{id}"), &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
