//! CONTRACT 9: recomputation applies the current calendar and policy from the ticket's
//! creation. After a calendar or policy edit, the business time of the first responses and
//! closes already counted is counted again, so that live statistics are those a rebuild gives.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::sla_due_refresh::{page_sla, stored};
use crate::sla_policies::{closed_for_three_days, put};

async fn ok(response: reqwest::Response) {
    assert!(response.status().is_success(), "{}", response.status());
}

async fn answer(app: &TestApp, agent: &TestUser, ticket: Uuid) {
    ok(app
        .post(
            &format!("/tickets/{ticket}/comments"),
            agent,
            json!({"body": "on it", "internal": false}),
        )
        .await)
    .await;
}

/// Every row's business figures (`-1` for none), in ticket id order.
async fn business(app: &TestApp) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT coalesce(first_response_business_ms, -1), coalesce(resolution_business_ms, -1)
           FROM ticket_view ORDER BY ticket_id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("rows")
}

#[tokio::test]
async fn a_calendar_edit_recounts_answered_and_closed_tickets_as_a_rebuild_does() {
    // Arrange: urgent targets on the 24x7 clock; a ticket answered, one answered and closed,
    // one answered as medium and then raised to urgent.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let targets = json!({"first_response": "4h", "resolution": "1d"});
    assert_eq!(
        put(&app, &admin, "urgent", targets.clone()).await.status(),
        StatusCode::OK
    );
    let urgent = json!({"priority": "urgent"});
    let answered = app.create_ticket_with(&requester, urgent.clone()).await;
    let closed = app.create_ticket_with(&requester, urgent).await;
    let raised = app
        .create_ticket_with(&requester, json!({"priority": "medium"}))
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    for ticket in [answered, closed, raised] {
        answer(&app, &agent, ticket).await;
    }
    ok(app
        .post(&format!("/tickets/{closed}/close"), &agent, json!({}))
        .await)
    .await;
    ok(app
        .patch(
            &format!("/tickets/{raised}"),
            &agent,
            json!({"priority": "urgent"}),
        )
        .await)
    .await;
    for ticket in [answered, closed, raised] {
        page_sla(&app, &agent, ticket).await;
    }
    let counted = business(&app).await;
    assert!(
        counted.iter().all(|(first, _)| *first > 0),
        "wall-clock business time: {counted:?}"
    );

    // Act: urgent's targets now count a calendar closed today and the next two days.
    let (calendar, _) = closed_for_three_days(&app, &admin, "UTC").await;
    let mut on_calendar = targets;
    on_calendar["calendar_id"] = Value::String(calendar);
    assert_eq!(
        put(&app, &admin, "urgent", on_calendar).await.status(),
        StatusCode::OK
    );

    // Assert: nothing of today counts any more, in the rows and in the statistics, and a
    // rebuild (followed by the due-time step) gives the same rows and tallies.
    let started = Instant::now();
    loop {
        let now = business(&app).await;
        if now
            .iter()
            .all(|(first, resolution)| *first == 0 && *resolution <= 0)
        {
            assert_eq!(now.iter().filter(|(_, r)| *r == 0).count(), 1, "{now:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the counted figures stay those of the 24x7 clock: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = app.get("/stats", &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stats: Value = response.json().await.expect("statistics");
    for figure in ["first_response", "resolution"] {
        assert_eq!(
            stats[figure]["business_avg_seconds"].as_f64(),
            Some(0.0),
            "{stats}"
        );
    }
    let live = stored(&app).await;
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stored(&app).await, live);
}
