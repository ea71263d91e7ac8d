//! `POST /tickets/{id}/assign` with teams (CONTRACT 11): `{team_id}` and/or `{assignee_id}`;
//! an assignee alone never changes the team, a team without an assignee leaves the ticket
//! open with `ticket.assigned.data.assignee: null`.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

async fn team(app: &TestApp, admin: &TestUser, name: &str) -> Value {
    let response = app.post("/teams", admin, json!({"name": name})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn assign(app: &TestApp, agent: &TestUser, ticket: Uuid, body: Value) -> Value {
    let response = app
        .post(&format!("/tickets/{ticket}/assign"), agent, body)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The ticket once the read models have its `version`, and its last event's data.
async fn seen(app: &TestApp, who: &TestUser, ticket: Uuid, version: &Value) -> (Value, Value) {
    let view: Value = app
        .get(&format!("/tickets/{ticket}?min_version={version}"), who)
        .await
        .json()
        .await
        .unwrap();
    let history: Value = app
        .get(
            &format!("/tickets/{ticket}/history?min_version={version}"),
            who,
        )
        .await
        .json()
        .await
        .unwrap();
    let last = history["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    (view, last)
}

#[tokio::test]
async fn a_ticket_goes_to_a_team_then_to_a_member_keeping_the_team() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let desk = team(&app, &admin, "Desk").await;
    let ticket = app.create_ticket(&requester).await;

    let done = assign(&app, &agent, ticket, json!({"team_id": desk["id"]})).await;
    let (view, last) = seen(&app, &admin, ticket, &done["version"]).await;
    assert_eq!(
        view["status"], "open",
        "a team without an assignee stays open"
    );
    assert_eq!(last["type"], "ticket.assigned");
    assert_eq!(last["data"]["assignee"], Value::Null);
    assert_eq!(last["data"]["previous_assignee"], Value::Null);
    assert_eq!(
        last["data"]["team"],
        json!({"id": desk["id"], "name": "Desk"})
    );

    let done = assign(&app, &agent, ticket, json!({"assignee_id": agent.id})).await;
    let (view, last) = seen(&app, &admin, ticket, &done["version"]).await;
    assert_eq!(view["status"], "in_progress");
    assert_eq!(last["data"]["assignee"]["id"], agent.id.to_string());
    assert_eq!(
        last["data"]["team"]["id"], desk["id"],
        "an assignee alone keeps the team"
    );

    let again = app
        .post(
            &format!("/tickets/{ticket}/assign"),
            &agent,
            json!({"assignee_id": agent.id, "team_id": desk["id"]}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        again["version"], done["version"],
        "nothing changed, no event"
    );
}

#[tokio::test]
async fn an_assignment_without_a_team_records_no_team_member() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let ticket = app.create_ticket(&requester).await;
    let done = assign(&app, &agent, ticket, json!({"assignee_id": agent.id})).await;
    let (_, last) = seen(&app, &agent, ticket, &done["version"]).await;
    assert!(last["data"].get("team").is_none(), "{last}");
}

#[tokio::test]
async fn bad_team_assignments_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let ticket = app.create_ticket(&requester).await;
    let path = format!("/tickets/{ticket}/assign");
    for (body, fields) in [
        (json!({"team_id": Uuid::now_v7()}), vec!["team_id"]),
        (json!({"team_id": "desk"}), vec!["team_id"]),
        (json!({}), vec!["assignee_id", "team_id"]),
        (
            json!({"team_id": null, "assignee_id": null}),
            vec!["assignee_id", "team_id"],
        ),
        (
            json!({"team_id": Uuid::now_v7(), "assignee_id": requester.id}),
            vec!["assignee_id", "team_id"],
        ),
    ] {
        let response = app.post(&path, &agent, body.clone()).await;
        let mut failing =
            failing_fields(&problem(response, StatusCode::UNPROCESSABLE_ENTITY).await);
        failing.sort();
        assert_eq!(failing, fields, "{body}");
    }
    assert_eq!(
        app.stored_events(ticket).await.len(),
        1,
        "only ticket.created"
    );
}

#[tokio::test]
async fn the_board_and_the_list_filter_by_team() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let desk = team(&app, &admin, "Desk").await;
    let field = team(&app, &admin, "Field").await;
    let (a, b, c) = (
        app.create_ticket(&requester).await,
        app.create_ticket(&requester).await,
        app.create_ticket(&requester).await,
    );
    assign(&app, &agent, a, json!({"team_id": desk["id"]})).await;
    assign(
        &app,
        &agent,
        b,
        json!({"team_id": field["id"], "assignee_id": agent.id}),
    )
    .await;
    let last = assign(&app, &agent, c, json!({"assignee_id": agent.id})).await;
    seen(&app, &admin, c, &last["version"]).await;

    let board: Value = app
        .get(
            &format!("/board?team_id={}", desk["id"].as_str().unwrap()),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    let columns: Vec<(String, i64, Vec<String>)> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|col| {
            let cards = col["cards"].as_array().unwrap();
            let ids = cards
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect();
            (
                col["status"].as_str().unwrap().to_string(),
                col["count"].as_i64().unwrap(),
                ids,
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("open".to_string(), 1, vec![a.to_string()]),
            ("in_progress".to_string(), 0, vec![]),
            ("pending".to_string(), 0, vec![]),
            ("closed".to_string(), 0, vec![]),
        ]
    );
    let list: Value = app
        .get(
            &format!("/tickets?team_id={}", field["id"].as_str().unwrap()),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.to_string()]);
    let everyone: Value = app.get("/board", &agent).await.json().await.unwrap();
    let total: i64 = everyone["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 3);
    for path in ["/board?team_id=desk", "/tickets?team_id=desk"] {
        let refused = app.get(path, &agent).await;
        assert_eq!(
            failing_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
            ["team_id"]
        );
    }
}
