//! Statistics (CONTRACT 2.5): counts with every key, durations, SLA outcomes, ratings, agents.
//!
//! Events carry the command's time, so durations are checked against the stored events' own
//! times, and SLA breaches come from targets of a second or two.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::SlaPolicy;
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, spawn_app_with, TestApp, TestUser};
use crate::queries::{assign, close, comment, done, event_time, read, tick, wire};

/// Seconds between two events of a ticket.
async fn seconds(app: &TestApp, id: Uuid, from_seq: i64, to_seq: i64) -> f64 {
    let (from, to) = (
        event_time(app, id, from_seq).await,
        event_time(app, id, to_seq).await,
    );
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// Asserts a number of seconds to the millisecond (the engine rounds to three decimals).
fn assert_seconds(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual}"));
    assert!(
        (actual - expected).abs() < 0.0011,
        "{what}: {actual} != {expected}"
    );
}

/// Asserts a percentile within 1 % (the engine's histograms' bound) and the millisecond.
fn assert_percentile(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual}"));
    assert!(
        (actual - expected).abs() <= 0.01 * expected + 0.0011,
        "{what}: {actual} not within 1 % of {expected}"
    );
}

async fn rate(app: &TestApp, id: Uuid, requester: &TestUser, score: i64) {
    done(
        app.post(
            &format!("/tickets/{id}/rating"),
            requester,
            json!({"score": score}),
        )
        .await,
    )
    .await;
}

/// Asserts that two answers give the same figures of their window's tickets (and `more`).
fn assert_same_figures(path: &str, stats: &Value, expected: &Value, more: &[&str]) {
    let members = [
        "tickets",
        "first_response",
        "resolution",
        "sla",
        "ratings",
        "agents",
    ];
    for member in members.iter().chain(more) {
        assert_eq!(stats[member], expected[member], "{path}: {member}");
    }
}

fn at(path: &str, name: &str, t: DateTime<Utc>) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}{name}={}", wire(t))
}

#[tokio::test]
async fn stats_count_the_tickets_created_in_the_window_with_every_key_present() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let a = app
        .create_ticket_with(
            &requester,
            json!({"category": "network", "priority": "high", "channel": "web"}),
        )
        .await;
    tick().await;
    let b = app
        .create_ticket_with(
            &requester,
            json!({"category": "network", "priority": "low", "channel": "email"}),
        )
        .await;
    tick().await;
    let c = app
        .create_ticket_with(
            &requester,
            json!({"category": "printer", "priority": "urgent", "channel": "api"}),
        )
        .await;
    assign(&app, c, &agent, &agent).await;
    close(&app, b, &agent).await;
    let _ = a;
    let (b_created, c_created) = (event_time(&app, b, 1).await, event_time(&app, c, 1).await);

    // Act
    let all = read(&app, "/stats", &agent).await;
    let only_b = read(
        &app,
        &at(&at("/stats", "from", b_created), "to", c_created),
        &agent,
    )
    .await;
    let from_b = read(&app, &at("/stats", "from", b_created), &agent).await;
    let before_b = read(&app, &at("/stats", "to", b_created), &agent).await;

    // Assert
    let mut categories = serde_json::Map::new();
    for category in app.settings.categories.iter() {
        categories.insert(category.clone(), json!(0));
    }
    categories.insert("network".into(), json!(2));
    categories.insert("printer".into(), json!(1));
    assert_eq!(
        all["tickets"],
        json!({
            "total": 3,
            "by_status": {"open": 1, "in_progress": 1, "pending": 0, "closed": 1},
            "by_priority": {"low": 1, "medium": 0, "high": 1, "urgent": 1},
            "by_category": categories,
            "by_channel": {"web": 1, "email": 1, "chat": 0, "api": 1, "phone": 0},
        })
    );
    assert_eq!(
        only_b["tickets"]["total"], 1,
        "from inclusive, to exclusive"
    );
    assert_eq!(only_b["tickets"]["by_status"]["closed"], 1);
    assert_eq!(only_b["tickets"]["by_category"]["printer"], 0);
    assert_eq!(from_b["tickets"]["total"], 2);
    assert_eq!(before_b["tickets"]["total"], 1);
    assert_eq!(
        all["ratings"],
        json!({"count": 0, "avg": null,
               "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}})
    );
    assert_eq!(
        all["first_response"],
        json!({"avg_seconds": null, "p50_seconds": null, "p90_seconds": null,
               "business_avg_seconds": null, "business_p50_seconds": null,
               "business_p90_seconds": null}),
        "nobody but the requester commented"
    );
}

#[tokio::test]
async fn stats_measure_responses_resolutions_ratings_and_agents() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let first = app.user("agent").await;
    let second = app.user("agent").await;
    // t1: responded, assigned to `first`, closed, rated 4.
    let t1 = app.create_ticket(&requester).await;
    tick().await;
    comment(&app, t1, &first, false).await;
    assign(&app, t1, &first, &first).await;
    tick().await;
    close(&app, t1, &first).await;
    rate(&app, t1, &requester, 4).await;
    // t2: responded later, assigned to `second`, closed, rated 2, reopened and closed again.
    let t2 = app.create_ticket(&requester).await;
    tick().await;
    tick().await;
    comment(&app, t2, &second, false).await;
    assign(&app, t2, &second, &second).await;
    close(&app, t2, &second).await;
    rate(&app, t2, &requester, 2).await;
    done(
        app.post(&format!("/tickets/{t2}/reopen"), &requester, json!({}))
            .await,
    )
    .await;
    tick().await;
    close(&app, t2, &second).await;
    // t3: assigned to `first`, no response yet, open.
    let t3 = app.create_ticket(&requester).await;
    assign(&app, t3, &first, &first).await;
    comment(&app, t3, &requester, false).await;
    let responses = [seconds(&app, t1, 1, 2).await, seconds(&app, t2, 1, 2).await];
    let resolutions = [seconds(&app, t1, 1, 4).await, seconds(&app, t2, 1, 7).await];
    let auditor = app.user("auditor").await;

    // Act
    let stats = read(&app, "/stats", &auditor).await;

    // Assert
    let (lo, hi) = (
        responses[0].min(responses[1]),
        responses[0].max(responses[1]),
    );
    assert_seconds(
        &stats["first_response"]["avg_seconds"],
        (lo + hi) / 2.0,
        "avg",
    );
    assert_percentile(
        &stats["first_response"]["p50_seconds"],
        (lo + hi) / 2.0,
        "p50",
    );
    assert_percentile(
        &stats["first_response"]["p90_seconds"],
        lo + 0.9 * (hi - lo),
        "p90",
    );
    let (lo, hi) = (
        resolutions[0].min(resolutions[1]),
        resolutions[0].max(resolutions[1]),
    );
    assert_seconds(&stats["resolution"]["avg_seconds"], (lo + hi) / 2.0, "avg");
    assert_percentile(
        &stats["resolution"]["p90_seconds"],
        lo + 0.9 * (hi - lo),
        "p90",
    );
    // On the 24×7 clock without pauses, business time is wall-clock time.
    for member in ["first_response", "resolution"] {
        assert_eq!(
            stats[member]["business_avg_seconds"], stats[member]["avg_seconds"],
            "{member}"
        );
    }
    assert_eq!(
        stats["sla"],
        json!({"first_response_met_pct": 100.0, "resolution_met_pct": 100.0, "open_breached": 0,
               "breaches_by_priority": {"low": 0, "medium": 0, "high": 0, "urgent": 0}}),
        "t3's targets are not due yet: its outcome is unknown"
    );
    assert_eq!(
        stats["ratings"],
        json!({"count": 2, "avg": 3.0,
               "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}})
    );
    let agents = stats["agents"].as_array().unwrap();
    let mut expected = vec![
        (first.clone(), 1, 1, resolutions[0], 4.0),
        (second.clone(), 0, 1, resolutions[1], 2.0),
    ];
    expected.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    assert_eq!(agents.len(), 2);
    for (agent, (user, open, closed, resolution, rating)) in agents.iter().zip(expected) {
        assert_eq!(agent["id"], json!(user.id));
        assert_eq!(agent["name"], json!(user.name));
        assert_eq!(agent["open_assigned"], open, "{}", user.name);
        assert_eq!(agent["closed"], closed, "{}", user.name);
        assert_eq!(agent["avg_rating"], rating, "{}", user.name);
        assert_eq!(agent["breaches"], 0, "{}", user.name);
        assert_seconds(&agent["avg_resolution_seconds"], resolution, &user.name);
    }
}

#[tokio::test]
async fn stats_and_views_count_breaches_of_second_long_targets() {
    // Arrange: urgent tickets must be answered within 1 s and closed within 2 s.
    let app = spawn_app_with(|s| {
        s.sla = SlaPolicy::parse("urgent=1/2").expect("an SLA spec");
    })
    .await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let kept = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    comment(&app, kept, &agent, false).await;
    close(&app, kept, &agent).await;
    let missed = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    assign(&app, missed, &agent, &agent).await;
    let not_due = app
        .create_ticket_with(&requester, json!({"priority": "low"}))
        .await;
    let _ = not_due;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Act
    let stats = read(&app, "/stats", &agent).await;
    let missed_view = read(&app, &format!("/tickets/{missed}"), &agent).await;
    let kept_view = read(&app, &format!("/tickets/{kept}"), &agent).await;
    let listed = read(&app, "/tickets?priority=urgent", &agent).await;
    let board = read(&app, "/board?limit_per_column=500", &agent).await;

    // Assert
    // The missed ticket's two targets, whether the timer has recorded them yet or not.
    assert_eq!(
        stats["sla"],
        json!({"first_response_met_pct": 50.0, "resolution_met_pct": 50.0, "open_breached": 1,
               "breaches_by_priority": {"low": 0, "medium": 0, "high": 0, "urgent": 2}})
    );
    assert_eq!(stats["agents"][0]["id"], json!(agent.id));
    assert_eq!(stats["agents"][0]["breaches"], 2);
    let breached = json!({"first_response_breached": true, "resolution_breached": true});
    let kept_sla = json!({"first_response_breached": false, "resolution_breached": false});
    for (sla, expected) in [
        (&missed_view["sla"], &breached),
        (&kept_view["sla"], &kept_sla),
        (&listed["items"][0]["sla"], &breached),
    ] {
        assert_eq!(
            sla["first_response_breached"],
            expected["first_response_breached"]
        );
        assert_eq!(sla["resolution_breached"], expected["resolution_breached"]);
    }
    // Assigned, the missed ticket is in progress.
    let card = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|column| column["cards"].as_array().unwrap())
        .find(|c| c["id"] == json!(missed))
        .expect("the missed ticket's card");
    assert_eq!(card["sla"]["resolution_breached"], true);
}

#[tokio::test]
async fn requesters_may_not_read_stats_and_bad_windows_are_named() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;

    // Act
    let forbidden = app.get("/stats", &requester).await;
    let invalid = app
        .get("/stats?from=yesterday&to=2026-13-01&window=week", &agent)
        .await;
    let reversed = app
        .get(
            "/stats?from=2026-11-23T10:00:00Z&to=2026-11-22T10:00:00Z",
            &agent,
        )
        .await;

    // Assert
    problem(forbidden, StatusCode::FORBIDDEN).await;
    let body = problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["from", "to", "window"]);
    let body = problem(reversed, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["to"]);
}

#[tokio::test]
async fn a_window_of_weeks_around_the_tickets_sums_to_the_all_time_figures() {
    // Arrange: tickets created now, one answered, closed and rated.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let admin = app.user("admin").await;
    let first = app.create_ticket(&requester).await;
    app.create_ticket_with(
        &requester,
        json!({"priority": "urgent", "channel": "phone"}),
    )
    .await;
    comment(&app, first, &agent, false).await;
    assign(&app, first, &agent, &agent).await;
    close(&app, first, &agent).await;
    rate(&app, first, &requester, 4).await;
    let now = Utc::now();

    // Act: windows whose middle is whole weeks (and a whole month), read from the weekly rows.
    let all_time = read(&app, "/stats", &admin).await;
    let mut windows = Vec::new();
    for (before, after) in [(40, 10), (9, 8), (3, 15)] {
        let (from, to) = (
            now - chrono::Duration::days(before),
            now + chrono::Duration::days(after),
        );
        let path = format!("/stats?from={}&to={}", wire(from), wire(to));
        windows.push((path.clone(), read(&app, &path, &admin).await));
    }

    // Assert
    for (path, stats) in windows {
        assert_same_figures(&path, &stats, &all_time, &[]);
    }
    assert_eq!(all_time["tickets"]["total"], 2);
}

#[tokio::test]
async fn a_window_starting_or_ending_on_a_tickets_day_counts_it_whichever_part_is_read() {
    // Arrange: one ticket answered, closed and rated, created at `created`.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let admin = app.user("admin").await;
    let id = app.create_ticket(&requester).await;
    comment(&app, id, &agent, false).await;
    assign(&app, id, &agent, &agent).await;
    close(&app, id, &agent).await;
    rate(&app, id, &requester, 5).await;
    let created = event_time(&app, id, 1).await;
    let midnight = created.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let second = chrono::Duration::seconds(1);

    // Act: windows that start or end a second either side of it. The engine reads the part of
    // the ticket's day in the window or sums the day and takes the other part out, whichever
    // is shorter: before noon the first two windows take the ticket's part out, after noon
    // the last two.
    let with = read(&app, "/stats", &admin).await;
    let without = read(
        &app,
        &at("/stats", "from", created + chrono::Duration::days(2)),
        &admin,
    )
    .await;
    let windows = [
        (at("/stats", "from", created - second), &with),
        (at("/stats", "from", created + second), &without),
        (
            at(&at("/stats", "from", midnight), "to", created + second),
            &with,
        ),
        (
            at(&at("/stats", "from", midnight), "to", created - second),
            &without,
        ),
    ];

    // Assert
    assert_eq!(with["tickets"]["total"], 1);
    for (path, expected) in windows {
        let stats = read(&app, &path, &admin).await;
        assert_same_figures(&path, &stats, expected, &["channels", "requesters"]);
    }
}
