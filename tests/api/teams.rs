//! `/teams` (CONTRACT 11): admins create teams and change their members in batches; agents,
//! admins and auditors read them, members in pages; bad input is a 4xx naming the field and
//! changes nothing.

use std::collections::HashSet;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

async fn delete(app: &TestApp, path: &str, user: &TestUser, body: Value) -> reqwest::Response {
    app.client
        .delete(app.api(path))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .expect("send")
}

/// `count` users made straight in the directory, their ids by id.
async fn many_users(app: &TestApp, count: i64) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO users (id, email, name, role, origin)
         SELECT gen_random_uuid(), 'member' || i || '@example.com', 'Member ' || i, 'agent', 'cli'
         FROM generate_series(1, $1) AS i
         RETURNING id",
    )
    .bind(count)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    ids.sort();
    ids
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_team_that_staff_can_read() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;

    let created = app
        .post(
            "/teams",
            &admin,
            json!({"name": "  Field support ", "members": [agent.id, agent.id]}),
        )
        .await;
    let team = json_of(created, StatusCode::CREATED).await;
    assert_eq!(team["name"], "Field support");
    assert_eq!(team["member_count"], 1);
    let id = team["id"].as_str().unwrap().to_string();

    for reader in [&admin, &agent, &auditor] {
        let list = json_of(app.get("/teams", reader).await, StatusCode::OK).await;
        assert_eq!(list["items"], json!([team]));
        let one = json_of(
            app.get(&format!("/teams/{id}"), reader).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(one, team);
    }
    let members = json_of(
        app.get(&format!("/teams/{id}/members"), &agent).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(members["items"][0]["id"], agent.id.to_string());
    assert_eq!(members["items"][0]["role"], "agent");
    assert_eq!(members["next_cursor"], Value::Null);

    let renamed = app
        .patch(&format!("/teams/{id}"), &admin, json!({"name": "Field"}))
        .await;
    assert_eq!(json_of(renamed, StatusCode::OK).await["name"], "Field");
    let left = delete(
        &app,
        &format!("/teams/{id}/members"),
        &admin,
        json!({"members": [agent.id]}),
    )
    .await;
    let left = json_of(left, StatusCode::OK).await;
    assert_eq!(left["changed"], 1);
    assert_eq!(left["team"]["member_count"], 0);
}

#[tokio::test]
async fn only_admins_change_teams_and_requesters_read_none() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let requester = app.user("requester").await;
    let team = json_of(
        app.post("/teams", &admin, json!({"name": "Desk"})).await,
        StatusCode::CREATED,
    )
    .await;
    let id = team["id"].as_str().unwrap();

    for caller in [&agent, &auditor, &requester] {
        let create = app.post("/teams", caller, json!({"name": "Mine"})).await;
        problem(create, StatusCode::FORBIDDEN).await;
        let add = app
            .post(
                &format!("/teams/{id}/members"),
                caller,
                json!({"members": [caller.id]}),
            )
            .await;
        problem(add, StatusCode::FORBIDDEN).await;
        let rename = app
            .patch(&format!("/teams/{id}"), caller, json!({"name": "X"}))
            .await;
        problem(rename, StatusCode::FORBIDDEN).await;
    }
    problem(app.get("/teams", &requester).await, StatusCode::FORBIDDEN).await;
    problem(
        app.get(&format!("/teams/{id}/members"), &requester).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let list = json_of(app.get("/teams", &admin).await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([team]));
}

#[tokio::test]
async fn bad_team_input_is_refused_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let stranger = Uuid::now_v7();

    let unknown = app
        .post(
            "/teams",
            &admin,
            json!({"name": "Desk", "members": [agent.id, stranger]}),
        )
        .await;
    let body = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["members"]);
    assert!(body.to_string().contains(&stranger.to_string()), "{body}");
    for (bad, fields) in [
        (json!({"name": "   "}), vec!["name"]),
        (json!({"name": "x".repeat(201)}), vec!["name"]),
        (json!({"members": []}), vec!["name"]),
        (
            json!({"name": "Desk", "members": ["not a uuid"]}),
            vec!["members"],
        ),
        (json!({"name": "Desk", "members": "x"}), vec!["members"]),
        (json!({"name": "Desk", "colour": "red"}), vec!["colour"]),
        (json!({"name": "De\u{0}sk"}), vec!["name"]),
    ] {
        let response = app.post("/teams", &admin, bad.clone()).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut failing = failing_fields(&body);
        failing.sort();
        assert_eq!(failing, fields, "{bad}");
    }
    let too_many: Vec<String> = (0..1001).map(|_| Uuid::now_v7().to_string()).collect();
    let response = app
        .post(
            "/teams",
            &admin,
            json!({"name": "Desk", "members": too_many}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["members"]);
    let list = json_of(app.get("/teams", &admin).await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([]), "nothing was stored");

    let team = json_of(
        app.post("/teams", &admin, json!({"name": "Desk"})).await,
        StatusCode::CREATED,
    )
    .await;
    let id = team["id"].as_str().unwrap();
    problem(
        app.post("/teams", &admin, json!({"name": "DESK"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    let add = app
        .post(
            &format!("/teams/{id}/members"),
            &admin,
            json!({"members": [agent.id, stranger]}),
        )
        .await;
    assert_eq!(
        failing_fields(&problem(add, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["members"]
    );
    let after = json_of(
        app.get(&format!("/teams/{id}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["member_count"], 0, "all or none");
    for path in [
        format!("/teams/{}", Uuid::now_v7()),
        "/teams/not-a-uuid".to_string(),
        format!("/teams/{}/members", Uuid::now_v7()),
    ] {
        problem(app.get(&path, &admin).await, StatusCode::NOT_FOUND).await;
    }
    let page = app
        .get(
            &format!("/teams/{id}/members?limit=0&cursor=x&other=1"),
            &admin,
        )
        .await;
    let mut failing = failing_fields(&problem(page, StatusCode::UNPROCESSABLE_ENTITY).await);
    failing.sort();
    assert_eq!(failing, ["cursor", "limit", "other"]);
}

#[tokio::test]
async fn a_team_of_ten_thousand_is_filled_in_batches_and_read_in_pages() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let ids = many_users(&app, 10_000).await;
    let team = json_of(
        app.post(
            "/teams",
            &admin,
            json!({"name": "Everyone", "members": ids[..1000]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = team["id"].as_str().unwrap().to_string();

    let started = Instant::now();
    for batch in ids.chunks(1000).skip(1) {
        let added = app
            .post(
                &format!("/teams/{id}/members"),
                &admin,
                json!({"members": batch}),
            )
            .await;
        assert_eq!(json_of(added, StatusCode::OK).await["changed"], 1000);
    }
    let again = app
        .post(
            &format!("/teams/{id}/members"),
            &admin,
            json!({"members": ids[..1000]}),
        )
        .await;
    let again = json_of(again, StatusCode::OK).await;
    assert_eq!(again["changed"], 0, "members named again join once");
    assert_eq!(again["team"]["member_count"], 10_000);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/teams/{id}/members?limit=1000&cursor={c}"),
            None => format!("/teams/{id}/members?limit=1000"),
        };
        let page = json_of(app.get(&path, &admin).await, StatusCode::OK).await;
        for member in page["items"].as_array().unwrap() {
            seen.push(Uuid::parse_str(member["id"].as_str().unwrap()).unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(seen, ids, "every member once, by id");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 10_000);
    let listed = json_of(app.get("/teams", &admin).await, StatusCode::OK).await;
    assert_eq!(listed["items"][0]["member_count"], 10_000);
    assert!(
        elapsed.as_secs() < 20,
        "9 batches and 10 pages took {elapsed:?}"
    );

    // The team's size costs its tickets' reads nothing: the board, list and statistics
    // narrow by the ticket's team, never through its members.
    let requester = app.user("requester").await;
    let ticket = app.create_ticket(&requester).await;
    let assigned = app
        .post(
            &format!("/tickets/{ticket}/assign"),
            &admin,
            json!({"team_id": id}),
        )
        .await;
    assert_eq!(assigned.status(), StatusCode::OK);
    let started = Instant::now();
    let board = crate::queries::read(&app, &format!("/board?team_id={id}"), &admin).await;
    let list = crate::queries::read(&app, &format!("/tickets?team_id={id}"), &admin).await;
    let stats = crate::queries::read(&app, "/stats", &admin).await;
    let elapsed = started.elapsed();
    assert_eq!(board["columns"][0]["count"], 1, "{board}");
    assert_eq!(list["items"][0]["team"]["name"], "Everyone");
    assert_eq!(stats["teams"][0]["open"], 1);
    assert!(elapsed.as_secs() < 5, "the team's reads took {elapsed:?}");
}
