//! The board grouped by a `select` field (CONTRACT 10): the same columns per option, in the
//! definition's order, then for no value, under every other board filter.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fields::{create, created_id, define, define_all};
use crate::helpers::{failing_fields, problem, spawn_app};
use crate::queries::{assign, close, ids, read};

/// A column as (status, count, card ids).
type Col = (String, i64, Vec<Uuid>);

/// A group as (value, its columns holding tickets).
fn summary(group: &Value) -> (Value, Vec<Col>) {
    let columns = group["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["count"].as_i64().unwrap() > 0)
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["count"].as_i64().unwrap(),
                ids(&c["cards"]),
            )
        })
        .collect();
    (group["value"].clone(), columns)
}

fn groups(board: &Value) -> Vec<(Value, Vec<Col>)> {
    board["group_by"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(summary)
        .collect()
}

fn column(status: &str, count: i64, cards: &[Uuid]) -> Col {
    (status.to_string(), count, cards.to_vec())
}

#[tokio::test]
async fn the_board_groups_by_a_select_field_under_its_other_filters() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    define_all(&app, &admin).await;
    define(
        &app,
        &admin,
        json!({"key": "kind", "label": "Kind", "type": "select", "options": ["question", "bug"]}),
    )
    .await;
    let bug =
        created_id(create(&app, &agent, json!({"sector": "finance", "kind": "bug"})).await).await;
    let plain = created_id(create(&app, &agent, json!({"sector": "finance"})).await).await;
    let mine =
        created_id(create(&app, &agent, json!({"sector": "health", "kind": "bug"})).await).await;
    let closed =
        created_id(create(&app, &agent, json!({"sector": "health", "kind": "bug"})).await).await;
    assign(&app, mine, &agent, &agent).await;
    close(&app, closed, &agent).await;

    // Act
    let plain_board = read(&app, "/board", &agent).await;
    let board = read(&app, "/board?group_by=field.kind", &agent).await;
    let filtered = read(
        &app,
        &format!("/board?group_by=field.kind&assignee_id={}", agent.id),
        &agent,
    )
    .await;
    let by_number = app.get("/board?group_by=field.complexity", &agent).await;
    let by_nothing = app.get("/board?group_by=kind", &agent).await;
    let by_unknown = app.get("/board?group_by=field.nope", &agent).await;

    // Assert
    assert_eq!(
        board["columns"], plain_board["columns"],
        "the usual columns beside"
    );
    assert_eq!(board["group_by"]["by"], "field.kind");
    assert!(plain_board.get("group_by").is_none());
    assert_eq!(
        groups(&board),
        vec![
            (json!("question"), vec![]),
            (
                json!("bug"),
                vec![
                    column("open", 1, &[bug]),
                    column("in_progress", 1, &[mine]),
                    column("closed", 1, &[closed]),
                ]
            ),
            (Value::Null, vec![column("open", 1, &[plain])]),
        ]
    );
    let statuses: Vec<&str> = board["group_by"]["groups"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    let board_statuses: Vec<&str> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses, board_statuses,
        "an empty group keeps every column"
    );
    assert_eq!(
        groups(&filtered),
        vec![
            (json!("question"), vec![]),
            (json!("bug"), vec![column("in_progress", 1, &[mine])]),
            (Value::Null, vec![]),
        ],
        "the assignee filter applies to each group"
    );
    for refused in [by_number, by_nothing, by_unknown] {
        let refused = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&refused), ["group_by"]);
    }
}
