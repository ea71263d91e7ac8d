//! Custom field definitions as events (CONTRACT 4, 10): each field has a stream of its own in
//! the event log (`field.defined`, `field.updated`), hash-chained and in the feed;
//! `field_definitions` is their projection, rebuilt from them; `GET /fields?as_of=` answers
//! with the definitions in force then.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::people::json_of;
use crate::queries::tick;

async fn define(app: &TestApp, admin: &TestUser, body: Value) -> Value {
    json_of(app.post("/fields", admin, body).await, StatusCode::CREATED).await
}

/// The feed's field events, once `count` of them are positioned.
async fn field_feed(app: &TestApp, admin: &TestUser, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = json_of(
            app.get("/events?type=field.defined,field.updated", admin)
                .await,
            StatusCode::OK,
        )
        .await;
        let events = page["events"].as_array().unwrap().clone();
        if events.len() >= count {
            return events;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fields(app: &TestApp, user: &TestUser, query: &str) -> Value {
    json_of(
        app.get(&format!("/fields{query}"), user).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn each_definition_is_an_event_on_the_fields_own_hash_chain() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;

    // Act
    define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Sector", "type": "select",
               "options": ["finance", "health"], "required_for": ["create"]}),
    )
    .await;
    let second = define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Business sector", "type": "select",
               "options": ["finance", "health", "retail"], "visible_to_requester": false}),
    )
    .await;
    let events = field_feed(&app, &admin, 2).await;

    // Assert
    assert_eq!(second["version"], 2);
    let (defined, updated) = (&events[0], &events[1]);
    assert_eq!(defined["type"], "field.defined");
    assert_eq!(updated["type"], "field.updated");
    let field_id: Uuid = defined["subject"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        updated["subject"], defined["subject"],
        "one stream per field"
    );
    assert_eq!(defined["id"], format!("{field_id}:1"));
    assert_eq!(updated["seq"], 2, "the version is the event's seq");
    assert_eq!(defined["prevhash"], "0".repeat(64));
    assert_eq!(updated["prevhash"], defined["hash"]);
    assert_eq!(defined["actorid"], admin.id.to_string());
    assert_eq!(
        defined["data"],
        json!({"key": "sector", "label": "Sector", "type": "select",
               "options": ["finance", "health"], "required_for": ["create"],
               "visible_to_requester": true})
    );
    assert_eq!(updated["data"]["label"], "Business sector");
    assert_eq!(updated["data"]["required_for"], json!([]));
    let checked = ticket_projections::verify::verify_stream(&app.pool, field_id)
        .await
        .unwrap()
        .expect("a stream");
    assert!(checked.valid, "{checked:?}");
    assert_eq!(checked.events, 2);
}

#[tokio::test]
async fn a_rebuild_makes_the_definitions_again_from_their_events() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Sector", "type": "select", "options": ["a", "b"]}),
    )
    .await;
    define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Sector 2", "type": "select", "options": ["a"]}),
    )
    .await;
    define(
        &app,
        &admin,
        json!({"key": "margin", "label": "Margin", "type": "text", "visible_to_requester": false}),
    )
    .await;
    let before = fields(&app, &admin, "").await;
    // The table is a projection: whatever happens to it, the events say what it holds.
    sqlx::query("UPDATE field_definitions SET label = 'damaged'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM field_definitions WHERE key = 'margin'")
        .execute(&app.pool)
        .await
        .unwrap();

    // Act
    let applied = ticketd::field_definitions::rebuild(&app.pool)
        .await
        .unwrap();
    let after = fields(&app, &admin, "").await;

    // Assert
    assert_eq!(applied, 3);
    assert_eq!(after, before);
    assert_eq!(after["items"][1]["label"], "Sector 2");
    assert_eq!(after["items"][1]["version"], 2);
    // Values are still checked against the rebuilt definitions.
    let refused = app
        .post(
            "/tickets",
            &admin,
            json!({"title": "t", "description": "", "category": "printer",
                   "priority": "medium", "fields": {"sector": "b"}}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn fields_as_of_an_instant_are_the_definitions_in_force_then() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Sector", "type": "select", "options": ["a", "b"]}),
    )
    .await;
    tick().await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tick().await;
    define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Sector (hidden)", "type": "select",
               "options": ["a"], "visible_to_requester": false}),
    )
    .await;
    define(
        &app,
        &admin,
        json!({"key": "complexity", "label": "Complexity", "type": "number"}),
    )
    .await;

    // Act
    let then = fields(&app, &admin, &format!("?as_of={between}")).await;
    let now = fields(&app, &admin, "").await;
    let theirs_then = fields(&app, &requester, &format!("?as_of={between}")).await;
    let theirs_now = fields(&app, &requester, "").await;
    let bad = app.get("/fields?as_of=yesterday", &admin).await;

    // Assert
    let keys = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}@{}", i["key"].as_str().unwrap(), i["version"]))
            .collect()
    };
    assert_eq!(keys(&then), ["sector@1"]);
    assert_eq!(then["items"][0]["label"], "Sector");
    assert_eq!(then["items"][0]["options"], json!(["a", "b"]));
    assert_eq!(keys(&now), ["complexity@1", "sector@2"]);
    assert_eq!(keys(&theirs_then), ["sector@1"], "visible then");
    assert_eq!(keys(&theirs_now), ["complexity@1"], "hidden now");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn definitions_recorded_before_they_were_events_are_given_their_streams() {
    // Arrange: rows as the table held them before definitions were events.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    for (version, label, at) in [
        (1, "Sector", "2026-11-01T10:00:00Z"),
        (2, "Business sector", "2026-11-02T10:00:00Z"),
    ] {
        sqlx::query(
            "INSERT INTO field_definitions (key, version, label, type, options,
                 required_on_create, visible_to_requester, recorded_at, recorded_by)
             VALUES ('sector', $1, $2, 'select', '{a,b}', false, true, $3::timestamptz, $4)",
        )
        .bind(version)
        .bind(label)
        .bind(at)
        .bind(admin.id)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let before = fields(&app, &admin, "").await;

    // Act
    let recorded = ticketd::field_definitions::record_unrecorded(&app.pool, "ticketd")
        .await
        .unwrap();
    let again = ticketd::field_definitions::record_unrecorded(&app.pool, "ticketd")
        .await
        .unwrap();
    ticketd::field_definitions::rebuild(&app.pool)
        .await
        .unwrap();
    let events = field_feed(&app, &admin, 2).await;

    // Assert
    assert_eq!((recorded, again), (2, 0));
    assert_eq!(fields(&app, &admin, "").await, before);
    assert_eq!(events[0]["type"], "field.defined");
    assert_eq!(
        events[0]["time"], "2026-11-01T10:00:00.000Z",
        "when it was recorded"
    );
    assert_eq!(events[1]["type"], "field.updated");
    assert_eq!(events[1]["data"]["label"], "Business sector");
    let then = fields(&app, &admin, "?as_of=2026-11-01T12:00:00Z").await;
    assert_eq!(then["items"][0]["label"], "Sector");
    // The next definition continues the stream.
    let third = define(
        &app,
        &admin,
        json!({"key": "sector", "label": "S", "type": "select", "options": ["a"]}),
    )
    .await;
    assert_eq!(third["version"], 3);
    let events = field_feed(&app, &admin, 3).await;
    assert_eq!(events[2]["subject"], events[0]["subject"]);
}
