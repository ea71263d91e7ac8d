//! The Kanban board (CONTRACT 2.5): columns, card order, counts, filters, who may see it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::queries::{assign, close, ids, read, tick};

/// The board's columns as (status, count, card ids).
fn columns(board: &Value) -> Vec<(String, i64, Vec<Uuid>)> {
    board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["count"].as_i64().unwrap(),
                ids(&c["cards"]),
            )
        })
        .collect()
}

fn column(status: &str, count: i64, cards: &[Uuid]) -> (String, i64, Vec<Uuid>) {
    (status.to_string(), count, cards.to_vec())
}

struct Fixture {
    app: TestApp,
    requester: TestUser,
    agent: TestUser,
    other_agent: TestUser,
    /// low, urgent, medium, urgent, high, urgent (created in that order).
    tickets: Vec<Uuid>,
}

/// Six tickets: 0 low (closed), 1 urgent, 2 medium (agent), 3 urgent, 4 high (agent),
/// 5 urgent printer (other agent).
async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let other_agent = app.user("agent").await;
    let mut tickets = Vec::new();
    for (priority, category) in [
        ("low", "network"),
        ("urgent", "network"),
        ("medium", "network"),
        ("urgent", "network"),
        ("high", "network"),
        ("urgent", "printer"),
    ] {
        tickets.push(
            app.create_ticket_with(
                &requester,
                json!({"priority": priority, "category": category}),
            )
            .await,
        );
        tick().await;
    }
    assign(&app, tickets[2], &agent, &agent).await;
    assign(&app, tickets[4], &agent, &agent).await;
    assign(&app, tickets[5], &agent, &other_agent).await;
    close(&app, tickets[0], &agent).await;
    Fixture {
        app,
        requester,
        agent,
        other_agent,
        tickets,
    }
}

#[tokio::test]
async fn the_board_has_a_column_per_status_with_cards_urgent_first_then_oldest_first() {
    // Arrange
    let Fixture {
        app,
        agent,
        tickets: t,
        requester,
        ..
    } = fixture().await;

    // Act
    let board = read(&app, "/board", &agent).await;
    let short = read(&app, "/board?limit_per_column=1", &agent).await;

    // Assert
    assert_eq!(
        columns(&board),
        [
            column("open", 2, &[t[1], t[3]]),
            column("in_progress", 3, &[t[5], t[4], t[2]]),
            column("pending", 0, &[]),
            column("closed", 1, &[t[0]]),
        ]
    );
    assert_eq!(
        columns(&short),
        [
            column("open", 2, &[t[1]]),
            column("in_progress", 3, &[t[5]]),
            column("pending", 0, &[]),
            column("closed", 1, &[t[0]]),
        ],
        "counts are whole columns, cards are capped"
    );
    let card = &board["columns"][1]["cards"][1];
    let created = app.stored_events(t[4]).await;
    let data = &created[0].2;
    assert_eq!(
        card,
        &json!({
            "id": t[4], "number": data["number"], "title": data["title"], "priority": "high",
            "category": "network", "channel": "api",
            "requester": {"id": requester.id, "name": requester.name},
            "assignee": {"id": agent.id, "name": agent.name}, "created_at": created[0].3["time"],
            "sla": {"resolution_due": data["sla"]["resolution_due"], "resolution_breached": false},
        })
    );
}

#[tokio::test]
async fn the_board_filters_by_assignee_and_category() {
    // Arrange
    let Fixture {
        app,
        agent,
        other_agent,
        tickets: t,
        ..
    } = fixture().await;
    let auditor = app.user("auditor").await;

    // Act
    let mine = read(&app, &format!("/board?assignee_id={}", agent.id), &agent).await;
    let printers = read(&app, "/board?category=printer", &auditor).await;
    let theirs_in_printers = read(
        &app,
        &format!("/board?category=printer&assignee_id={}", other_agent.id),
        &agent,
    )
    .await;
    let nobody = read(
        &app,
        &format!("/board?assignee_id={}", Uuid::now_v7()),
        &agent,
    )
    .await;

    // Assert
    assert_eq!(
        columns(&mine),
        [
            column("open", 0, &[]),
            column("in_progress", 2, &[t[4], t[2]]),
            column("pending", 0, &[]),
            column("closed", 0, &[]),
        ]
    );
    let only_t5 = [
        column("open", 0, &[]),
        column("in_progress", 1, &[t[5]]),
        column("pending", 0, &[]),
        column("closed", 0, &[]),
    ];
    assert_eq!(columns(&printers), only_t5);
    assert_eq!(columns(&theirs_in_printers), only_t5);
    assert_eq!(
        columns(&nobody),
        [
            column("open", 0, &[]),
            column("in_progress", 0, &[]),
            column("pending", 0, &[]),
            column("closed", 0, &[]),
        ]
    );
}

#[tokio::test]
async fn requesters_may_not_see_the_board_and_bad_parameters_are_named() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;

    // Act
    let forbidden = app.get("/board", &requester).await;
    let invalid = app
        .get(
            "/board?limit_per_column=501&assignee_id=x&category=toys&status=open",
            &agent,
        )
        .await;
    let zero = app.get("/board?limit_per_column=0", &agent).await;

    // Assert
    problem(forbidden, StatusCode::FORBIDDEN).await;
    let body = problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        failing_fields(&body),
        ["assignee_id", "category", "limit_per_column", "status"]
    );
    let body = problem(zero, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["limit_per_column"]);
}

#[tokio::test]
async fn board_and_stats_answers_carry_an_etag_and_answer_304_until_something_changes() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    app.create_ticket(&requester).await;
    for path in ["/board", "/stats"] {
        let first = app
            .get(&crate::queries::settled(&app, path).await, &agent)
            .await;
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let etag = first.headers()["etag"].clone();
        let position = first.headers()["x-projection-position"].clone();
        let body: Value = first.json().await.unwrap();

        // Act: another caller of the same scope holds the same answer.
        let again = app
            .client
            .get(app.api(path))
            .bearer_auth(&auditor.token)
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();
        // A requester is refused whatever another caller was answered.
        let refused = app.get(path, &requester).await;
        let id = app.create_ticket(&requester).await;
        let changed = app
            .client
            .get(app.api(&crate::queries::settled(&app, path).await))
            .bearer_auth(&agent.token)
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();

        // Assert
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"], etag);
        assert_eq!(again.headers()["x-projection-position"], position);
        assert!(again.bytes().await.unwrap().is_empty());
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(changed.status(), StatusCode::OK, "{path} after {id}");
        assert_ne!(changed.headers()["etag"], etag);
        let newer: Value = changed.json().await.unwrap();
        assert_ne!(newer, body);
    }
}
