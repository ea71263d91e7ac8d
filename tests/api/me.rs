//! Per-user queries (CONTRACT 2.5): `/me` counts, `/me/tickets`, and the unread rule.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::queries::{assign, close, comment, ids, read, settled, tick};

async fn unread(app: &TestApp, user: &TestUser) -> i64 {
    read(app, "/me", user).await["unread"].as_i64().unwrap()
}

/// Whether `/me/tickets` shows the user's only ticket unread.
async fn listed_unread(app: &TestApp, user: &TestUser) -> bool {
    let mine = read(app, "/me/tickets", user).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");
    mine["items"][0]["unread"].as_bool().unwrap()
}

/// Marks a ticket read once the read models show every event stored so far.
async fn mark_read(app: &TestApp, id: Uuid, user: &TestUser) {
    let path = settled(app, &format!("/tickets/{id}/read")).await;
    let response = app.post(&path, user, json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().contains_key("x-projection-position"));
}

#[tokio::test]
async fn me_counts_requested_and_assigned_tickets_by_status() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let t1 = app.create_ticket(&requester).await;
    let t2 = app.create_ticket(&requester).await;
    let t3 = app.create_ticket(&requester).await;
    let t4 = app.create_ticket(&agent).await;
    assign(&app, t2, &agent, &agent).await;
    assign(&app, t3, &agent, &agent).await;
    close(&app, t3, &agent).await;
    let _ = (t1, t4);

    // Act
    let as_requester = read(&app, "/me", &requester).await;
    let as_agent = read(&app, "/me", &agent).await;
    let auditor = app.user("auditor").await;
    let as_auditor = read(&app, "/me", &auditor).await;

    // Assert
    assert_eq!(
        as_requester,
        json!({"requested": {"open": 1, "in_progress": 1, "pending": 0, "closed": 1},
               "assigned": {"open": 0, "in_progress": 0, "pending": 0, "closed": 0},
               "unread": 2}),
        "t2 and t3 were changed by the agent; t1 only by the requester"
    );
    assert_eq!(
        as_agent,
        json!({"requested": {"open": 1, "in_progress": 0, "pending": 0, "closed": 0},
               "assigned": {"open": 0, "in_progress": 1, "pending": 0, "closed": 1},
               "unread": 2}),
        "t2 and t3 were opened by the requester; t4 only by the agent"
    );
    assert_eq!(
        as_auditor,
        json!({"requested": {"open": 0, "in_progress": 0, "pending": 0, "closed": 0},
               "assigned": {"open": 0, "in_progress": 0, "pending": 0, "closed": 0},
               "unread": 0})
    );
}

#[tokio::test]
async fn a_ticket_turns_unread_when_someone_else_acts_and_read_when_marked() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&requester).await;
    assert_eq!(unread(&app, &requester).await, 0, "only their own creation");

    // Act and assert, step by step
    comment(&app, id, &agent, false).await;
    assert_eq!(unread(&app, &requester).await, 1, "the agent commented");
    let mine = read(&app, "/me/tickets", &requester).await;
    assert_eq!(mine["items"][0]["unread"], true);

    mark_read(&app, id, &requester).await;
    assert_eq!(unread(&app, &requester).await, 0, "marked read");
    let mine = read(&app, "/me/tickets", &requester).await;
    assert_eq!(mine["items"][0]["unread"], false);

    comment(&app, id, &requester, false).await;
    assert_eq!(unread(&app, &requester).await, 0, "their own comment");
    assert!(!listed_unread(&app, &requester).await, "their own comment");

    comment(&app, id, &agent, false).await;
    assert_eq!(
        unread(&app, &requester).await,
        1,
        "the agent commented again"
    );
    mark_read(&app, id, &requester).await;
    mark_read(&app, id, &requester).await;
    assert_eq!(
        unread(&app, &requester).await,
        0,
        "marking twice changes nothing"
    );
}

#[tokio::test]
async fn an_internal_comment_is_unread_for_agents_but_not_for_the_requester() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let colleague = app.user("agent").await;
    let id = app.create_ticket(&requester).await;
    assign(&app, id, &agent, &agent).await;
    mark_read(&app, id, &requester).await;
    mark_read(&app, id, &agent).await;
    assert_eq!(
        (unread(&app, &requester).await, unread(&app, &agent).await),
        (0, 0)
    );

    // Act
    comment(&app, id, &colleague, true).await;

    // Assert: in the counts and in the list alike.
    assert_eq!(unread(&app, &requester).await, 0, "requesters never see it");
    assert!(
        !listed_unread(&app, &requester).await,
        "requesters never see it"
    );
    assert_eq!(unread(&app, &agent).await, 1, "the assignee sees it");
    assert!(listed_unread(&app, &agent).await, "the assignee sees it");
    comment(&app, id, &colleague, false).await;
    assert_eq!(unread(&app, &requester).await, 1, "a public comment");
    assert!(listed_unread(&app, &requester).await, "a public comment");
}

#[tokio::test]
async fn me_tickets_lists_by_role_and_unread_state() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let assigned = app.create_ticket(&requester).await;
    tick().await;
    let requested = app.create_ticket(&agent).await;
    tick().await;
    let unrelated = app.create_ticket(&requester).await;
    assign(&app, assigned, &agent, &agent).await;
    let _ = unrelated;

    // Act
    let all = read(&app, "/me/tickets", &agent).await;
    let cases = [
        ("role=requested", vec![requested]),
        ("role=assigned", vec![assigned]),
        ("unread=true", vec![assigned]),
        ("unread=false", vec![requested]),
        ("role=requested&unread=true", vec![]),
        ("sort=created_at", vec![assigned, requested]),
        ("status=in_progress", vec![assigned]),
    ];

    // Assert
    assert_eq!(ids(&all["items"]), [requested, assigned]);
    assert_eq!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["unread"].clone())
            .collect::<Vec<Value>>(),
        [json!(false), json!(true)],
        "the requester opened the assigned ticket"
    );
    for (query, expected) in cases {
        let page = read(&app, &format!("/me/tickets?{query}"), &agent).await;
        assert_eq!(ids(&page["items"]), expected, "/me/tickets?{query}");
    }
    let invalid = app
        .get(
            "/me/tickets?role=watching&unread=maybe&requester_id=x",
            &agent,
        )
        .await;
    let body = problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["requester_id", "role", "unread"]);
}

/// Every page of `/me/tickets` in `sort`, `limit` at a time.
async fn my_pages(app: &TestApp, user: &TestUser, sort: &str, limit: usize) -> Vec<Vec<Uuid>> {
    let mut pages = Vec::new();
    let mut path = format!("/me/tickets?sort={sort}&limit={limit}");
    loop {
        let page = read(app, &path, user).await;
        pages.push(ids(&page["items"]));
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/me/tickets?sort={sort}&limit={limit}&cursor={next}"),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn an_agents_requested_and_assigned_tickets_page_together_each_once() {
    // Arrange: assigned tickets and requested ones interleaved in creation order, one both.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let assigned_first = app.create_ticket(&requester).await;
    tick().await;
    let requested = app.create_ticket(&agent).await;
    tick().await;
    let both = app.create_ticket(&agent).await;
    tick().await;
    let unrelated = app.create_ticket(&requester).await;
    tick().await;
    let assigned_last = app.create_ticket(&requester).await;
    for id in [assigned_first, both, assigned_last] {
        assign(&app, id, &agent, &agent).await;
    }
    let _ = unrelated;
    let newest_first = vec![assigned_last, both, requested, assigned_first];

    for (sort, expected) in [
        ("-created_at", newest_first.clone()),
        ("created_at", newest_first.iter().rev().copied().collect()),
    ] {
        // Act
        let by_one = my_pages(&app, &agent, sort, 1).await;
        let by_three = my_pages(&app, &agent, sort, 3).await;

        // Assert
        assert_eq!(by_one.concat(), expected, "{sort}, pages of 1");
        assert_eq!(
            by_one.len(),
            4,
            "{sort}: the last page says there is no next"
        );
        assert_eq!(
            by_three,
            [expected[..3].to_vec(), expected[3..].to_vec()],
            "{sort}"
        );
    }
    let assigned = read(&app, "/me/tickets?role=assigned", &agent).await;
    assert_eq!(
        ids(&assigned["items"]),
        [assigned_last, both, assigned_first]
    );
}

#[tokio::test]
async fn marking_a_ticket_the_caller_may_not_read_is_a_404() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.user("requester").await;
    let stranger = app.user("requester").await;
    let id = app.create_ticket(&owner).await;

    // Act
    let theirs = app
        .post(
            &settled(&app, &format!("/tickets/{id}/read")).await,
            &stranger,
            json!({}),
        )
        .await;
    let missing = app
        .post(
            &format!("/tickets/{}/read", Uuid::now_v7()),
            &stranger,
            json!({}),
        )
        .await;
    let malformed = app.post("/tickets/42/read", &stranger, json!({})).await;

    // Assert
    for response in [theirs, missing, malformed] {
        problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn the_me_channel_finds_a_users_tickets_in_the_store_through_indexes() {
    // Arrange: a ticket requested by one user and assigned to another.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&requester).await;
    assign(&app, id, &agent, &agent).await;
    let mut tx = app.pool.begin().await.unwrap();
    // A handful of rows is read fastest whole; what matters is that the index can answer.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();

    // Act
    let mut plans = Vec::new();
    for (sql, user) in [
        (ticketd::views::REQUESTED_BY, requester.id),
        (ticketd::views::ASSIGNED_TO, agent.id),
    ] {
        let explain = format!("EXPLAIN {sql}");
        let mut query = sqlx::query_scalar::<_, String>(&explain);
        if sql.contains("$3") {
            query = query.bind("ticket").bind(user.to_string()).bind(i64::MAX);
        } else {
            query = query.bind(user.to_string());
        }
        plans.push(query.fetch_all(&mut *tx).await.unwrap().join("\n"));
    }

    // Assert
    assert!(plans[0].contains("events_ticket_requester"), "{}", plans[0]);
    assert!(plans[1].contains("events_ticket_assignee"), "{}", plans[1]);
}

/// The tickets assigned to `user` at every position up to the head, by the ticket view (set
/// right for the positions in between) and by the store alone.
async fn assigned_both_ways(
    app: &TestApp,
    user: &TestUser,
    head: i64,
) -> Vec<(HashSet<Uuid>, HashSet<Uuid>)> {
    let mut answers = Vec::new();
    for position in 0..=head {
        let view = ticketd::views::tickets_assigned_to(&app.pool, user.id, position)
            .await
            .unwrap();
        let store = ticketd::views::tickets_assigned_to_in_store(&app.pool, user.id, position)
            .await
            .unwrap();
        answers.push((view, store));
    }
    answers
}

#[tokio::test]
async fn the_me_channel_reads_assignments_from_the_ticket_view_as_of_any_position() {
    // Arrange: two tickets assigned and reassigned between two agents.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let (a, b) = (app.user("agent").await, app.user("agent").await);
    let t1 = app.create_ticket(&requester).await;
    let t2 = app.create_ticket(&requester).await;
    assign(&app, t1, &a, &a).await;
    assign(&app, t2, &a, &b).await;
    assign(&app, t1, &a, &b).await;
    comment(&app, t2, &requester, false).await;
    assign(&app, t2, &b, &a).await;
    let settled_at = crate::queries::head(&app).await;
    read(&app, "/me", &a).await;

    // Act 1: the view stands at the head; every earlier position is asked for.
    let behind = [
        assigned_both_ways(&app, &a, settled_at).await,
        assigned_both_ways(&app, &b, settled_at).await,
    ];

    // Act 2: the view is held back (its projector waits for its lock) while more happens.
    let mut hold = app.pool.begin().await.unwrap();
    // The runner's lock of a projection: class "tp", then the hashed name.
    sqlx::query("SELECT pg_advisory_xact_lock(29808, hashtext('ticket_view'))")
        .execute(&mut *hold)
        .await
        .unwrap();
    assign(&app, t1, &b, &a).await;
    assign(&app, t2, &a, &b).await;
    let head = crate::ordering::wait_all_positioned(&app.pool).await;
    let view_at: i64 = sqlx::query_scalar(
        "SELECT position FROM projection_checkpoints WHERE name = 'ticket_view'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let ahead = [
        assigned_both_ways(&app, &a, head).await,
        assigned_both_ways(&app, &b, head).await,
    ];
    hold.rollback().await.unwrap();

    // Assert
    assert!(view_at < head, "the view was behind ({view_at} < {head})");
    for answers in behind.iter().chain(ahead.iter()) {
        for (position, (view, store)) in answers.iter().enumerate() {
            assert_eq!(view, store, "at position {position}");
        }
    }
    let last = |answers: &[(HashSet<Uuid>, HashSet<Uuid>)]| answers.last().unwrap().0.clone();
    assert_eq!(last(&ahead[0]), HashSet::from([t1]));
    assert_eq!(last(&ahead[1]), HashSet::from([t2]));
    assert_eq!(last(&behind[0]), HashSet::from([t2]));
    assert_eq!(last(&behind[1]), HashSet::from([t1]));
}
