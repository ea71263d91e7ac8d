//! Business-hours calendars (CONTRACT 9) through HTTP: admins only, each fault named.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{failing_fields, problem, spawn_app};

fn berlin() -> Value {
    json!({
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "hours": {
            "mon": [["08:00", "12:00"], ["13:00", "18:00"]],
            "fri": [["08:00", "16:00"]],
            "sat": [["20:00", "24:00"]]
        },
        "holidays": ["2026-12-24", "2026-12-25"]
    })
}

#[tokio::test]
async fn an_admin_adds_reads_and_changes_a_calendar_in_a_daylight_saving_zone() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let response = app.post("/calendars", &admin, berlin()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("a calendar");
    assert_eq!(created["time_zone"], "Europe/Berlin");
    assert_eq!(
        created["hours"]["mon"],
        json!([["08:00", "12:00"], ["13:00", "18:00"]])
    );
    assert_eq!(created["holidays"], json!(["2026-12-24", "2026-12-25"]));
    let id = created["id"].as_str().expect("an id").to_string();

    let response = app.get(&format!("/calendars/{id}"), &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value = response.json().await.expect("a calendar");
    assert_eq!(read, created);

    let response = app
        .patch(
            &format!("/calendars/{id}"),
            &admin,
            json!({"time_zone": "America/New_York", "holidays": []}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.expect("a calendar");
    assert_eq!(changed["time_zone"], "America/New_York");
    assert_eq!(changed["holidays"], json!([]));
    assert_eq!(
        changed["hours"], created["hours"],
        "members not given are kept"
    );

    let response = app.get("/calendars", &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.expect("calendars");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn only_admins_manage_calendars() {
    let app = spawn_app().await;
    for role in ["auditor", "agent", "requester"] {
        let user = app.user(role).await;
        problem(app.get("/calendars", &user).await, StatusCode::FORBIDDEN).await;
        problem(
            app.post("/calendars", &user, berlin()).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let admin = app.user("admin").await;
    let missing = "/calendars/01935b8e-0000-7000-8000-000000000000";
    problem(app.get(missing, &admin).await, StatusCode::NOT_FOUND).await;
    problem(
        app.get("/calendars/not-an-id", &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.patch(missing, &admin, json!({"name": "x"})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn bad_calendars_are_refused_naming_every_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let cases = [
        (json!({"time_zone": "Mars/Olympus"}), vec!["time_zone"]),
        (
            json!({"hours": {"mon": [["18:00", "08:00"]]}}),
            vec!["hours.mon[0]"],
        ),
        (
            json!({"hours": {"tue": [["08:00", "12:00"], ["11:00", "13:00"]]}}),
            vec!["hours.tue[1]"],
        ),
        (
            json!({"hours": {"wed": [["24:00", "24:00"]]}}),
            vec!["hours.wed[0]"],
        ),
        (
            json!({"hours": {"thu": [["08:00", "24:01"]]}}),
            vec!["hours.thu[0]"],
        ),
        (
            json!({"hours": {"someday": [["08:00", "09:00"]]}}),
            vec!["hours.someday"],
        ),
        (json!({"hours": {"mon": "08:00-18:00"}}), vec!["hours.mon"]),
        (json!({"hours": {}}), vec!["hours"]),
        (json!({"holidays": ["2026-02-30"]}), vec!["holidays[0]"]),
        (
            json!({"holidays": vec!["2026-12-25"; 10_000]}),
            vec!["holidays"],
        ),
        (json!({"name": "  "}), vec!["name"]),
        (json!({"colour": "blue"}), vec!["colour"]),
    ];
    for (change, fields) in cases {
        let mut body = berlin();
        for (k, v) in change.as_object().expect("an object") {
            body[k] = v.clone();
        }
        let refused = problem(
            app.post("/calendars", &admin, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(failing_fields(&refused), fields, "for {change}");
    }
    let list: Value = app
        .get("/calendars", &admin)
        .await
        .json()
        .await
        .expect("calendars");
    assert_eq!(list["items"], json!([]));

    let created: Value = app
        .post("/calendars", &admin, berlin())
        .await
        .json()
        .await
        .expect("a calendar");
    let id = created["id"].as_str().expect("an id");
    let refused = problem(
        app.patch(
            &format!("/calendars/{id}"),
            &admin,
            json!({"hours": {"mon": [["09:00", "08:00"]]}, "time_zone": ""}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&refused), ["hours.mon[0]", "time_zone"]);
    let read: Value = app
        .get(&format!("/calendars/{id}"), &admin)
        .await
        .json()
        .await
        .expect("a calendar");
    assert_eq!(read, created, "a refused change stores nothing");
}
