//! The ticket view and list (CONTRACT 2.5): every field, who sees what, filters, sorts, keyset
//! pages, read-your-writes waits and point-in-time views. Also the helpers the other query
//! tests share.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

// ---- shared helpers -----------------------------------------------------------------------

/// The position the last event stored so far will have: positions are dense from 1.
pub async fn head(app: &TestApp) -> i64 {
    app.event_count().await
}

/// `path` with `min_position` set to the head, so that the answer reflects every event stored.
pub async fn settled(app: &TestApp, path: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}min_position={}", head(app).await)
}

/// GETs a query once the read models have caught up; asserts 200 and the position header.
pub async fn read(app: &TestApp, path: &str, user: &TestUser) -> Value {
    let response = app.get(&settled(app, path).await, user).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let position: i64 = response.headers()["x-projection-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(position >= head(app).await, "the answer's position");
    response.json().await.unwrap()
}

/// Asserts a command succeeded.
pub async fn done(response: Response) {
    let status = response.status();
    assert!(
        status.is_success(),
        "command failed: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// Comments on a ticket.
pub async fn comment(app: &TestApp, id: Uuid, by: &TestUser, internal: bool) {
    done(
        app.post(
            &format!("/tickets/{id}/comments"),
            by,
            json!({"body": format!("a note by {}", by.name), "internal": internal}),
        )
        .await,
    )
    .await;
}

/// Assigns a ticket.
pub async fn assign(app: &TestApp, id: Uuid, by: &TestUser, to: &TestUser) {
    done(
        app.post(
            &format!("/tickets/{id}/assign"),
            by,
            json!({"assignee_id": to.id}),
        )
        .await,
    )
    .await;
}

/// Closes a ticket.
pub async fn close(app: &TestApp, id: Uuid, by: &TestUser) {
    done(
        app.post(
            &format!("/tickets/{id}/close"),
            by,
            json!({"resolution": "done"}),
        )
        .await,
    )
    .await;
}

/// When the ticket's event `seq` was recorded.
pub async fn event_time(app: &TestApp, id: Uuid, seq: i64) -> DateTime<Utc> {
    let events = app.stored_events(id).await;
    let (_, _, _, meta) = events.iter().find(|(s, ..)| *s == seq).expect("the event");
    meta["time"].as_str().unwrap().parse().unwrap()
}

/// The wire form of a time.
pub fn wire(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The ids of a page's items (or of a column's cards).
pub fn ids(items: &Value) -> Vec<Uuid> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| i["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// A short pause so that two commands get different millisecond timestamps.
pub async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

// ---- the view -----------------------------------------------------------------------------

#[tokio::test]
async fn the_ticket_view_shows_every_field_and_hides_internal_comments_from_the_requester() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app
        .create_ticket_with(
            &requester,
            json!({"title": "VPN drops", "description": "Every hour.", "category": "network",
                   "priority": "high", "channel": "email"}),
        )
        .await;
    comment(&app, id, &agent, false).await;
    comment(&app, id, &agent, true).await;
    assign(&app, id, &agent, &agent).await;
    comment(&app, id, &requester, false).await;
    let events = app.stored_events(id).await;
    let time = |seq: usize| events[seq - 1].3["time"].clone();
    let data = |seq: usize| events[seq - 1].2.clone();
    let comment_json = |seq: usize, who: &TestUser| {
        json!({"id": data(seq)["comment_id"], "author": {"id": who.id, "name": who.name, "role": who.role},
               "body": format!("a note by {}", who.name), "internal": data(seq)["internal"],
               "created_at": time(seq)})
    };
    let mut expected = json!({
        "id": id, "number": data(1)["number"], "title": "VPN drops", "description": "Every hour.",
        "category": "network", "priority": "high", "channel": "email", "status": "in_progress",
        "requester": {"id": requester.id, "name": requester.name},
        "assignee": {"id": agent.id, "name": agent.name},
        "team": null,
        "created_at": time(1), "updated_at": time(5), "first_response_at": time(2),
        "closed_at": null, "resolution": null, "rating": null,
        "sla": {"first_response_due": data(1)["sla"]["first_response_due"],
                "resolution_due": data(1)["sla"]["resolution_due"],
                "first_response_breached": false, "resolution_breached": false,
                "paused_seconds": 0, "next_response_due": null},
        "comments": [comment_json(2, &agent), comment_json(3, &agent), comment_json(5, &requester)],
        "version": 5,
        "metadata": {},
        "tags": [],
        "links": [],
        "merged_into": null,
        "fields": {},
    });

    // Act
    let as_agent = app
        .get(&format!("/tickets/{id}?min_version=5"), &agent)
        .await;
    let as_requester = app
        .get(&format!("/tickets/{id}?min_version=5"), &requester)
        .await;

    // Assert
    assert_eq!(as_agent.status(), StatusCode::OK);
    assert_eq!(as_agent.headers()["etag"], "\"5\"");
    let position: i64 = as_agent.headers()["x-projection-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(position >= 1, "a position is reported");
    assert_eq!(as_agent.json::<Value>().await.unwrap(), expected);
    assert_eq!(as_requester.status(), StatusCode::OK);
    expected["comments"].as_array_mut().unwrap().remove(1);
    assert_eq!(
        as_requester.json::<Value>().await.unwrap(),
        expected,
        "the requester sees no internal comment"
    );
}

#[tokio::test]
async fn the_view_records_closing_and_rating() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    close(&app, id, &requester).await;
    done(
        app.post(
            &format!("/tickets/{id}/rating"),
            &requester,
            json!({"score": 4, "comment": "quick"}),
        )
        .await,
    )
    .await;

    // Act
    let view = read(&app, &format!("/tickets/{id}"), &requester).await;

    // Assert
    let closed_at = wire(event_time(&app, id, 2).await);
    let rated_at = wire(event_time(&app, id, 3).await);
    assert_eq!(view["status"], "closed");
    assert_eq!(view["closed_at"], closed_at.as_str());
    assert_eq!(view["resolution"], "done");
    assert_eq!(
        view["rating"],
        json!({"score": 4, "comment": "quick", "rated_at": rated_at})
    );
    assert_eq!(
        view["first_response_at"],
        Value::Null,
        "no one else commented"
    );
}

#[tokio::test]
async fn a_ticket_the_caller_may_not_read_is_a_404_exactly_like_a_missing_one() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.user("requester").await;
    let stranger = app.user("requester").await;
    let id = app.create_ticket(&owner).await;
    let _ = read(&app, &format!("/tickets/{id}"), &owner).await;

    // Act
    let theirs = app.get(&format!("/tickets/{id}"), &stranger).await;
    let theirs_waiting = app
        .get(&format!("/tickets/{id}?min_version=1"), &stranger)
        .await;
    let missing = app
        .get(&format!("/tickets/{}", Uuid::now_v7()), &stranger)
        .await;
    let missing_waiting = app
        .get(
            &format!("/tickets/{}?min_version=1", Uuid::now_v7()),
            &stranger,
        )
        .await;
    let malformed = app.get("/tickets/not-a-ticket", &stranger).await;

    // Assert
    let reference = problem(missing, StatusCode::NOT_FOUND).await;
    for (response, case) in [
        (theirs, "another requester's ticket"),
        (
            theirs_waiting,
            "another requester's ticket with min_version",
        ),
        (missing_waiting, "a missing ticket with min_version"),
        (malformed, "a malformed id"),
    ] {
        let body = problem(response, StatusCode::NOT_FOUND).await;
        assert_eq!(body, reference, "{case}");
    }
}

#[tokio::test]
async fn a_wait_for_what_never_comes_ends_in_a_503_with_retry_after() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;

    // Act
    let far_version = format!("/tickets/{id}?min_version=99");
    let started = std::time::Instant::now();
    let (version, position) = tokio::join!(
        app.get(&far_version, &agent),
        app.get("/tickets?min_position=1000000", &agent),
    );

    // Assert
    for response in [version, position] {
        assert_eq!(response.headers()["retry-after"], "1");
        problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(4900) && waited < Duration::from_secs(9),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn as_of_shows_the_ticket_as_it_stood_before_and_after_a_change() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app
        .create_ticket_with(&requester, json!({"title": "Old title"}))
        .await;
    tick().await;
    done(
        app.patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"title": "New title"}),
        )
        .await,
    )
    .await;
    tick().await;
    comment(&app, id, &agent, true).await;
    let created = event_time(&app, id, 1).await;
    let renamed = event_time(&app, id, 2).await;
    let at = |t: DateTime<Utc>| format!("/tickets/{id}?as_of={}", wire(t));

    // Act
    let before = read(&app, &at(created), &agent).await;
    let after = read(&app, &at(renamed), &agent).await;
    let too_early = app
        .get(&at(created - chrono::TimeDelta::milliseconds(1)), &agent)
        .await;
    let future = read(
        &app,
        &format!("/tickets/{id}?as_of=2100-01-01T00:00:00Z"),
        &agent,
    )
    .await;
    let live = read(&app, &format!("/tickets/{id}"), &agent).await;
    let future_for_requester = read(
        &app,
        &format!("/tickets/{id}?as_of=2100-01-01T00:00:00Z"),
        &requester,
    )
    .await;
    let invalid = app
        .get(&format!("/tickets/{id}?as_of=yesterday"), &agent)
        .await;

    // Assert
    assert_eq!(
        (&before["title"], &before["version"], &before["updated_at"]),
        (&json!("Old title"), &json!(1), &json!(wire(created)))
    );
    assert_eq!(
        (&after["title"], &after["version"], &after["comments"]),
        (&json!("New title"), &json!(2), &json!([]))
    );
    problem(too_early, StatusCode::NOT_FOUND).await;
    assert_eq!(future, live, "folding every event gives the live view");
    assert_eq!(
        future_for_requester["comments"],
        json!([]),
        "no internal comment in a past view either"
    );
    let invalid = problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&invalid), ["as_of"]);
}

// ---- the list -----------------------------------------------------------------------------

#[tokio::test]
async fn the_list_filters_on_every_field() {
    // Arrange
    let app = spawn_app().await;
    let (r1, r2) = (app.user("requester").await, app.user("requester").await);
    let (a1, a2) = (app.user("agent").await, app.user("agent").await);
    let a = app
        .create_ticket_with(
            &r1,
            json!({"title": "Printer jams", "priority": "low", "category": "printer", "channel": "web"}),
        )
        .await;
    let b = app
        .create_ticket_with(
            &r1,
            json!({"title": "VPN drops", "description": "The tunnel resets.", "priority": "urgent",
                   "category": "network", "channel": "email"}),
        )
        .await;
    let c = app
        .create_ticket_with(
            &r2,
            json!({"title": "Laptop slow", "description": "A PRINTER driver, maybe.",
                   "priority": "high", "category": "hardware", "channel": "api"}),
        )
        .await;
    let d = app
        .create_ticket_with(
            &a1,
            json!({"title": "New hire account 100% ready?", "priority": "medium",
                   "category": "onboarding", "channel": "phone", "requester_id": r2.id}),
        )
        .await;
    assign(&app, b, &a1, &a1).await;
    assign(&app, c, &a1, &a2).await;
    close(&app, c, &a2).await;
    let cases: Vec<(&str, &TestUser, Vec<Uuid>)> = vec![
        ("", &a1, vec![d, c, b, a]),
        ("status=open", &a1, vec![d, a]),
        ("status=in_progress", &a1, vec![b]),
        ("status=open,closed", &a1, vec![d, c, a]),
        ("status=open&status=closed", &a1, vec![d, c, a]),
        ("priority=urgent", &a1, vec![b]),
        ("priority=low,high", &a1, vec![c, a]),
        ("category=printer", &a1, vec![a]),
        ("channel=phone", &a1, vec![d]),
        ("assignee_id=ASSIGNEE", &a1, vec![b]),
        ("requester_id=REQUESTER", &a1, vec![d, c]),
        ("q=printer", &a1, vec![c, a]),
        ("q=TUNNEL", &a1, vec![b]),
        ("q=100%25", &a1, vec![d]),
        ("q=h%25d", &a1, vec![]),
        ("q=_", &a1, vec![]),
        ("status=open&requester_id=REQUESTER", &a1, vec![d]),
        ("", &r1, vec![b, a]),
        ("requester_id=REQUESTER", &r1, vec![]),
        ("q=printer", &r2, vec![c]),
    ];

    for (query, user, expected) in cases {
        // Act
        let query = query
            .replace("ASSIGNEE", &a1.id.to_string())
            .replace("REQUESTER", &r2.id.to_string());
        let page = read(&app, &format!("/tickets?{query}"), user).await;

        // Assert
        assert_eq!(
            ids(&page["items"]),
            expected,
            "GET /tickets?{query} as {}",
            user.role
        );
        assert_eq!(page["next_cursor"], Value::Null);
    }
    let page = read(
        &app,
        "/tickets?assignee_id=ASSIGNEE"
            .replace("ASSIGNEE", &a1.id.to_string())
            .as_str(),
        &a1,
    )
    .await;
    let item = &page["items"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "assignee",
            "category",
            "channel",
            "created_at",
            "id",
            "number",
            "priority",
            "requester",
            "sla",
            "status",
            "tags",
            "team",
            "title",
            "updated_at"
        ]
    );
    assert_eq!(item["assignee"], json!({"id": a1.id, "name": a1.name}));
    assert_eq!(item["requester"], json!({"id": r1.id, "name": r1.name}));
}

/// Whether `a` may come before `b` under `sort`, judged from the items' own fields.
fn in_order(sort: &str, a: &Value, b: &Value) -> bool {
    let rank = |v: &Value| match v["priority"].as_str().unwrap() {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        _ => 4,
    };
    let id = |v: &Value| v["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    let time = |v: &Value, f: &str| v[f].as_str().unwrap().to_string();
    let number = |v: &Value| v["number"].as_i64().unwrap();
    match sort {
        "created_at" => (time(a, "created_at"), id(a)) < (time(b, "created_at"), id(b)),
        "-created_at" => (time(a, "created_at"), id(a)) > (time(b, "created_at"), id(b)),
        "updated_at" => (time(a, "updated_at"), id(a)) < (time(b, "updated_at"), id(b)),
        "-updated_at" => (time(a, "updated_at"), id(a)) > (time(b, "updated_at"), id(b)),
        "priority" => {
            (rank(a), time(a, "created_at"), id(a)) < (rank(b), time(b, "created_at"), id(b))
        }
        "-priority" => {
            (-rank(a), time(a, "created_at"), id(a)) < (-rank(b), time(b, "created_at"), id(b))
        }
        "number" => number(a) < number(b),
        other => panic!("unknown sort {other}"),
    }
}

#[tokio::test]
async fn pages_cover_every_ticket_exactly_once_in_every_sort_order() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let mut created = Vec::new();
    for priority in ["low", "urgent", "medium", "urgent", "high", "low", "medium"] {
        created.push(
            app.create_ticket_with(&agent, json!({"priority": priority}))
                .await,
        );
    }
    // Later activity on older tickets, so that updated_at differs from created_at order.
    tick().await;
    comment(&app, created[1], &agent, false).await;
    tick().await;
    comment(&app, created[4], &agent, false).await;
    let all: HashSet<Uuid> = created.iter().copied().collect();

    // Every order, and every order of a search that matches every ticket (the creation orders
    // of a search are read from `ticket_search`).
    let orders = [
        "-created_at",
        "created_at",
        "updated_at",
        "-updated_at",
        "priority",
        "-priority",
        "number",
    ];
    for sort in orders
        .iter()
        .flat_map(|o| [o.to_string(), format!("{o}&q=floor%203")])
    {
        let sort = sort.as_str();
        // Act
        let full = read(&app, &format!("/tickets?sort={sort}&limit=200"), &agent).await;
        let mut paged = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/tickets?sort={sort}&limit=2"),
                Some(c) => format!("/tickets?sort={sort}&limit=2&cursor={c}"),
            };
            let page = read(&app, &path, &agent).await;
            pages += 1;
            paged.extend(ids(&page["items"]));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }

        // Assert
        let items = full["items"].as_array().unwrap();
        let order = sort.split('&').next().unwrap_or(sort);
        for pair in items.windows(2) {
            assert!(in_order(order, &pair[0], &pair[1]), "{sort}: {pair:?}");
        }
        assert_eq!(paged, ids(&full["items"]), "{sort}: pages follow the order");
        assert_eq!(pages, 4, "{sort}: 7 tickets in pages of 2");
        assert_eq!(
            paged.iter().copied().collect::<HashSet<_>>(),
            all,
            "{sort}: no gap"
        );
        assert_eq!(paged.len(), all.len(), "{sort}: no duplicate");
    }
    let exact = read(&app, "/tickets?limit=7", &agent).await;
    assert_eq!(
        exact["next_cursor"],
        Value::Null,
        "a full last page has no next page"
    );
    let first = read(&app, "/tickets?limit=1", &agent).await;
    assert_eq!(
        ids(&first["items"]),
        [created[6]],
        "newest first by default"
    );
}

#[tokio::test]
async fn invalid_list_parameters_are_each_named_in_a_422() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    for _ in 0..3 {
        app.create_ticket(&agent).await;
    }
    let page = read(&app, "/tickets?sort=number&limit=1", &agent).await;
    let number_cursor = page["next_cursor"].as_str().unwrap().to_string();

    // Act
    let everything_wrong = app
        .get(
            "/tickets?status=bogus&priority=soon&category=toys&channel=fax&assignee_id=nope\
             &requester_id=1&limit=0&sort=up&cursor=zzz&min_position=-1&colour=red",
            &agent,
        )
        .await;
    let foreign_cursor = app
        .get(
            &format!("/tickets?sort=-created_at&cursor={number_cursor}"),
            &agent,
        )
        .await;
    let too_many = app.get("/tickets?limit=201", &agent).await;
    let twice = app.get("/tickets?limit=1&limit=2", &agent).await;
    let same_sort = app
        .get(
            &format!("/tickets?sort=number&limit=1&cursor={number_cursor}"),
            &agent,
        )
        .await;

    // Assert
    let body = problem(everything_wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        failing_fields(&body),
        [
            "assignee_id",
            "category",
            "channel",
            "colour",
            "cursor",
            "limit",
            "min_position",
            "priority",
            "requester_id",
            "sort",
            "status"
        ]
    );
    for (response, field) in [
        (foreign_cursor, "cursor"),
        (too_many, "limit"),
        (twice, "limit"),
    ] {
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&body), [field]);
    }
    assert_eq!(same_sort.status(), StatusCode::OK);
}

#[tokio::test]
async fn rebuilt_read_models_answer_as_the_live_ones_did_and_keep_what_users_read() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let read_one = app.create_ticket(&requester).await;
    let unread_one = app.create_ticket(&requester).await;
    for id in [read_one, unread_one] {
        comment(&app, id, &agent, false).await;
        comment(&app, id, &agent, true).await;
        assign(&app, id, &agent, &agent).await;
    }
    close(&app, read_one, &agent).await;
    let path = settled(&app, &format!("/tickets/{read_one}/read")).await;
    assert_eq!(
        app.post(&path, &requester, json!({})).await.status(),
        StatusCode::NO_CONTENT
    );
    let view = format!("/tickets/{read_one}");
    let (view_before, list_before, me_before) = (
        read(&app, &view, &agent).await,
        read(&app, "/me/tickets", &requester).await,
        read(&app, "/me", &requester).await,
    );

    // Act
    for projection in crate::helpers::read_models() {
        ticket_projections::rebuild::rebuild(&app.pool, projection.as_ref())
            .await
            .expect("rebuild");
    }

    // Assert
    assert_eq!(read(&app, &view, &agent).await, view_before);
    assert_eq!(read(&app, "/me/tickets", &requester).await, list_before);
    assert_eq!(read(&app, "/me", &requester).await, me_before);
    assert_eq!(me_before["unread"], 1, "one ticket read, one not");
}

#[tokio::test]
async fn the_openapi_document_describes_every_query() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc: Value = app.root_json("/openapi.json").await;

    // Assert
    for (path, method) in [
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets", "post"),
        ("/api/v1/tickets/{id}", "get"),
        ("/api/v1/tickets/{id}", "patch"),
        ("/api/v1/tickets/{id}/read", "post"),
        ("/api/v1/board", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/me/tickets", "get"),
        ("/api/v1/stats", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
}

#[tokio::test]
async fn search_follows_a_changed_title_and_description() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app
        .create_ticket_with(
            &agent,
            json!({"title": "Printer jam", "description": "Tray two."}),
        )
        .await;
    comment(&app, id, &agent, false).await;

    // Act
    done(
        app.patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"title": "Scanner offline", "description": "Since the firmware update."}),
        )
        .await,
    )
    .await;

    // Assert
    for (query, expected) in [
        ("q=scanner", vec![id]),
        ("q=firmware", vec![id]),
        ("q=printer", vec![]),
        ("q=tray", vec![]),
    ] {
        let page = read(&app, &format!("/tickets?{query}"), &agent).await;
        let found: Vec<Uuid> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(found, expected, "GET /tickets?{query}");
    }
}

#[tokio::test]
async fn the_configured_categories_are_listed_for_every_signed_in_role_and_nobody_else() {
    // Arrange
    let app = crate::helpers::spawn_app_with(|s| {
        s.categories = vec!["facilities".into(), "payroll".into(), "other".into()];
    })
    .await;
    let mut users = Vec::new();
    for role in ["requester", "agent", "admin", "auditor"] {
        users.push((role, app.user(role).await));
    }

    // Act
    let mut answers = Vec::new();
    for (role, user) in &users {
        answers.push((role, app.get("/categories", user).await));
    }
    let anonymous = app
        .client
        .get(app.api("/categories"))
        .send()
        .await
        .expect("the request is sent");
    let unknown = app.get("/categories?x=1", &users[0].1).await;

    // Assert
    for (role, response) in answers {
        assert_eq!(response.status(), StatusCode::OK, "{role}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"items": ["facilities", "payroll", "other"]}),
            "{role}"
        );
    }
    problem(anonymous, StatusCode::UNAUTHORIZED).await;
    let refused = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&refused), vec!["x".to_string()]);
}

/// Every event changes these columns of a ticket's row. An index on one of them makes each
/// update of the wide row write an entry in every index of `ticket_view` (an update that changes
/// an indexed column is not HOT): they are indexed in the narrow `ticket_recency` instead.
#[tokio::test]
async fn no_index_of_the_ticket_view_covers_a_column_every_event_changes() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let view = index_definitions(&app, "ticket_view").await;
    let recency = index_definitions(&app, "ticket_recency").await;
    // Assert
    assert!(view.len() > 5, "{view:?}");
    for column in ["updated_at", "version", "last_position"] {
        let word = regex::Regex::new(&format!(r"\b{column}\b")).unwrap();
        let covering: Vec<_> = view.iter().filter(|d| word.is_match(d)).collect();
        assert!(covering.is_empty(), "{column} is indexed: {covering:?}");
    }
    assert!(
        recency.iter().any(|d| d.contains("(last_position)")),
        "{recency:?}"
    );
}

/// The definitions of `table`'s indexes.
async fn index_definitions(app: &TestApp, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1",
    )
    .bind(table)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}
