//! Rules and tags (CONTRACT 8, 10, 11) through HTTP: `add_tags` adds as actor `automation`
//! once per (rule, event), records nothing for tags already there, and never answers its own
//! tagging; conditions on the ticket's tags and team.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::rules::{create_rule, settled_events, types};

async fn put_tags(app: &TestApp, id: Uuid, by: &TestUser, tags: Value) -> Response {
    app.client
        .put(app.api(&format!("/tickets/{id}/tags")))
        .bearer_auth(&by.token)
        .json(&json!({ "tags": tags }))
        .send()
        .await
        .expect("PUT tags")
}

#[tokio::test]
async fn add_tags_acts_once_as_automation_and_not_on_its_own_tagging() {
    // Arrange: a rule that tags on `ticket.tagged`, the event it causes itself.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let rule = create_rule(
        &app,
        &admin,
        json!({"name": "VIP care", "when": {"event_types": ["ticket.tagged"], "tags": ["vip", "gold"]},
               "then": [{"add_tags": ["vip-care", "vip"]}]}),
    )
    .await;
    assert_eq!(rule["when"]["tags"], json!(["vip", "gold"]));
    assert_eq!(rule["then"], json!([{"add_tags": ["vip-care", "vip"]}]));
    let ticket = app.create_ticket(&requester).await;

    // Act
    let response = put_tags(&app, ticket, &agent, json!(["vip"])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = settled_events(&app, ticket).await;

    // Assert: the rule added what was missing, as automation, and stopped there.
    assert_eq!(
        types(&events),
        ["ticket.created", "ticket.tagged", "ticket.tagged"]
    );
    let (_, data, metadata) = &events[2];
    assert_eq!(data["added"], json!(["vip-care"]), "vip was there already");
    assert_eq!(data["removed"], json!([]));
    assert_eq!(metadata["actorrole"], "automation");
    assert_eq!(metadata["actorid"], rule["id"]);
    assert_eq!(metadata["correlationid"], events[1].2["correlationid"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        settled_events(&app, ticket).await.len(),
        3,
        "the rule answered its own tagging"
    );

    // Another tagging by staff: the rule answers it, and its tags are all there.
    let response = put_tags(&app, ticket, &agent, json!(["vip", "vip-care", "floor-3"])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        settled_events(&app, ticket).await.len(),
        4,
        "nothing to add"
    );

    // The batch read again, as after a crash before the checkpoint: nothing acts twice.
    sqlx::query("UPDATE relay_checkpoints SET position = 0 WHERE name = 'rules'")
        .execute(&app.pool)
        .await
        .unwrap();
    let later = app.create_ticket(&requester).await;
    settled_events(&app, later).await;
    assert_eq!(settled_events(&app, ticket).await.len(), 4);

    // A ticket without the tags the rule names is left alone.
    let plain = app.create_ticket(&requester).await;
    put_tags(&app, plain, &agent, json!(["printer"])).await;
    assert_eq!(
        types(&settled_events(&app, plain).await),
        ["ticket.created", "ticket.tagged"]
    );
}

#[tokio::test]
async fn a_rule_matches_the_ticket_team() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let mut teams = Vec::new();
    for name in ["Service desk", "Field"] {
        let response = app.post("/teams", &admin, json!({"name": name})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let team: Value = response.json().await.unwrap();
        teams.push(team["id"].as_str().unwrap().to_string());
    }
    create_rule(
        &app,
        &admin,
        json!({"name": "Desk tag", "when": {"event_types": ["ticket.assigned"], "team_id": teams[0]},
               "then": [{"add_tags": ["desk"]}]}),
    )
    .await;
    let [desk, field, nobody] = [
        app.create_ticket(&requester).await,
        app.create_ticket(&requester).await,
        app.create_ticket(&requester).await,
    ];

    for (ticket, body) in [
        (desk, json!({"team_id": teams[0]})),
        (field, json!({"team_id": teams[1]})),
        (nobody, json!({"assignee_id": agent.id})),
    ] {
        let response = app
            .post(&format!("/tickets/{ticket}/assign"), &agent, body)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let events = settled_events(&app, desk).await;
    assert_eq!(
        types(&events),
        ["ticket.created", "ticket.assigned", "ticket.tagged"]
    );
    assert_eq!(events[2].1["added"], json!(["desk"]));
    for other in [field, nobody] {
        assert_eq!(
            types(&settled_events(&app, other).await),
            ["ticket.created", "ticket.assigned"]
        );
    }
}

#[tokio::test]
async fn bad_tag_and_team_members_of_a_rule_are_refused_naming_them() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let cases = [
        (
            json!({"when": {"event_types": ["*"], "tags": ["Not a tag"]}, "then": [{"add_tags": ["ok"]}]}),
            "when.tags",
        ),
        (
            json!({"when": {"event_types": ["*"], "tags": []}, "then": [{"add_tags": ["ok"]}]}),
            "when.tags",
        ),
        (
            json!({"when": {"event_types": ["*"], "team_id": "desk"}, "then": [{"add_tags": ["ok"]}]}),
            "when.team_id",
        ),
        (
            json!({"when": {"event_types": ["*"], "team_id": Uuid::now_v7()}, "then": [{"add_tags": ["ok"]}]}),
            "when.team_id",
        ),
        (
            json!({"when": {"event_types": ["*"]}, "then": [{"add_tags": []}]}),
            "then.0.add_tags",
        ),
        (
            json!({"when": {"event_types": ["*"]}, "then": [{"add_tags": ["UPPER"]}]}),
            "then.0.add_tags",
        ),
        (
            json!({"when": {"event_types": ["*"]}, "then": [{"add_tags": "vip"}]}),
            "then.0.add_tags",
        ),
        (
            json!({"when": {"event_types": ["*"]},
                   "then": [{"add_tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}]}),
            "then.0.add_tags",
        ),
    ];
    for (mut body, field) in cases {
        body["name"] = json!("r");
        let response = app.post("/rules", &admin, body.clone()).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            failing_fields(&problem).iter().any(|f| f == field),
            "{body}: expected {field} in {problem}"
        );
    }
}
