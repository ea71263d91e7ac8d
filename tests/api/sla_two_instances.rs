//! Rows changed without an event reach every projector's cache. Two engine instances project
//! the ticket view in turns: after an SLA policy edit one instance rewrites the stored due
//! times, and the other's projector, which cached the row before the edit, must not write the
//! old due times back when it applies the next event. Likewise a rebuild's swap: the live
//! projector applies the next event to the swapped-in row, not to the one it cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use ticket_projections::read_models::tickets::{TicketViewProjection, NAME};
use ticket_projections::{Projection, Runner};
use uuid::Uuid;

use crate::helpers::{spawn_app, test_pool, TestApp};
use crate::sla_due_refresh::{page_sla, stored};
use crate::sla_policies::put;

/// The `application_name` of the second instance's connections.
const SECOND: &str = "second_instance";

/// Lets only connections named `owner` move the ticket view's checkpoint (`None`: anyone), so
/// that the test decides which instance's projector applies an event. Other steps fail and
/// roll back, and their projector retries later, as after any failed step.
async fn only_projector(pool: &PgPool, owner: Option<&str>) {
    sqlx::query("DELETE FROM test_projector_gate")
        .execute(pool)
        .await
        .expect("open the gate");
    if let Some(owner) = owner {
        sqlx::query("INSERT INTO test_projector_gate (owner) VALUES ($1)")
            .bind(owner)
            .execute(pool)
            .await
            .expect("close the gate");
    }
}

async fn install_gate(pool: &PgPool) {
    for statement in [
        "CREATE TABLE test_projector_gate (owner text NOT NULL)",
        "CREATE FUNCTION test_projector_gate() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.name = 'ticket_view' AND NEW.position <> OLD.position AND EXISTS (
                    SELECT 1 FROM test_projector_gate
                     WHERE owner <> current_setting('application_name')) THEN
                 RAISE EXCEPTION 'not this instance''s turn';
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER test_projector_gate BEFORE UPDATE ON projection_checkpoints
         FOR EACH ROW EXECUTE FUNCTION test_projector_gate()",
    ] {
        sqlx::query(statement)
            .execute(pool)
            .await
            .expect("install the gate");
    }
}

/// Steps `runner`'s ticket view until it has applied every event stored so far.
async fn project_all(runner: &Runner, pool: &PgPool) {
    let started = Instant::now();
    loop {
        runner.step(NAME).await.expect("a step");
        let (checkpoint, head): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT position FROM projection_checkpoints WHERE name = 'ticket_view'),
                    (SELECT coalesce(max(position), 0)::bigint FROM events)",
        )
        .fetch_one(pool)
        .await
        .expect("positions");
        let unpositioned: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL)")
                .fetch_one(pool)
                .await
                .expect("unpositioned events");
        if checkpoint == head && !unpositioned {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the second instance does not catch up ({checkpoint} of {head})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn resolution_due(pool: &PgPool, ticket: Uuid) -> String {
    sqlx::query_scalar("SELECT resolution_due::text FROM ticket_view WHERE ticket_id = $1")
        .bind(ticket)
        .fetch_one(pool)
        .await
        .expect("the row")
}

async fn comment(app: &TestApp, user: &crate::helpers::TestUser, ticket: Uuid, internal: bool) {
    let response = app
        .post(
            &format!("/tickets/{ticket}/comments"),
            user,
            json!({"body": "noted", "internal": internal}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn a_due_time_edit_reaches_the_projector_of_another_instance() {
    // Arrange: an urgent ticket whose row the second instance's projector holds in memory.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let policy = |resolution: &str| json!({"first_response": "4h", "resolution": resolution});
    assert_eq!(
        put(&app, &admin, "urgent", policy("1d")).await.status(),
        StatusCode::OK
    );
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    page_sla(&app, &agent, ticket).await;
    install_gate(&app.pool).await;
    let second_pool = test_pool(&format!("{}?application_name={SECOND}", app.database_url)).await;
    let calendars = ticketd::business_clock::LoadedCalendars::load(
        &app.pool,
        &app.settings.sla,
        app.settings.sla_default_calendar,
    )
    .await
    .expect("the configuration");
    let projection: Arc<dyn Projection> = Arc::new(TicketViewProjection::new(Arc::new(calendars)));
    let second = Runner::new(second_pool, vec![projection]);
    only_projector(&app.pool, Some(SECOND)).await;
    comment(&app, &agent, ticket, false).await;
    project_all(&second, &app.pool).await;
    let cached = resolution_due(&app.pool, ticket).await;

    // Act: the policy is edited through the first instance, which rewrites the stored due
    // times; then the second instance applies the ticket's next event.
    assert_eq!(
        put(&app, &admin, "urgent", policy("2d")).await.status(),
        StatusCode::OK
    );
    let started = Instant::now();
    while resolution_due(&app.pool, ticket).await == cached {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the first instance does not rewrite the due times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    comment(&app, &agent, ticket, true).await;
    project_all(&second, &app.pool).await;

    // Assert: the row keeps the due time in force, and rows and tallies are what a rebuild
    // followed by the due-time step makes of the same events.
    let page = page_sla(&app, &agent, ticket).await;
    let row: String = sqlx::query_scalar(
        "SELECT to_char(resolution_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
           FROM ticket_view WHERE ticket_id = $1",
    )
    .bind(ticket)
    .fetch_one(&app.pool)
    .await
    .expect("the row");
    assert_eq!(page["resolution_due"], row.as_str());
    let live = stored(&app).await;
    only_projector(&app.pool, None).await;
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stored(&app).await, live);
}

#[tokio::test]
async fn a_rebuild_swap_makes_the_live_projector_read_the_new_tables() {
    // Arrange: the live projector holds a row with the due times of an edited policy.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let policy = |resolution: &str| json!({"first_response": "4h", "resolution": resolution});
    assert_eq!(
        put(&app, &admin, "urgent", policy("1d")).await.status(),
        StatusCode::OK
    );
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    page_sla(&app, &agent, ticket).await;
    let recorded = resolution_due(&app.pool, ticket).await;
    assert_eq!(
        put(&app, &admin, "urgent", policy("2d")).await.status(),
        StatusCode::OK
    );
    let started = Instant::now();
    while resolution_due(&app.pool, ticket).await == recorded {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the due times are not rewritten"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    comment(&app, &agent, ticket, true).await;
    page_sla(&app, &agent, ticket).await;

    // Act: a rebuild swaps in rows replayed from the events (the due times they recorded),
    // and the live projector applies the ticket's next event.
    let projection = crate::helpers::read_models()
        .into_iter()
        .find(|p| p.name() == NAME)
        .expect("the ticket view");
    ticket_projections::rebuild::rebuild(&app.pool, projection.as_ref())
        .await
        .expect("a rebuild");
    comment(&app, &agent, ticket, true).await;
    page_sla(&app, &agent, ticket).await;

    // Assert: the event was applied to the swapped-in row, not to the one cached before; the
    // due-time step then gives what a full rebuild gives.
    assert_eq!(resolution_due(&app.pool, ticket).await, recorded);
    let calendars = ticketd::business_clock::LoadedCalendars::load(
        &app.pool,
        &app.settings.sla,
        app.settings.sla_default_calendar,
    )
    .await
    .expect("the configuration");
    ticketd::sla_due_times::refresh(&app.pool, calendars.services(), None)
        .await
        .expect("the due-time step");
    let live = stored(&app).await;
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stored(&app).await, live);
}
