//! The operations surface: histograms in `/metrics`, the rate limiter's keys, supervised
//! background tasks in `/readyz`, the request timeout, `/docs` without another origin.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;

use crate::helpers::{problem, spawn_app, spawn_app_with};

/// The series of `metric` in a Prometheus text exposition whose labels include every one of
/// `labels` (`name="value"`).
fn series<'a>(text: &'a str, metric: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .collect()
}

/// Asserts that `name` is a histogram with buckets from 0.5 ms to 10 s for `labels`.
fn assert_histogram(text: &str, name: &str, labels: &[&str]) {
    for le in ["0.0005", "0.001", "0.01", "0.1", "1", "10", "+Inf"] {
        let mut with_le = labels.to_vec();
        let le = format!("le=\"{le}\"");
        with_le.push(&le);
        assert!(
            !series(text, &format!("{name}_bucket"), &with_le).is_empty(),
            "{name}_bucket with {with_le:?} is missing"
        );
    }
    for suffix in ["_sum", "_count"] {
        assert!(
            !series(text, &format!("{name}{suffix}"), labels).is_empty(),
            "{name}{suffix} with {labels:?} is missing"
        );
    }
}

#[tokio::test]
async fn metrics_expose_latency_histograms_with_buckets() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&agent).await;
    let commented = app
        .post(
            &format!("/tickets/{ticket}/comments"),
            &agent,
            json!({"body": "on it"}),
        )
        .await;
    assert_eq!(commented.status(), StatusCode::OK);
    let position = app.event_count().await;
    let read = app
        .get(
            &format!("/tickets/{ticket}?min_position={position}"),
            &agent,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);

    // Act: the hub's feed broadcasts on its own schedule; scrape until it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = app.root_text("/metrics").await;
        if text.contains("ticketd_commit_to_push_seconds_bucket") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Assert
    assert_histogram(
        &text,
        "ticketd_command_duration_seconds",
        &["command=\"comment\"", "outcome=\"ok\""],
    );
    assert_histogram(
        &text,
        "ticketd_http_request_duration_seconds",
        &[
            "route=\"/api/v1/tickets/{id}\"",
            "method=\"GET\"",
            "status=\"200\"",
        ],
    );
    assert!(
        series(&text, "ticketd_http_request_duration_seconds_count", &[])
            .iter()
            .all(|line| !line.contains(&ticket.to_string())),
        "routes are templates, never raw paths"
    );
    assert_histogram(&text, "ticketd_commit_to_push_seconds", &[]);
    assert_histogram(
        &text,
        "ticketd_projection_apply_seconds",
        &["projection=\"ticket_view\""],
    );
}

#[tokio::test]
async fn a_flood_of_random_bearers_from_one_address_is_limited_and_keeps_the_limiter_small() {
    // Arrange
    let app = spawn_app_with(|s| {
        s.rate_limit.per_second = 5;
        s.rate_limit.burst = 10;
    })
    .await;
    let agent = app.user("agent").await;

    // Act: 200 requests, each with a bearer string never seen before.
    let mut limited = 0;
    for _ in 0..200 {
        let response = app
            .client
            .get(app.api("/tickets"))
            .bearer_auth(format!("random.{}.token", Uuid::new_v4()))
            .send()
            .await
            .expect("send a request");
        match response.status() {
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                limited += 1;
            }
            StatusCode::UNAUTHORIZED => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // A caller with a valid token has a budget of its own.
    let own = app.get("/tickets", &agent).await;

    // Assert
    assert!(limited >= 150, "only {limited} of 200 were limited");
    assert_eq!(own.status(), StatusCode::OK, "the agent's own budget");
    assert!(
        app.state.limiter.len() <= 2,
        "the limiter holds {} keys for one address and one user",
        app.state.limiter.len()
    );
}

/// `/readyz`'s entry for the task `name`.
async fn task_entry(app: &crate::helpers::TestApp, name: &str) -> (StatusCode, Value, Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("send a request");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON answer");
    let entry = body["tasks"]["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["name"] == name).cloned())
        .unwrap_or(Value::Null);
    (status, entry, body)
}

#[tokio::test]
async fn a_projector_that_panics_is_restarted_and_shown_in_readyz() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let (status, entry, _) = task_entry(&app, "projector:ticket_view").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entry["state"], "running");
    assert_eq!(entry["restarts"], 0);

    // Act
    assert!(app.state.tasks.inject_panic("projector:ticket_view"));

    // Assert: restarted, counted, the cause shown, and still ready after one crash.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, entry) = loop {
        let (status, entry, _) = task_entry(&app, "projector:ticket_view").await;
        if (entry["restarts"] == 1 && entry["state"] == "running") || Instant::now() > deadline {
            break (status, entry);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(entry["restarts"], 1, "{entry}");
    assert_eq!(entry["state"], "running", "{entry}");
    assert!(
        entry["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("panicked")),
        "{entry}"
    );
    assert_eq!(status, StatusCode::OK);
    // The restarted projector applies new events.
    let ticket = app.create_ticket(&agent).await;
    let position = app.event_count().await;
    let read = app
        .get(
            &format!("/tickets/{ticket}?min_position={position}"),
            &agent,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_task_that_keeps_crashing_makes_readiness_fail() {
    // Arrange
    let app = spawn_app().await;

    // Act: three crashes in a row, each soon after the restart.
    for crash in 1..=3 {
        assert!(app.state.tasks.inject_panic("sla_timer"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let entry = app.state.tasks.get("sla_timer").expect("registered");
            if entry.restarts >= crash && entry.state == ticketd::supervisor::TaskState::Running {
                break;
            }
            assert!(Instant::now() < deadline, "crash {crash} not restarted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Assert
    let (status, entry, body) = task_entry(&app, "sla_timer").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(entry["consecutive_failures"], 3);
    assert_eq!(body["tasks"]["crash_looping"], json!(["sla_timer"]));
}

#[tokio::test]
async fn a_request_over_the_timeout_gets_a_503_with_retry_after() {
    // Arrange: the directory table locked, so that a request that touches it hangs.
    let app = spawn_app_with(|s| s.request_timeout = Duration::from_millis(300)).await;
    let admin = app.user("admin").await;
    let mut locker = sqlx::PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let mut tx = locker.begin().await.expect("begin");
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock the users table");

    // Act
    let started = Instant::now();
    let response = app.get("/users", &admin).await;
    let took = started.elapsed();

    // Assert
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("300 ms")),
        "{body}"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    tx.rollback().await.expect("unlock");
    let after = app.get("/users", &admin).await;
    assert_eq!(after.status(), StatusCode::OK, "served again once unlocked");
}

#[tokio::test]
async fn the_timeout_does_not_cut_a_read_model_wait_short() {
    // Arrange
    let app = spawn_app_with(|s| s.request_timeout = Duration::from_millis(300)).await;
    let agent = app.user("agent").await;

    // Act: a position that never comes; the wait has its own 5 s bound.
    let started = Instant::now();
    let response = app.get("/tickets?min_position=1000000", &agent).await;
    let took = started.elapsed();

    // Assert
    let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not caught up")),
        "{body}"
    );
    assert!(took >= Duration::from_secs(4), "answered after {took:?}");
}

/// Every `src="…"` and `href="…"` value of an HTML page.
fn references(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = page;
        while let Some(start) = rest.find(attribute) {
            let after = &rest[start + attribute.len()..];
            let Some(end) = after.find('"') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

#[tokio::test]
async fn docs_load_nothing_from_another_origin() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .expect("send a request");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let page_url = response.url().clone();
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    let page = response.text().await.expect("the page");
    let references = references(&page);
    assert!(
        references.iter().any(|r| r.ends_with(".js")),
        "the page loads its script: {references:?}"
    );
    for reference in &references {
        let url = page_url.join(reference).expect("a valid reference");
        assert_eq!(
            url.origin(),
            page_url.origin(),
            "{reference} is from another origin"
        );
        let asset = app.client.get(url).send().await.expect("fetch the asset");
        assert_eq!(asset.status(), StatusCode::OK, "{reference}");
    }
    // The script that starts the UI points it at this engine's document, and nowhere else.
    let initializer = app
        .client
        .get(page_url.join("swagger-initializer.js").expect("a URL"))
        .send()
        .await
        .expect("fetch the initializer");
    assert_eq!(initializer.status(), StatusCode::OK);
    let script = initializer.text().await.expect("the script");
    assert!(script.contains("/openapi.json"), "{script}");
    assert!(
        !script.contains("http://") && !script.contains("https://"),
        "{script}"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_error_status_and_parameter_bound() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = app.root_json("/openapi.json").await;

    // Assert: every API operation answers problem documents for the statuses it can give.
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/api/v1/")) {
        for (method, operation) in item.as_object().expect("an item") {
            let responses = &operation["responses"];
            let mut expected = vec!["429", "503"];
            if operation.get("security").is_some() {
                expected.push("401");
            }
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if path.contains("{id}") {
                expected.push("404");
            }
            for code in expected {
                let problem = &responses[code]["content"]["application/problem+json"]["schema"];
                assert_eq!(
                    problem["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {code}"
                );
            }
        }
    }
    for command in ["comments", "assign", "close", "reopen", "rating"] {
        let responses =
            &doc["paths"][format!("/api/v1/tickets/{{id}}/{command}")]["post"]["responses"];
        for code in ["403", "409", "412"] {
            assert!(responses[code].is_object(), "{command} {code}");
        }
    }
    assert!(
        doc["paths"]["/api/v1/tickets/{id}/rating"]["post"]["responses"]["429"]["headers"]
            ["Retry-After"]
            .is_object()
    );
    // Parameter bounds, as the parsers check them.
    let board = doc["paths"]["/api/v1/board"]["get"]["parameters"]
        .as_array()
        .expect("board parameters");
    let limit = board
        .iter()
        .find(|p| p["name"] == "limit_per_column")
        .expect("limit_per_column");
    let bounds = &limit["schema"]["anyOf"][0];
    assert_eq!(bounds["type"], "integer");
    assert_eq!(bounds["minimum"], 1);
    assert_eq!(bounds["maximum"], 500);
    let category = board
        .iter()
        .find(|p| p["name"] == "category")
        .expect("category");
    assert_eq!(
        category["schema"]["anyOf"][0]["enum"],
        json!(app.settings.categories)
    );
    // Bodies refuse unknown members and bound every member.
    let create = &doc["components"]["schemas"]["CreateTicketRequest"];
    assert_eq!(create["additionalProperties"], false);
    assert_eq!(create["properties"]["description"]["maxLength"], 20_000);
    let rating = &doc["components"]["schemas"]["RatingRequest"]["properties"]["score"];
    assert_eq!(
        (rating["minimum"].clone(), rating["maximum"].clone()),
        (json!(1), json!(5))
    );
}

#[tokio::test]
async fn a_board_limit_out_of_its_documented_bounds_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;

    // Act and assert: i64::MIN, 0 and one over the maximum, each a 422 naming the parameter.
    for value in [i64::MIN.to_string(), "0".into(), "501".into()] {
        let response = app
            .get(&format!("/board?limit_per_column={value}"), &agent)
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], "limit_per_column", "{value}");
    }
    let ok = app.get("/board?limit_per_column=500", &agent).await;
    assert_eq!(ok.status(), StatusCode::OK);
}
