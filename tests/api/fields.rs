//! Custom fields (CONTRACT 10): definitions, values on create and PATCH, `ticket.updated`'s
//! `fields.<key>`, requester visibility (view, history, list filter), the list filter,
//! `as_of`, bad input.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::queries::{done, ids, read, tick};

pub(crate) async fn define(app: &TestApp, admin: &TestUser, body: Value) -> Value {
    let response = app.post("/fields", admin, body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "define a field");
    response.json().await.unwrap()
}

/// `sector` (select, required on create), `complexity` (number), `due` (date), `owner` (user),
/// `margin` (text, hidden from requesters).
pub(crate) async fn define_all(app: &TestApp, admin: &TestUser) {
    define(
        app,
        admin,
        json!({"key": "sector", "label": "Sector", "type": "select",
               "options": ["finance", "health"], "required_for": ["create"]}),
    )
    .await;
    define(
        app,
        admin,
        json!({"key": "complexity", "label": "Complexity", "type": "number"}),
    )
    .await;
    define(
        app,
        admin,
        json!({"key": "due", "label": "Due", "type": "date"}),
    )
    .await;
    define(
        app,
        admin,
        json!({"key": "owner", "label": "Owner", "type": "user"}),
    )
    .await;
    define(
        app,
        admin,
        json!({"key": "margin", "label": "Margin", "type": "text", "visible_to_requester": false}),
    )
    .await;
}

pub(crate) async fn create(app: &TestApp, by: &TestUser, fields: Value) -> reqwest::Response {
    app.post(
        "/tickets",
        by,
        json!({"title": "Invoice", "description": "", "category": "printer",
               "priority": "medium", "fields": fields}),
    )
    .await
}

pub(crate) async fn created_id(response: reqwest::Response) -> Uuid {
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn admins_define_fields_and_everyone_lists_what_they_may_see() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;

    // Act
    define_all(&app, &admin).await;
    let relabelled = define(
        &app,
        &admin,
        json!({"key": "complexity", "label": "Effort", "type": "number"}),
    )
    .await;
    let by_agent = app
        .post(
            "/fields",
            &agent,
            json!({"key": "x", "label": "X", "type": "text"}),
        )
        .await;
    let retyped = app
        .post(
            "/fields",
            &admin,
            json!({"key": "due", "label": "Due", "type": "text"}),
        )
        .await;
    let staff_list: Value = app.get("/fields", &agent).await.json().await.unwrap();
    let requester_list: Value = app.get("/fields", &requester).await.json().await.unwrap();

    // Assert
    assert_eq!(relabelled["version"], 2);
    assert_eq!(relabelled["label"], "Effort");
    problem(by_agent, StatusCode::FORBIDDEN).await;
    problem(retyped, StatusCode::CONFLICT).await;
    let keys = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys(&staff_list),
        ["complexity", "due", "margin", "owner", "sector"]
    );
    assert_eq!(
        keys(&requester_list),
        ["complexity", "due", "owner", "sector"]
    );
    let sector = &staff_list["items"][4];
    assert_eq!(sector["options"], json!(["finance", "health"]));
    assert_eq!(sector["required_for"], json!(["create"]));
    assert_eq!(sector["visible_to_requester"], true);
}

#[tokio::test]
async fn bad_definitions_are_refused_naming_each_member() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let cases = [
        (
            json!({"key": "Sector", "label": "S", "type": "text"}),
            vec!["key"],
        ),
        (
            json!({"key": "s", "label": " ", "type": "colour"}),
            vec!["label", "type"],
        ),
        (
            json!({"key": "s", "label": "S", "type": "select"}),
            vec!["options"],
        ),
        (
            json!({"key": "s", "label": "S", "type": "text", "options": ["a"]}),
            vec!["options"],
        ),
        (
            json!({"key": "s", "label": "S", "type": "select", "options": ["a", "a"]}),
            vec!["options.1"],
        ),
        (
            json!({"key": "s", "label": "S", "type": "text", "required_for": ["update"]}),
            vec!["required_for.0"],
        ),
        (
            json!({"key": "s", "label": "S", "type": "text", "colour": 1}),
            vec!["colour"],
        ),
    ];
    for (body, fields) in cases {
        // Act
        let response = app.post("/fields", &admin, body.clone()).await;

        // Assert
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&problem), fields, "{body}");
    }
    let list: Value = app.get("/fields", &admin).await.json().await.unwrap();
    assert_eq!(list["items"], json!([]), "nothing was defined");
}

#[tokio::test]
async fn values_are_set_on_create_and_patch_and_recorded_as_fields_key_changes() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    define_all(&app, &admin).await;

    // Act
    let id = created_id(
        create(
            &app,
            &requester,
            json!({"sector": "finance", "due": "2026-12-24"}),
        )
        .await,
    )
    .await;
    let patched = app
        .patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"fields": {"sector": "health", "complexity": 3, "due": null,
                              "owner": agent.id.to_string(), "margin": "thin"}}),
        )
        .await;
    let patched_body: Value = patched.json().await.unwrap();
    let again = app
        .patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"fields": {"sector": "health"}}),
        )
        .await;
    let again_body: Value = again.json().await.unwrap();

    // Assert
    assert_eq!(patched_body["version"], 2);
    assert_eq!(again_body["version"], 2, "the same value records nothing");
    let events = app.stored_events(id).await;
    assert_eq!(
        events[0].2["fields"],
        json!({"sector": "finance", "due": "2026-12-24"})
    );
    assert_eq!(
        events[1].2["changes"],
        json!({
            "fields.complexity": {"from": null, "to": 3},
            "fields.due": {"from": "2026-12-24", "to": null},
            "fields.margin": {"from": null, "to": "thin"},
            "fields.owner": {"from": null, "to": agent.id.to_string()},
            "fields.sector": {"from": "finance", "to": "health"},
        })
    );
    let view = read(&app, &format!("/tickets/{id}?min_version=2"), &agent).await;
    assert_eq!(
        view["fields"],
        json!({"sector": "health", "complexity": 3, "owner": agent.id.to_string(),
               "margin": "thin"})
    );
    let verified = read(&app, &format!("/tickets/{id}/verify"), &admin).await;
    assert_eq!(verified["valid"], true);
}

#[tokio::test]
async fn bad_values_are_refused_naming_fields_key_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    define_all(&app, &admin).await;
    let id = created_id(create(&app, &agent, json!({"sector": "finance"})).await).await;
    let before = app.event_count().await;
    let cases = [
        (
            json!({"sector": "retail"}),
            vec!["fields.sector"],
            "not an option",
        ),
        (
            json!({"complexity": "1e400"}),
            vec!["fields.complexity"],
            "a string for a number",
        ),
        (
            json!({"colour": "red"}),
            vec!["fields.colour"],
            "an unknown key",
        ),
        (
            json!({"due": "2026-02-30"}),
            vec!["fields.due"],
            "no such date",
        ),
        (
            json!({"due": 20261224}),
            vec!["fields.due"],
            "a number for a date",
        ),
        (
            json!({"owner": Uuid::now_v7().to_string()}),
            vec!["fields.owner"],
            "an unknown user",
        ),
        (
            json!({"margin": "a\u{0}b"}),
            vec!["fields.margin"],
            "U+0000",
        ),
        (
            json!({"sector": ["finance"]}),
            vec!["fields.sector"],
            "an array",
        ),
        (json!(["sector"]), vec!["fields"], "not an object"),
    ];
    for (fields, names, case) in cases {
        // Act
        let patch = app
            .patch(&format!("/tickets/{id}"), &agent, json!({"fields": fields}))
            .await;
        // With the required `sector` given unless the case is about it.
        let with_sector = match fields.as_object() {
            Some(map) if !map.contains_key("sector") => {
                let mut map = map.clone();
                map.insert("sector".into(), json!("finance"));
                Value::Object(map)
            }
            _ => fields.clone(),
        };
        let create = create(&app, &agent, with_sector).await;

        // Assert
        let patch = problem(patch, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&patch), names, "PATCH: {case}");
        let create = problem(create, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&create), names, "create: {case}");
    }
    let missing = create(&app, &agent, json!({})).await;
    let missing = problem(missing, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        failing_fields(&missing),
        ["fields.sector"],
        "required on create"
    );
    assert_eq!(app.event_count().await, before, "nothing was stored");
}

#[tokio::test]
async fn a_hidden_field_is_left_out_of_what_requesters_read() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    define_all(&app, &admin).await;
    let id = created_id(create(&app, &requester, json!({"sector": "finance"})).await).await;
    done(
        app.patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"fields": {"margin": "thin"}}),
        )
        .await,
    )
    .await;
    done(
        app.patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"title": "Invoice 7", "fields": {"margin": "thick", "complexity": 2}}),
        )
        .await,
    )
    .await;

    // Act
    let staff = read(&app, &format!("/tickets/{id}?min_version=3"), &agent).await;
    let theirs = read(&app, &format!("/tickets/{id}?min_version=3"), &requester).await;
    let history = read(&app, &format!("/tickets/{id}/history"), &requester).await;
    let filter = app.get("/tickets?field.margin=thin", &requester).await;

    // Assert
    assert_eq!(staff["fields"]["margin"], "thick");
    assert_eq!(
        theirs["fields"],
        json!({"sector": "finance", "complexity": 2})
    );
    let events = history["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["ticket.created", "ticket.updated"],
        "the update of a hidden field only is left out"
    );
    assert_eq!(
        events[1]["data"]["changes"],
        json!({"title": {"from": "Invoice", "to": "Invoice 7"},
               "fields.complexity": {"from": null, "to": 2}})
    );
    let refused = problem(filter, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&refused), ["field.margin"]);
}

#[tokio::test]
async fn the_list_filters_by_field_value() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    define_all(&app, &admin).await;
    let a = created_id(
        create(
            &app,
            &requester,
            json!({"sector": "finance", "complexity": 2}),
        )
        .await,
    )
    .await;
    let b = created_id(create(&app, &agent, json!({"sector": "finance"})).await).await;
    let c =
        created_id(create(&app, &agent, json!({"sector": "health", "complexity": 2})).await).await;

    // Act
    let finance = read(
        &app,
        "/tickets?field.sector=finance&sort=created_at",
        &agent,
    )
    .await;
    let both = read(
        &app,
        "/tickets?field.sector=finance&field.complexity=2",
        &agent,
    )
    .await;
    let two = read(&app, "/tickets?field.complexity=2&sort=created_at", &agent).await;
    let mine = read(&app, "/tickets?field.sector=finance", &requester).await;
    let unknown = app.get("/tickets?field.colour=red", &agent).await;

    // Assert
    assert_eq!(ids(&finance["items"]), vec![a, b]);
    assert_eq!(ids(&both["items"]), vec![a]);
    assert_eq!(ids(&two["items"]), vec![a, c]);
    assert_eq!(ids(&mine["items"]), vec![a]);
    let refused = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&refused), ["field.colour"]);
}

#[tokio::test]
async fn as_of_shows_the_fields_and_their_visibility_as_they_were() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    define_all(&app, &admin).await;
    let id = created_id(create(&app, &requester, json!({"sector": "finance"})).await).await;
    tick().await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tick().await;
    done(
        app.patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"fields": {"sector": "health"}}),
        )
        .await,
    )
    .await;
    // `sector` is hidden from requesters from now on.
    define(
        &app,
        &admin,
        json!({"key": "sector", "label": "Sector", "type": "select",
               "options": ["finance", "health"], "visible_to_requester": false}),
    )
    .await;

    // Act
    let then = read(&app, &format!("/tickets/{id}?as_of={between}"), &agent).await;
    let now = read(&app, &format!("/tickets/{id}?min_version=2"), &agent).await;
    let theirs_then = read(&app, &format!("/tickets/{id}?as_of={between}"), &requester).await;
    let theirs_now = read(&app, &format!("/tickets/{id}"), &requester).await;

    // Assert
    assert_eq!(then["fields"], json!({"sector": "finance"}));
    assert_eq!(now["fields"], json!({"sector": "health"}));
    assert_eq!(
        theirs_then["fields"],
        json!({"sector": "finance"}),
        "visible then"
    );
    assert_eq!(theirs_now["fields"], json!({}), "hidden now");
}

#[tokio::test]
async fn stats_group_by_a_select_field() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    define_all(&app, &admin).await;
    for sector in ["finance", "finance", "health"] {
        created_id(create(&app, &agent, json!({"sector": sector})).await).await;
    }
    let closed = created_id(create(&app, &agent, json!({"sector": "finance"})).await).await;
    crate::queries::close(&app, closed, &agent).await;

    // Act
    let stats = read(&app, "/stats?group_by=field.sector", &agent).await;
    let by_number = app.get("/stats?group_by=field.complexity", &agent).await;
    let by_nothing = app.get("/stats?group_by=sector", &agent).await;

    // Assert
    let groups = &stats["group_by"];
    assert_eq!(groups["by"], "field.sector");
    let summary: Vec<(Value, i64, i64)> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["value"].clone(),
                g["total"].as_i64().unwrap(),
                g["by_status"]["closed"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!("finance"), 3, 1),
            (json!("health"), 1, 0),
            (Value::Null, 0, 0)
        ]
    );
    for refused in [by_number, by_nothing] {
        let refused = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&refused), ["group_by"]);
    }
}
