//! A policy edit reaches every read of an open ticket's SLA (CONTRACT 9: due times are
//! recomputed when the policy or the calendar changes): the board's cards and the statistics
//! agree with the ticket's own page, and a rebuild followed by the same step gives the same
//! rows.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::sla_policies::put;

async fn read(app: &TestApp, path: &str, user: &TestUser) -> Value {
    let response = app.get(path, user).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.expect("a JSON body")
}

/// The ticket's `sla` on its own page, once the view shows every event stored so far.
pub(crate) async fn page_sla(app: &TestApp, user: &TestUser, ticket: Uuid) -> Value {
    let version = app.stored_events(ticket).await.len();
    read(
        app,
        &format!("/tickets/{ticket}?min_version={version}"),
        user,
    )
    .await["sla"]
        .clone()
}

/// The `sla` of `ticket`'s card on the board.
async fn card_sla(app: &TestApp, user: &TestUser, ticket: Uuid) -> Value {
    let board = read(app, "/board", user).await;
    board["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["cards"].as_array().cloned().unwrap_or_default())
        .find(|card| card["id"] == ticket.to_string())
        .map(|card| card["sla"].clone())
        .expect("the ticket on the board")
}

async fn set_policy(app: &TestApp, admin: &TestUser, body: Value) {
    let response = put(app, admin, "urgent", body).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Waits until the ticket's page shows a resolution due time other than `before`'s.
async fn page_moves(app: &TestApp, user: &TestUser, ticket: Uuid, before: &Value) {
    let started = Instant::now();
    while page_sla(app, user, ticket).await["resolution_due"] == before["resolution_due"] {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the page still shows the due time of the policy before"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every card shows the resolution due time of its ticket's page.
async fn board_agrees(app: &TestApp, user: &TestUser, tickets: &[Uuid]) {
    let started = Instant::now();
    loop {
        let mut agree = true;
        for ticket in tickets {
            let page = page_sla(app, user, *ticket).await;
            let card = card_sla(app, user, *ticket).await;
            agree &= card["resolution_due"] == page["resolution_due"]
                && card["resolution_breached"] == page["resolution_breached"];
        }
        if agree {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the board still shows the recorded due times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every row's version, due times and business-time figures, and the statistics' tallies, in a
/// stable order: what a rebuild followed by the due-time step must give again.
pub(crate) async fn stored(app: &TestApp) -> (Vec<String>, Vec<String>) {
    let rows = sqlx::query_scalar(
        "SELECT concat_ws('|', ticket_id, version, first_response_due, resolution_due,
                          coalesce(first_response_business_ms, -1),
                          coalesce(resolution_business_ms, -1))
           FROM ticket_view ORDER BY ticket_id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("rows");
    let tallies = sqlx::query_scalar(
        "SELECT concat_ws('|', grain, period, metric, key, n, total) FROM ticket_stats
         UNION ALL
         SELECT concat_ws('|', 'all', metric, key, n, total) FROM ticket_totals
         UNION ALL
         SELECT concat_ws('|', grain, period, metric, key, counts) FROM ticket_histograms
          ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .expect("tallies");
    (rows, tallies)
}

#[tokio::test]
async fn a_policy_edit_moves_the_boards_due_times_and_a_rebuild_gives_the_same_rows() {
    // Arrange: urgent tickets under a policy of hours.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    set_policy(
        &app,
        &admin,
        json!({"first_response": "4h", "resolution": "1d"}),
    )
    .await;
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(
            app.create_ticket_with(&requester, json!({"priority": "urgent"}))
                .await,
        );
    }
    let before = page_sla(&app, &agent, tickets[0]).await;

    // Act: the policy now gives two days to resolve.
    set_policy(
        &app,
        &admin,
        json!({"first_response": "8h", "resolution": "2d"}),
    )
    .await;

    // Assert: the page shows new due times (the refresh follows the edit, it does not hold up
    // its answer), then the cards show the pages' ones.
    page_moves(&app, &agent, tickets[0], &before).await;
    board_agrees(&app, &agent, &tickets).await;
    let live = stored(&app).await;

    // A rebuild replays the recorded due times, then gives the open rows the ones in force.
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stored(&app).await, live);
    board_agrees(&app, &agent, &tickets).await;

    // Run again, as a second instance would on the same edit: nothing left to write.
    let loaded = ticketd::business_clock::LoadedCalendars::load(
        &app.pool,
        &app.settings.sla,
        app.settings.sla_default_calendar,
    )
    .await
    .expect("the configuration");
    let again = ticketd::sla_due_times::refresh(&app.pool, loaded.services(), None)
        .await
        .expect("a refresh");
    assert_eq!(again, 0);
    assert_eq!(stored(&app).await, live);
}

#[tokio::test]
async fn a_shorter_target_already_past_counts_in_the_statistics_as_on_the_ticket_page() {
    // Arrange: an urgent ticket answered after a minute, within its 4 h target.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    set_policy(
        &app,
        &admin,
        json!({"first_response": "4h", "resolution": "1d"}),
    )
    .await;
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let response = app
        .post(
            &format!("/tickets/{ticket}/comments"),
            &agent,
            json!({"body": "on it", "internal": false}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        page_sla(&app, &agent, ticket).await["first_response_breached"],
        false
    );
    let stats = read(&app, "/stats", &admin).await;
    assert_eq!(stats["sla"]["open_breached"], 0);
    assert_eq!(stats["sla"]["first_response_met_pct"], 100.0);

    // Act: the first response is now due within a minute, which has passed.
    set_policy(
        &app,
        &admin,
        json!({"first_response": "1m", "resolution": "1d"}),
    )
    .await;

    // Assert: the page, the board and the statistics say the same.
    let page = page_sla(&app, &agent, ticket).await;
    assert_eq!(page["first_response_breached"], true);
    board_agrees(&app, &agent, &[ticket]).await;
    let started = Instant::now();
    loop {
        let stats = read(&app, "/stats", &admin).await;
        if stats["sla"]["open_breached"] == 1 {
            assert_eq!(stats["sla"]["first_response_met_pct"], 0.0);
            assert_eq!(stats["sla"]["breaches_by_priority"]["urgent"], 1);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the statistics still count the recorded due time: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_start_on_the_configuration_the_rows_follow_walks_nothing_until_something_changes_them() {
    // Arrange: an open urgent ticket under a policy, the rows brought to it (digest "one").
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    set_policy(
        &app,
        &admin,
        json!({"first_response": "4h", "resolution": "1d"}),
    )
    .await;
    let ticket = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let loaded = ticketd::business_clock::LoadedCalendars::load(
        &app.pool,
        &app.settings.sla,
        app.settings.sla_default_calendar,
    )
    .await
    .expect("the configuration");
    let refresh = |configuration: &'static str| {
        ticketd::sla_due_times::refresh(&app.pool, loaded.services(), Some(configuration))
    };
    // The engine's own timer brings the rows to its configuration once, after the policy
    // write; wait for it, so that only this test's refreshes run from here on.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let version = ticketd::sla_timer::configuration_version(&app.pool)
            .await
            .expect("the digest");
        // The checkpoint row appears with the projector's first step.
        let marked: Option<String> = sqlx::query_scalar::<_, Option<String>>(
            "SELECT sla_configuration FROM projection_checkpoints WHERE name = 'ticket_view'",
        )
        .fetch_optional(&app.pool)
        .await
        .expect("the checkpoint")
        .flatten();
        if marked.is_some_and(|m| m.starts_with(&format!("{version}|"))) {
            break;
        }
        assert!(Instant::now() < deadline, "the timer never refreshed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refresh("one").await.expect("a refresh");
    let due = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT resolution_due FROM ticket_view WHERE ticket_id = $1",
        )
        .bind(ticket)
        .fetch_one(&app.pool)
        .await
        .expect("the row")
    };
    let right = due().await;
    // A row the step would correct, so that a walk shows.
    let wrong = || async {
        sqlx::query("UPDATE ticket_view SET resolution_due = resolution_due + interval '1 day' WHERE ticket_id = $1")
            .bind(ticket)
            .execute(&app.pool)
            .await
            .expect("the update");
    };
    wrong().await;

    // Act & assert: the same digest, nothing changed since: no walk.
    assert_eq!(refresh("one").await.expect("a refresh"), 0);
    assert_ne!(due().await, right);

    // Another digest walks and corrects the row.
    assert_eq!(refresh("two").await.expect("a refresh"), 1);
    assert_eq!(due().await, right);

    // A rebuild's swap moves the generation: the same digest walks again.
    let out = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(out.status.success(), "{out:?}");
    wrong().await;
    assert_eq!(refresh("two").await.expect("a refresh"), 1);
    assert_eq!(due().await, right);
}
