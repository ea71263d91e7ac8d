//! Teams in the ticket's views and in `GET /stats` (CONTRACT 11, 2.5): a ticket shows the team
//! it is given to; every team has its figures, zero included, over the same window as the rest.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::queries::{close, done, event_time, read, tick, wire};

async fn team(app: &TestApp, admin: &TestUser, name: &str) -> Uuid {
    let response = app.post("/teams", admin, json!({"name": name})).await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn give(app: &TestApp, agent: &TestUser, ticket: Uuid, body: Value) {
    done(
        app.post(&format!("/tickets/{ticket}/assign"), agent, body)
            .await,
    )
    .await;
}

async fn rate(app: &TestApp, ticket: Uuid, requester: &TestUser, score: i64) {
    done(
        app.post(
            &format!("/tickets/{ticket}/rating"),
            requester,
            json!({"score": score}),
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_ticket_and_its_list_item_show_the_team_it_is_given_to() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let desk = team(&app, &admin, "Service Desk").await;
    let given = app.create_ticket(&requester).await;
    let other = app.create_ticket(&requester).await;
    give(&app, &agent, given, json!({"team_id": desk})).await;
    give(&app, &agent, given, json!({"assignee_id": agent.id})).await;

    // Act
    let view = read(&app, &format!("/tickets/{given}"), &agent).await;
    let without = read(&app, &format!("/tickets/{other}"), &agent).await;
    let own = read(&app, &format!("/tickets/{given}"), &requester).await;
    let list = read(&app, &format!("/tickets?team_id={desk}"), &agent).await;
    let everything = read(&app, "/tickets", &agent).await;

    // Assert
    let expected = json!({"id": desk, "name": "Service Desk"});
    assert_eq!(view["team"], expected, "an assignee alone keeps the team");
    assert_eq!(view["assignee"]["id"], json!(agent.id));
    assert_eq!(without["team"], Value::Null);
    assert_eq!(own["team"], expected, "the requester sees who works on it");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(given));
    assert_eq!(items[0]["team"], expected);
    let teams: Vec<&Value> = everything["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["team"])
        .collect();
    assert_eq!(teams.len(), 2);
    assert!(teams.contains(&&Value::Null) && teams.contains(&&expected));
}

#[tokio::test]
async fn stats_list_every_team_with_its_open_closed_resolution_and_rating_in_the_window() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let desk = team(&app, &admin, "Desk").await;
    let field = team(&app, &admin, "Field").await;
    let idle = team(&app, &admin, "Archive").await;
    // t1: Desk, closed and rated 5; t2: Desk then Field, open; t3: Desk, closed and rated 2.
    let t1 = app.create_ticket(&requester).await;
    give(
        &app,
        &agent,
        t1,
        json!({"team_id": desk, "assignee_id": agent.id}),
    )
    .await;
    tick().await;
    close(&app, t1, &agent).await;
    rate(&app, t1, &requester, 5).await;
    tick().await;
    let t2 = app.create_ticket(&requester).await;
    give(&app, &agent, t2, json!({"team_id": desk})).await;
    give(&app, &agent, t2, json!({"team_id": field})).await;
    tick().await;
    let t3 = app.create_ticket(&requester).await;
    give(&app, &agent, t3, json!({"team_id": desk})).await;
    close(&app, t3, &agent).await;
    rate(&app, t3, &requester, 2).await;
    let _untouched = app.create_ticket(&requester).await;
    let (t2_created, t3_created) = (event_time(&app, t2, 1).await, event_time(&app, t3, 1).await);
    let resolution = |t: &Value| t["avg_resolution_seconds"].as_f64().unwrap();

    // Act
    let all = read(&app, "/stats", &agent).await;
    let only_t2 = read(
        &app,
        &format!("/stats?from={}&to={}", wire(t2_created), wire(t3_created)),
        &agent,
    )
    .await;

    // Assert
    let teams = all["teams"].as_array().unwrap();
    let names: Vec<&str> = teams.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Archive", "Desk", "Field"], "every team, by name");
    assert_eq!(
        teams[0],
        json!({"id": idle, "name": "Archive", "open": 0, "closed": 0,
               "avg_resolution_seconds": null, "avg_rating": null})
    );
    assert_eq!(teams[1]["id"], json!(desk));
    assert_eq!(
        (
            &teams[1]["open"],
            &teams[1]["closed"],
            &teams[1]["avg_rating"]
        ),
        (&json!(0), &json!(2), &json!(3.5)),
        "t2 went on to Field"
    );
    assert!(resolution(&teams[1]) > 0.0);
    assert_eq!(
        (&teams[2]["id"], &teams[2]["open"], &teams[2]["closed"]),
        (&json!(field), &json!(1), &json!(0))
    );
    let window = only_t2["teams"].as_array().unwrap();
    assert_eq!(window.len(), 3, "every team in a window too");
    let counts: Vec<(i64, i64)> = window
        .iter()
        .map(|t| (t["open"].as_i64().unwrap(), t["closed"].as_i64().unwrap()))
        .collect();
    assert_eq!(counts, [(0, 0), (0, 0), (1, 0)]);
}
