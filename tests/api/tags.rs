//! Tags (CONTRACT 10): set semantics, `ticket.tagged`, the list, board and stats filters,
//! `GET /tags`, history and `as_of`, bad input.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::queries::{close, done, ids, read, tick};

async fn put_tags(app: &TestApp, id: Uuid, by: &TestUser, tags: Value) -> Response {
    app.client
        .put(app.api(&format!("/tickets/{id}/tags")))
        .bearer_auth(&by.token)
        .json(&json!({ "tags": tags }))
        .send()
        .await
        .expect("PUT tags")
}

fn tagged_events(events: &[(i64, String, Value, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(_, t, _, _)| t == "ticket.tagged")
        .map(|(_, _, data, _)| data.clone())
        .collect()
}

#[tokio::test]
async fn putting_tags_records_what_was_added_and_removed_and_the_same_set_records_nothing() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&requester).await;

    // Act
    let first = put_tags(&app, id, &agent, json!(["vip", "printer", "vip"])).await;
    let first_status = first.status();
    let first_body: Value = first.json().await.unwrap();
    let second = put_tags(&app, id, &agent, json!(["printer", "floor-3"])).await;
    let second_version: Value = second.json().await.unwrap();
    let again = put_tags(&app, id, &agent, json!(["floor-3", "printer"])).await;
    let again_status = again.status();
    let again_body: Value = again.json().await.unwrap();

    // Assert
    assert_eq!(first_status, StatusCode::OK);
    assert_eq!(first_body["version"], 2);
    assert_eq!(second_version["version"], 3);
    assert_eq!(again_status, StatusCode::OK, "the same set is a no-op");
    assert_eq!(again_body["version"], 3, "no event for the same set");
    let events = tagged_events(&app.stored_events(id).await);
    assert_eq!(
        events,
        vec![
            json!({"added": ["printer", "vip"], "removed": []}),
            json!({"added": ["floor-3"], "removed": ["vip"]}),
        ]
    );
    let view = read(&app, &format!("/tickets/{id}?min_version=3"), &agent).await;
    assert_eq!(view["tags"], json!(["floor-3", "printer"]));
    let mine = read(&app, &format!("/tickets/{id}"), &requester).await;
    assert_eq!(
        mine["tags"],
        json!(["floor-3", "printer"]),
        "tags are not hidden"
    );
    let history = read(&app, &format!("/tickets/{id}/history"), &agent).await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ticket.created", "ticket.tagged", "ticket.tagged"]);
}

#[tokio::test]
async fn as_of_shows_the_tags_as_they_were() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let id = app.create_ticket(&agent).await;
    done(put_tags(&app, id, &agent, json!(["first"])).await).await;
    tick().await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tick().await;
    done(put_tags(&app, id, &agent, json!(["second"])).await).await;

    // Act
    let then = read(&app, &format!("/tickets/{id}?as_of={between}"), &auditor).await;
    let now = read(&app, &format!("/tickets/{id}?min_version=3"), &auditor).await;

    // Assert
    assert_eq!(then["tags"], json!(["first"]));
    assert_eq!(now["tags"], json!(["second"]));
}

#[tokio::test]
async fn the_list_board_and_stats_filter_by_tag_and_get_tags_counts_tickets() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let mut tickets = Vec::new();
    for _ in 0..4 {
        tickets.push(app.create_ticket(&requester).await);
    }
    done(put_tags(&app, tickets[0], &agent, json!(["vip", "printer"])).await).await;
    done(put_tags(&app, tickets[1], &agent, json!(["vip"])).await).await;
    done(put_tags(&app, tickets[2], &agent, json!(["printer"])).await).await;
    // A tag that no ticket carries any more leaves the counts.
    done(put_tags(&app, tickets[3], &agent, json!(["gone"])).await).await;
    done(put_tags(&app, tickets[3], &agent, json!([])).await).await;
    close(&app, tickets[1], &agent).await;

    // Act
    let vip = read(&app, "/tickets?tag=vip&sort=created_at", &agent).await;
    let both = read(&app, "/tickets?tag=vip,printer", &agent).await;
    let tags = read(&app, "/tags", &agent).await;
    let board = read(&app, "/board?tag=vip", &agent).await;
    let stats = read(&app, "/stats?tag=vip", &agent).await;
    let untagged_mine = read(&app, "/tickets?tag=printer", &requester).await;

    // Assert
    assert_eq!(ids(&vip["items"]), vec![tickets[0], tickets[1]]);
    assert_eq!(vip["items"][0]["tags"], json!(["printer", "vip"]));
    assert_eq!(ids(&both["items"]), vec![tickets[0]]);
    assert_eq!(
        tags,
        json!({"items": [{"tag": "printer", "count": 2}, {"tag": "vip", "count": 2}]})
    );
    let counts: Vec<(String, i64, usize)> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["count"].as_i64().unwrap(),
                c["cards"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("open".to_string(), 1, 1),
            ("in_progress".to_string(), 0, 0),
            ("pending".to_string(), 0, 0),
            ("closed".to_string(), 1, 1)
        ]
    );
    assert_eq!(stats["tickets"]["total"], 2);
    assert_eq!(stats["tickets"]["by_status"]["closed"], 1);
    assert_eq!(stats["tickets"]["by_status"]["open"], 1);
    assert_eq!(
        ids(&untagged_mine["items"]).len(),
        2,
        "a requester filters their own tickets by tag"
    );
}

#[tokio::test]
async fn bad_tags_are_refused_naming_each_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;
    let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!(["ok", "Not-Lower"]), vec!["tags.1"], "upper case"),
        (
            json!(["a b", 7]),
            vec!["tags.0", "tags.1"],
            "a space and a number",
        ),
        (json!(["x".repeat(41)]), vec!["tags.0"], "41 characters"),
        (json!(["../etc"]), vec!["tags.0"], "a path"),
        (json!(["a\u{0}"]), vec!["tags.0"], "U+0000"),
        (json!(too_many), vec!["tags"], "21 tags"),
        (json!("vip"), vec!["tags"], "not an array"),
    ];
    for (tags, fields, case) in cases {
        // Act
        let response = put_tags(&app, id, &agent, tags).await;

        // Assert
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&body), fields, "{case}");
    }
    let missing = app
        .client
        .put(app.api(&format!("/tickets/{id}/tags")))
        .bearer_auth(&agent.token)
        .json(&json!({"labels": ["x"]}))
        .send()
        .await
        .unwrap();
    let body = problem(missing, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["labels", "tags"]);
    let bad_filter = app.get("/tickets?tag=NOPE", &agent).await;
    let body = problem(bad_filter, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["tag"]);
    assert_eq!(app.stored_events(id).await.len(), 1, "nothing stored");
}

#[tokio::test]
async fn only_agents_and_admins_tag_and_a_stranger_gets_not_found() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let stranger = app.user("requester").await;
    let auditor = app.user("auditor").await;
    let admin = app.user("admin").await;
    let id = app.create_ticket(&requester).await;

    // Act
    let own = put_tags(&app, id, &requester, json!(["vip"])).await;
    let other = put_tags(&app, id, &stranger, json!(["vip"])).await;
    let audit = put_tags(&app, id, &auditor, json!(["vip"])).await;
    let unknown = put_tags(&app, Uuid::now_v7(), &admin, json!(["vip"])).await;
    let by_admin = put_tags(&app, id, &admin, json!(["vip"])).await;
    let tags_for_requester = app.get("/tags", &requester).await;

    // Assert
    problem(own, StatusCode::FORBIDDEN).await;
    problem(other, StatusCode::NOT_FOUND).await;
    problem(audit, StatusCode::FORBIDDEN).await;
    problem(unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(by_admin.status(), StatusCode::OK);
    problem(tags_for_requester, StatusCode::FORBIDDEN).await;
    assert_eq!(tagged_events(&app.stored_events(id).await).len(), 1);
}
