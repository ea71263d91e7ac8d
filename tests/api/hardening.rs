//! CONTRACT 2.4 against what careless clients and attackers send: authorization before any
//! precondition, malformed requests answered 400/404/415/422 as problem documents, U+0000
//! refused wherever text comes in, and no input on any route answering 500.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};

/// What an answer is made of, request ids aside: status, content type and body bytes.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: StatusCode,
    content_type: String,
    etag: Option<String>,
    body: String,
}

async fn seen(response: reqwest::Response) -> Seen {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (content_type, etag) = (header("content-type").unwrap_or_default(), header("etag"));
    Seen {
        status: response.status(),
        content_type,
        etag,
        body: response.text().await.expect("a body"),
    }
}

/// A request's variation: what a caller adds to a plain command.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Plain,
    IfMatchCurrent,
    IfMatchStale,
    IfMatchMalformed,
    IdempotencyKey,
    IdempotencyKeyTooLong,
    BodyOfTheWrongShape,
    BodyEmpty,
    BodyNotJson,
    BodyAsText,
    BodyHoldingNul,
    BodyTooLarge,
}

const VARIANTS: [Variant; 12] = [
    Variant::Plain,
    Variant::IfMatchCurrent,
    Variant::IfMatchStale,
    Variant::IfMatchMalformed,
    Variant::IdempotencyKey,
    Variant::IdempotencyKeyTooLong,
    Variant::BodyOfTheWrongShape,
    Variant::BodyEmpty,
    Variant::BodyNotJson,
    Variant::BodyAsText,
    Variant::BodyHoldingNul,
    Variant::BodyTooLarge,
];

async fn send(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: &Value,
    variant: Variant,
) -> Seen {
    let mut request = app
        .client
        .request(method, app.api(path))
        .bearer_auth(&user.token);
    let json = |value: &Value| value.to_string();
    let (content_type, raw) = match variant {
        Variant::BodyOfTheWrongShape => ("application/json", json(&json!({"nope": [1]}))),
        Variant::BodyEmpty => ("application/json", String::new()),
        Variant::BodyNotJson => ("application/json", "{\"body\": ".to_string()),
        Variant::BodyAsText => ("text/plain", json(body)),
        Variant::BodyHoldingNul => ("application/json", json(&json!({"body": "a\u{0}"}))),
        Variant::BodyTooLarge => (
            "application/json",
            json(&json!({"body": "x".repeat(70_000)})),
        ),
        _ => ("application/json", json(body)),
    };
    request = request.header("content-type", content_type).body(raw);
    request = match variant {
        Variant::IfMatchCurrent => request.header("if-match", "\"1\""),
        Variant::IfMatchStale => request.header("if-match", "\"99\""),
        Variant::IfMatchMalformed => request.header("if-match", "banana"),
        Variant::IdempotencyKey => request.header("idempotency-key", "k-1"),
        Variant::IdempotencyKeyTooLong => request.header("idempotency-key", "k".repeat(300)),
        _ => request,
    };
    seen(request.send().await.expect("an answer")).await
}

#[tokio::test]
async fn a_caller_who_may_not_see_a_ticket_gets_the_same_answer_whatever_it_sends() {
    // Arrange: an owner's ticket at version 1 (a closed one for reopen and rating) and an
    // outsider, another requester.
    let app = spawn_app().await;
    let owner = app.user("requester").await;
    let outsider = app.user("requester").await;
    let open = app.create_ticket(&owner).await;
    let closed = app.create_ticket(&owner).await;
    let r = app
        .post(&format!("/tickets/{closed}/close"), &owner, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored = app.event_count().await;
    let routes = [
        (Method::POST, "comments", open, json!({"body": "hi"})),
        (
            Method::POST,
            "assign",
            open,
            json!({"assignee_id": owner.id}),
        ),
        (Method::PATCH, "", open, json!({"title": "mine now"})),
        (Method::POST, "close", open, json!({"resolution": "done"})),
        (Method::POST, "reopen", closed, json!({"reason": "again"})),
        (Method::POST, "rating", closed, json!({"score": 1})),
    ];
    for (method, route, ticket, body) in routes {
        let path = |id: Uuid| {
            if route.is_empty() {
                format!("/tickets/{id}")
            } else {
                format!("/tickets/{id}/{route}")
            }
        };
        // Act
        let baseline = send(
            &app,
            &outsider,
            method.clone(),
            &path(ticket),
            &body,
            Variant::Plain,
        )
        .await;
        let missing = send(
            &app,
            &outsider,
            method.clone(),
            &path(Uuid::now_v7()),
            &body,
            Variant::Plain,
        )
        .await;
        // Assert: 404 for the owner's ticket as for none at all (403 for staff-only commands,
        // which a requester may use on no ticket), whatever is added.
        let expected = if route == "assign" || route.is_empty() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(baseline.status, expected, "{method} {route}: {baseline:?}");
        assert_eq!(baseline.content_type, "application/problem+json");
        assert_eq!(
            missing, baseline,
            "{method} {route}: a ticket that does not exist"
        );
        for variant in VARIANTS {
            let answer = send(
                &app,
                &outsider,
                method.clone(),
                &path(ticket),
                &body,
                variant,
            )
            .await;
            assert_eq!(answer, baseline, "{method} {route} with {variant:?}");
        }
    }
    assert_eq!(app.event_count().await, stored, "nothing was applied");
}

#[tokio::test]
async fn a_role_that_may_not_add_users_gets_403_whatever_body_it_sends() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    for (content_type, body) in [
        (
            "application/json",
            json!({"email": "x@example.com", "name": "X", "role": "admin"}).to_string(),
        ),
        ("application/json", String::new()),
        ("application/json", "{".to_string()),
        ("text/plain", "{}".to_string()),
    ] {
        let r = app
            .client
            .post(app.api("/users"))
            .bearer_auth(&agent.token)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("an answer");
        problem(r, StatusCode::FORBIDDEN).await;
    }
}

#[tokio::test]
async fn staff_get_404_for_a_ticket_that_does_not_exist_even_with_if_match() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let missing = Uuid::now_v7();
    let response = app
        .client
        .post(app.api(&format!("/tickets/{missing}/comments")))
        .bearer_auth(&agent.token)
        .header("if-match", "\"1\"")
        .json(&json!({"body": "hi"}))
        .send()
        .await
        .expect("an answer");
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bodies_must_be_json_present_where_required_and_free_of_u0000() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let admin = app.user("admin").await;
    let id = app.create_ticket(&agent).await;
    let raw = |method: Method, path: &str, user: &TestUser, ct: Option<&str>, body: &str| {
        let mut request = app
            .client
            .request(method, app.api(path))
            .bearer_auth(&user.token)
            .body(body.to_string());
        if let Some(ct) = ct {
            request = request.header("content-type", ct.to_string());
        }
        request.send()
    };
    let create = json!({"title": "t", "description": "", "category": "other", "priority": "low"})
        .to_string();
    // 415: JSON sent as something else, or undeclared.
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let r = raw(Method::POST, "/tickets", &agent, ct, &create)
            .await
            .unwrap();
        problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    let r = raw(
        Method::POST,
        "/auth/login",
        &agent,
        Some("text/plain"),
        "{}",
    )
    .await
    .unwrap();
    problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // A JSON media type other than application/json is JSON.
    let r = raw(
        Method::POST,
        "/tickets",
        &agent,
        Some("application/vnd.ticketd+json; charset=utf-8"),
        &create,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // 400: no body where one is required; close and reopen take none.
    for (method, path) in [
        (Method::POST, "/tickets".to_string()),
        (Method::POST, format!("/tickets/{id}/comments")),
        (Method::PATCH, format!("/tickets/{id}")),
        (Method::POST, "/auth/login".to_string()),
        (Method::POST, "/users".to_string()),
    ] {
        let r = raw(method.clone(), &path, &admin, Some("application/json"), "")
            .await
            .unwrap();
        problem(r, StatusCode::BAD_REQUEST).await;
        let r = raw(method, &path, &admin, None, "").await.unwrap();
        problem(r, StatusCode::BAD_REQUEST).await;
    }
    for path in ["close", "reopen"] {
        let r = raw(
            Method::POST,
            &format!("/tickets/{id}/{path}"),
            &agent,
            None,
            "",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} without a body");
    }
    // 422 naming the field: U+0000 in a body, nested or not, at login, in a query string.
    let r = app
        .post(
            "/tickets",
            &agent,
            json!({"title": "a\u{0}", "description": "ok", "category": "other", "priority": "low"}),
        )
        .await;
    assert_eq!(
        failing_fields(&problem(r, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["title"]
    );
    let r = app
        .post(
            "/tickets",
            &agent,
            json!({"title": "a\u{0}", "description": 7, "category": "other", "priority": "low",
                   "extra": {"deep": ["x\u{0}"]}}),
        )
        .await;
    assert_eq!(
        failing_fields(&problem(r, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["description", "extra.deep.0", "title"],
        "every failing field, U+0000 or not"
    );
    let r = app
        .client
        .post(app.api("/auth/login"))
        .json(&json!({"email": "someone\u{0}@example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        failing_fields(&problem(r, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["email"]
    );
    let r = app
        .post(
            "/users",
            &admin,
            json!({"email": "new@example.com", "name": "N\u{0}", "role": "agent"}),
        )
        .await;
    assert_eq!(
        failing_fields(&problem(r, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["name"]
    );
    for query in [
        "/tickets?q=%00",
        "/me/tickets?q=a%00",
        "/board?category=%00",
    ] {
        let r = app.get(query, &agent).await;
        let fields = failing_fields(&problem(r, StatusCode::UNPROCESSABLE_ENTITY).await);
        assert_eq!(fields.len(), 1, "{query}: {fields:?}");
    }
    let r = app.get("/users?role=%00", &admin).await;
    problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        app.event_count().await,
        4,
        "two creates, a close and a reopen"
    );
}

#[tokio::test]
async fn malformed_paths_unknown_routes_and_methods_are_problem_documents() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let routes = [
        (Method::GET, "/tickets/%ff", &agent),
        (Method::PATCH, "/tickets/%ff", &agent),
        (Method::GET, "/tickets/%ff/history", &auditor),
        (Method::GET, "/tickets/%ff/verify", &auditor),
        (Method::POST, "/tickets/%ff/read", &agent),
        (Method::POST, "/tickets/%ff/comments", &agent),
        (Method::POST, "/tickets/%ff/assign", &agent),
        (Method::POST, "/tickets/%ff/close", &agent),
        (Method::POST, "/tickets/%ff/reopen", &agent),
        (Method::POST, "/tickets/%ff/rating", &agent),
        (Method::GET, "/tickets/%00", &agent),
        (Method::GET, "/no/such/route", &agent),
    ];
    for (method, path, user) in routes {
        let r = app
            .client
            .request(method.clone(), app.api(path))
            .bearer_auth(&user.token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::NOT_FOUND).await;
    }
    for (method, url) in [
        (Method::DELETE, app.api("/tickets")),
        (
            Method::PUT,
            app.api("/tickets/00000000-0000-0000-0000-000000000000"),
        ),
        (Method::POST, format!("{}/healthz", app.address)),
        (Method::DELETE, format!("{}/metrics", app.address)),
    ] {
        let r = app
            .client
            .request(method.clone(), &url)
            .bearer_auth(&agent.token)
            .send()
            .await
            .unwrap();
        assert!(r.headers().contains_key("allow"), "{method} {url}");
        problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    }
    let r = app
        .client
        .get(app.api("/ws"))
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// Everything a route is reached by.
const PATHS: &[&str] = &[
    "/api/v1/tickets",
    "/api/v1/tickets/{id}",
    "/api/v1/tickets/{id}/comments",
    "/api/v1/tickets/{id}/assign",
    "/api/v1/tickets/{id}/close",
    "/api/v1/tickets/{id}/reopen",
    "/api/v1/tickets/{id}/rating",
    "/api/v1/tickets/{id}/read",
    "/api/v1/tickets/{id}/history",
    "/api/v1/tickets/{id}/verify",
    "/api/v1/board",
    "/api/v1/me",
    "/api/v1/me/tickets",
    "/api/v1/stats",
    "/api/v1/events",
    "/api/v1/users",
    "/api/v1/auth/login",
    "/api/v1/auth/me",
    "/api/v1/ws",
    "/api/v1/{id}",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/",
    "/{id}",
];

const METHODS: &[&str] = &["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"];

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/json; charset=latin1"),
    Some("application/problem+json"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data"),
    Some("*/*"),
    Some("garbage"),
];

/// One generated request.
#[derive(Debug, Clone)]
struct Probe {
    method: &'static str,
    path: &'static str,
    id: String,
    query: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    caller: usize,
}

fn ids() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{ticket}".to_string()),
        Just(Uuid::nil().to_string()),
        Just("%ff".to_string()),
        Just("%00".to_string()),
        Just("%C0%AF".to_string()),
        Just("..".to_string()),
        "[a-zA-Z0-9%._~-]{0,40}",
    ]
}

fn queries() -> impl Strategy<Value = String> {
    let names = proptest::sample::select(
        &[
            // Not min_position or min_version: a reachable one waits 5 s for a 503, by design.
            "q",
            "limit",
            "as_of",
            "status",
            "cursor",
            "after",
            "type",
            "role",
            "unread",
            "from",
            "to",
            "sort",
            "limit_per_column",
            "access_token",
            "x",
        ][..],
    );
    let values = prop_oneof![
        Just("%00".to_string()),
        Just("%ff".to_string()),
        Just("-1".to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775808".to_string()),
        "[a-zA-Z0-9%:+._,-]{0,30}",
    ];
    proptest::collection::vec((names, values), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let json_values = prop_oneof![
        Just(json!({})),
        Just(json!({"title": "t", "description": "d", "category": "other", "priority": "low"})),
        Just(json!({"body": "b", "internal": true})),
        Just(json!({"score": 5, "comment": "\u{0}"})),
        Just(json!({"email": "a@b.c", "password": "p"})),
        Just(json!({"email": "a@b.c", "name": "n", "role": "agent"})),
        Just(json!({"assignee_id": Uuid::nil()})),
        Just(json!([1, "\u{0}", {"k\u{0}": null}])),
        any::<String>().prop_map(|s| json!({"title": s, "body": s, "reason": s})),
    ];
    prop_oneof![
        2 => json_values.prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => Just(Vec::new()),
    ]
}

fn probes() -> impl Strategy<Value = Probe> {
    (
        proptest::sample::select(METHODS),
        proptest::sample::select(PATHS),
        ids(),
        queries(),
        proptest::sample::select(CONTENT_TYPES),
        bodies(),
        0..4usize,
    )
        .prop_map(
            |(method, path, id, query, content_type, body, caller)| Probe {
                method,
                path,
                id,
                query,
                content_type,
                body,
                caller,
            },
        )
}

#[test]
fn no_request_on_any_route_answers_500_and_every_error_is_a_problem_document() {
    // Arrange: one engine, a ticket, callers of every role and none.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (app, users, ticket) = runtime.block_on(async {
        let app = spawn_app().await;
        let mut users = Vec::new();
        for role in ["requester", "agent", "admin"] {
            users.push(app.user(role).await);
        }
        let ticket = app.create_ticket(&users[0]).await;
        (app, users, ticket)
    });
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    // Act + Assert
    let result = runner.run(&probes(), |probe| {
        runtime.block_on(async {
            let id = probe.id.replace("{ticket}", &ticket.to_string());
            let mut url = format!("{}{}", app.address, probe.path.replace("{id}", &id));
            if !probe.query.is_empty() {
                url = format!("{url}?{}", probe.query);
            }
            let method = Method::from_bytes(probe.method.as_bytes()).expect("a method");
            let mut request = app.client.request(method, &url).body(probe.body.clone());
            if let Some(ct) = probe.content_type {
                request = request.header("content-type", ct);
            }
            if let Some(user) = users.get(probe.caller) {
                request = request.bearer_auth(&user.token);
            }
            let response = request
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            prop_assert!(
                !status.is_server_error(),
                "{} {url} answered {status}",
                probe.method
            );
            if status.is_client_error() {
                prop_assert_eq!(
                    content_type,
                    "application/problem+json",
                    "{} {} answered {}",
                    probe.method,
                    url,
                    status
                );
            }
            Ok(())
        })
    });
    drop(app);
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Sends `headers` (one per line, as raw bytes) with a valid create, over a bare connection.
async fn raw_create(app: &TestApp, user: &TestUser, header: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = json!({"title": "t", "description": "", "category": "other", "priority": "low"})
        .to_string();
    let mut request = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        user.token,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(header);
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    stream.write_all(&request).await.expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_header_holding_nul_never_reaches_the_engine() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    // Act + Assert: the HTTP layer refuses the request before any handler (HTTP field values
    // cannot hold NUL, and `http::HeaderValue` cannot either), so nothing is stored.
    for header in [
        &b"Idempotency-Key: a\0b"[..],
        b"X-Request-Id: a\0b",
        b"If-Match: \"1\0\"",
    ] {
        let answer = raw_create(&app, &agent, header).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{}: {answer}",
            String::from_utf8_lossy(header)
        );
    }
    assert_eq!(app.event_count().await, 0);
    // The same request without the NUL is taken, so the refusal was the NUL's.
    let answer = raw_create(&app, &agent, b"Idempotency-Key: ab").await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}
