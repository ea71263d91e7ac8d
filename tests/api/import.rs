//! `POST /users/import` and `ticketd user import` (CONTRACT 11): CSV in, all or nothing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

async fn import(
    app: &TestApp,
    admin: &TestUser,
    query: &str,
    csv: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(app.api(&format!("/users/import{query}")))
        .bearer_auth(&admin.token)
        .header("Content-Type", "text/csv; charset=utf-8")
        .body(csv)
        .send()
        .await
        .expect("send")
}

async fn users(app: &TestApp) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT lower(email), name, role, phone FROM users WHERE origin <> 'cli' ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn user_events(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'user' AND event_type = $1",
    )
    .bind(kind)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_import_creates_and_updates_users_matched_by_email_with_their_events() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let first = "\u{feff}email,name,role,phone\r\nAna@Example.com,\"Souza, Ana\",agent,(11) 98765-4321\r\nrui@example.com,Rui,requester,\r\n";
    let response = import(&app, &admin, "", first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"created": 2, "updated": 0, "errors": []}));

    // Again, with one change and one new user: matched by normalized e-mail.
    let second = "email,name,role\n ANA@example.com ,\"Souza, Ana\",admin\nrui@example.com,Rui,requester\nzoe@example.com,Zoe,auditor\n";
    let body: Value = import(&app, &admin, "", second).await.json().await.unwrap();

    assert_eq!(body, json!({"created": 1, "updated": 1, "errors": []}));
    assert_eq!(
        users(&app).await,
        vec![
            (
                "ana@example.com".into(),
                "Souza, Ana".into(),
                "admin".into(),
                Some("+5511987654321".into())
            ),
            (
                "rui@example.com".into(),
                "Rui".into(),
                "requester".into(),
                None
            ),
            (
                "zoe@example.com".into(),
                "Zoe".into(),
                "auditor".into(),
                None
            ),
        ]
    );
    assert_eq!(user_events(&app, "user.created").await, 3);
    assert_eq!(user_events(&app, "user.updated").await, 1);
    // Imported users are in the directory like any other.
    let listed: Value = app
        .get("/users?role=auditor", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["email"], "zoe@example.com");
}

#[tokio::test]
async fn one_bad_line_applies_nothing_and_every_bad_line_is_reported() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let csv = "email,name,role\n\
               good@example.com,Good,agent\n\
               not-an-email,Bad,agent\n\
               dup@example.com,First,agent\n\
               DUP@example.com,Second,agent\n\
               dup@example.com,Third,agent\n\
               x@example.com,X,boss\n\
               short@example.com,Short\n";

    let body: Value = import(&app, &admin, "", csv).await.json().await.unwrap();

    let lines: Vec<(u64, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (3, "email".into()),
            (5, "email".into()),
            (6, "email".into()),
            (7, "role".into()),
            (8, "line".into()),
        ]
    );
    assert_eq!(
        (body["created"].clone(), body["updated"].clone()),
        (json!(0), json!(0))
    );
    assert!(users(&app).await.is_empty(), "nothing applied");
    assert_eq!(user_events(&app, "user.created").await, 0);
}

#[tokio::test]
async fn a_dry_run_reports_and_applies_nothing() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let csv = "email,name,role\na@example.com,A,agent\nb@example.com,B,agent\n";

    let body: Value = import(&app, &admin, "?dry_run=true", csv)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(body, json!({"created": 2, "updated": 0, "errors": []}));
    assert!(users(&app).await.is_empty());
    let bad = import(&app, &admin, "?dry_run=maybe", csv).await;
    assert_eq!(
        failing_fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["dry_run"]
    );
    let unknown = import(&app, &admin, "?force=1", csv).await;
    assert_eq!(
        failing_fields(&problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["force"]
    );
}

#[tokio::test]
async fn formula_cells_are_stored_as_text() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let csv = "email,name,role\nf@example.com,\"=cmd|' /C calc'!A0\",requester\ng@example.com,@SUM(1+1),requester\n";

    let body: Value = import(&app, &admin, "", csv).await.json().await.unwrap();

    assert_eq!(body["created"], 2, "{body}");
    let names: Vec<String> = users(&app).await.into_iter().map(|u| u.1).collect();
    assert_eq!(names, ["=cmd|' /C calc'!A0", "@SUM(1+1)"]);
}

#[tokio::test]
async fn imports_are_for_admins_in_csv_within_their_limits() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let csv = "email,name,role\na@example.com,A,agent\n";

    problem(import(&app, &agent, "", csv).await, StatusCode::FORBIDDEN).await;
    let json_body = app
        .client
        .post(app.api("/users/import"))
        .bearer_auth(&admin.token)
        .json(&json!({"email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    problem(json_body, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // A million lines: refused at the row limit.
    let mut million = String::with_capacity(7_000_000);
    million.push_str("email,name,role\n");
    for _ in 0..1_000_000 {
        million.push_str("a,b,c\n");
    }
    let many = import(&app, &admin, "", million).await;
    assert_eq!(
        failing_fields(&problem(many, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["body"]
    );
    // One line over the body limit (a 100 MB line stops at the same place).
    let mut huge = String::from("email,name,role\na@example.com,");
    huge.push_str(&"n".repeat(11 * 1024 * 1024));
    huge.push_str(",agent\n");
    let too_large = import(&app, &admin, "", huge).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A long line under the body limit is that line's error.
    let long = format!(
        "email,name,role\na@example.com,{},agent\n",
        "n".repeat(5000)
    );
    let body: Value = import(&app, &admin, "", long).await.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "line");
    assert!(users(&app).await.is_empty());
}

#[tokio::test]
async fn ten_thousand_users_import_within_five_seconds() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let mut csv = String::from("email,name,role\n");
    for i in 0..10_000 {
        csv.push_str(&format!(
            "person{i}@example.com,\"Person {i}, Imported\",requester\n"
        ));
    }

    let started = Instant::now();
    let response = import(&app, &admin, "", csv).await;
    let took = started.elapsed();

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["created"], 10_000, "{body}");
    println!("10,000 users imported in {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(user_events(&app, "user.created").await, 10_000);
}

#[tokio::test]
async fn the_cli_imports_a_file_and_fails_on_a_bad_line() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("ticketd-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.csv");
    std::fs::write(&good, "email,name,role\ncli@example.com,Cli User,agent\n").unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "email,name,role\nother@example.com,Other,agent\nnope,Nope,agent\n",
    )
    .unwrap();

    let ok = app
        .run_ticketd(&["user", "import", good.to_str().unwrap()])
        .await;
    let failed = app
        .run_ticketd(&["user", "import", bad.to_str().unwrap()])
        .await;

    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report, json!({"created": 1, "updated": 0, "errors": []}));
    assert!(!failed.status.success());
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(users(&app).await.len(), 1, "the bad file applied nothing");
    std::fs::remove_dir_all(&dir).ok();
}
