//! Read models are a pure function of the events: what the live projectors built, one batch at
//! a time as commands arrived, answers every query exactly as a full rebuild from the store
//! does (board, lists, per-user views and statistics, over all time and over windows).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::queries::{assign, close, comment, done, event_time, read, settled, wire};
use crate::sla_policies::{closed_for_three_days, put};

/// Every answer the comparison covers, by path.
async fn answers(
    app: &TestApp,
    staff: &TestUser,
    requester: &TestUser,
    agents: &[TestUser],
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
    team: Uuid,
) -> BTreeMap<String, Value> {
    let mut paths: Vec<(String, &TestUser)> = vec![
        ("/board?limit_per_column=3".into(), staff),
        ("/board".into(), staff),
        (format!("/board?team_id={team}"), staff),
        (format!("/tickets?limit=200&team_id={team}"), staff),
        ("/stats".into(), staff),
        ("/me".into(), requester),
        ("/me/tickets?limit=200".into(), requester),
        ("/me".into(), staff),
    ];
    for agent in agents {
        paths.push(("/me".into(), agent));
        paths.push(("/me/tickets?limit=200".into(), agent));
    }
    for sort in [
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
        "priority",
        "-priority",
        "number",
    ] {
        paths.push((format!("/tickets?limit=200&sort={sort}"), staff));
    }
    for filter in [
        "status=closed",
        "status=open,in_progress",
        "priority=urgent",
        "category=network",
        "channel=email",
        "q=printer",
    ] {
        paths.push((format!("/tickets?limit=200&{filter}"), staff));
    }
    for (from, to) in windows {
        paths.push((
            format!("/stats?from={}&to={}", wire(*from), wire(*to)),
            staff,
        ));
        paths.push((format!("/stats?from={}", wire(*from)), staff));
    }
    let mut all = BTreeMap::new();
    for (path, user) in paths {
        let key = format!("{path} as {}", user.id);
        all.insert(key, read(app, &path, user).await);
    }
    all
}

/// Every row of the per-user read model, in order.
async fn per_user_rows(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT t::text FROM (
             SELECT user_id::text || ' ' || ticket_id::text || ' ' || requested::text || ' '
                    || assigned::text || ' ' || status || ' ' || seen || ' ' || seen_public AS t
             FROM my_tickets
             UNION ALL SELECT user_id::text || ' ' || metric || ' ' || n FROM my_counts
         ) rows ORDER BY t",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Every index of the public tables, as `pg_get_indexdef` gives it (its name included).
async fn indexes(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexdef",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_rebuilt_database_answers_every_query_as_the_live_one() {
    // Arrange: tickets through every kind of change, in many small projector batches.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let other = app.user("requester").await;
    let agents = [app.user("agent").await, app.user("agent").await];
    let admin = app.user("admin").await;
    // Business time on two calendars beside the 24×7 clock: high on one closed for the next
    // days, low on an office's weekdays in a zone with daylight saving.
    let (closed, _) = closed_for_three_days(&app, &admin, "UTC").await;
    let day = json!([["08:00", "12:00"], ["13:00", "18:00"]]);
    let office: Value = app
        .post(
            "/calendars",
            &admin,
            json!({"name": "office", "time_zone": "Europe/Berlin",
                   "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
                   "holidays": ["2026-12-25"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    for (priority, calendar) in [("high", json!(closed)), ("low", office["id"].clone())] {
        let response = put(
            &app,
            &admin,
            priority,
            json!({"first_response": "1h", "resolution": "8h", "calendar_id": calendar}),
        )
        .await;
        assert!(response.status().is_success(), "{response:?}");
    }
    let desk = app.post("/teams", &admin, json!({"name": "Desk"})).await;
    let desk: Uuid = desk.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let field = app.post("/teams", &admin, json!({"name": "Field"})).await;
    let field: Uuid = field.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut ids: Vec<Uuid> = Vec::new();
    for i in 0..24 {
        let priority = ["low", "medium", "high", "urgent"][i % 4];
        let category = ["network", "printer", "email"][i % 3];
        let channel = ["web", "email", "phone"][i % 3];
        let title = if i % 5 == 0 {
            "Printer jam"
        } else {
            "VPN drops"
        };
        let who = if i % 2 == 0 { &requester } else { &other };
        let id = app
            .create_ticket_with(
                who,
                json!({"priority": priority, "category": category, "channel": channel,
                       "title": title}),
            )
            .await;
        ids.push(id);
        let agent = &agents[i % 2];
        if i % 3 != 2 {
            comment(&app, id, agent, i % 4 == 0).await;
        }
        if i % 4 != 3 {
            assign(&app, id, agent, agent).await;
        }
        // Some tickets go to a team (one of them on to another), with or without an assignee.
        if i % 3 == 1 {
            let team = if i % 9 == 4 { field } else { desk };
            done(
                app.post(
                    &format!("/tickets/{id}/assign"),
                    agent,
                    json!({"team_id": team}),
                )
                .await,
            )
            .await;
        }
        if i == 7 {
            done(
                app.post(
                    &format!("/tickets/{id}/assign"),
                    &admin,
                    json!({"team_id": field}),
                )
                .await,
            )
            .await;
        }
        if i % 6 == 1 {
            done(
                app.patch(
                    &format!("/tickets/{id}"),
                    agent,
                    json!({"priority": "urgent", "category": "printer"}),
                )
                .await,
            )
            .await;
        }
        if i % 2 == 1 {
            close(&app, id, agent).await;
            done(
                app.post(
                    &format!("/tickets/{id}/rating"),
                    who,
                    json!({"score": (i % 5 + 1) as i64}),
                )
                .await,
            )
            .await;
        }
        if i % 8 == 1 {
            done(
                app.post(&format!("/tickets/{id}/reopen"), who, json!({}))
                    .await,
            )
            .await;
            assign(&app, id, &agents[0], &admin).await;
        }
    }
    let windows = [
        (
            event_time(&app, ids[3], 1).await,
            event_time(&app, ids[17], 1).await,
        ),
        (
            event_time(&app, ids[10], 1).await,
            event_time(&app, ids[11], 1).await,
        ),
    ];
    // Some tickets read, by their requester and by agents, some acted on again after.
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let path = settled(&app, &format!("/tickets/{id}/read")).await;
        for user in [&requester, &other, &agents[0], &agents[1]] {
            let _ = app.post(&path, user, json!({})).await;
        }
        if i % 2 == 0 {
            comment(&app, *id, &agents[1], i % 4 == 0).await;
        }
    }
    let live = answers(&app, &admin, &requester, &agents, &windows, desk).await;
    let live_counts = per_user_rows(&app).await;
    let live_indexes = indexes(&app).await;

    // Act
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    // Shared answers are kept for a second at an unchanged position: let them go.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let rebuilt = answers(&app, &admin, &requester, &agents, &windows, desk).await;

    // Assert
    assert_eq!(
        live_counts,
        per_user_rows(&app).await,
        "my_tickets and my_counts"
    );
    assert_eq!(
        live_indexes,
        indexes(&app).await,
        "the migrations name indexes: a rebuild keeps their names"
    );
    assert!(
        live[&format!("/me as {}", agents[1].id)]["unread"].as_i64() > Some(0),
        "{live:?}"
    );
    for (path, answer) in &live {
        assert_eq!(Some(answer), rebuilt.get(path), "{path}");
    }
    let stats = &live[&format!("/stats as {}", admin.id)];
    assert_eq!(stats["tickets"]["total"], 24);
    // High tickets (answered, never closed here) count no business time on the closed days.
    assert!(
        stats["first_response"]["business_avg_seconds"].as_f64()
            < stats["first_response"]["avg_seconds"].as_f64(),
        "{stats}"
    );
    let teams = &live[&format!("/stats as {}", admin.id)]["teams"];
    let given: i64 = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["open"].as_i64().unwrap() + t["closed"].as_i64().unwrap())
        .sum();
    assert_eq!(given, 8, "{teams}");
    // The percentiles are the histograms', within 1 % of the exact ones over the same tickets.
    let exact: (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at)::float8),
                percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at)::float8)
         FROM ticket_view",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let stats = &rebuilt[&format!("/stats as {}", admin.id)];
    for (approx, exact) in [
        (&stats["resolution"]["p50_seconds"], exact.0),
        (&stats["resolution"]["p90_seconds"], exact.1),
    ] {
        let (approx, exact) = (approx.as_f64().unwrap(), exact.unwrap());
        assert!(
            (approx - exact).abs() <= 0.01 * exact + 0.0011,
            "{approx} vs {exact}"
        );
    }
}
