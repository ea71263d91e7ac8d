//! Links and merges (CONTRACT 10): both sides record them, merges close the source and copy its
//! comments into one internal note, both histories stay verifiable; bad input and visibility.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app, TestApp, TestUser};
use crate::queries::{close, comment, done, read};

fn types(events: &[(i64, String, Value, Value)]) -> Vec<String> {
    events.iter().map(|(_, t, _, _)| t.clone()).collect()
}

async fn link(
    app: &TestApp,
    id: Uuid,
    by: &TestUser,
    kind: &str,
    other: Uuid,
) -> reqwest::Response {
    app.post(
        &format!("/tickets/{id}/links"),
        by,
        json!({"kind": kind, "ticket_id": other}),
    )
    .await
}

async fn merge(app: &TestApp, id: Uuid, by: &TestUser, into: Uuid) -> reqwest::Response {
    app.post(&format!("/tickets/{id}/merge"), by, json!({"into": into}))
        .await
}

#[tokio::test]
async fn a_link_is_recorded_on_both_tickets_with_the_inverse_kind_and_removed_from_both() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let parent = app.create_ticket(&agent).await;
    let child = app.create_ticket(&agent).await;
    let dup = app.create_ticket(&agent).await;

    // Act
    done(link(&app, parent, &agent, "parent_of", child).await).await;
    done(link(&app, dup, &agent, "duplicate_of", parent).await).await;
    let again = link(&app, parent, &agent, "parent_of", child).await;
    let again: Value = again.json().await.unwrap();

    // Assert
    // parent: created, linked to child, linked to dup (the inverse of dup's link).
    assert_eq!(again["version"], 3, "the same link again records nothing");
    let last = |events: Vec<(i64, String, Value, Value)>| events.last().unwrap().2.clone();
    assert_eq!(
        last(app.stored_events(child).await),
        json!({"kind": "child_of", "ticket_id": parent})
    );
    assert_eq!(
        last(app.stored_events(parent).await),
        json!({"kind": "related", "ticket_id": dup})
    );
    let view = read(&app, &format!("/tickets/{parent}?min_version=3"), &agent).await;
    assert_eq!(
        view["links"],
        json!([{"kind": "parent_of", "ticket_id": child}, {"kind": "related", "ticket_id": dup}])
    );

    // Act: unlink from the child's side.
    let response = app
        .client
        .delete(app.api(&format!("/tickets/{child}/links/{parent}")))
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        types(&app.stored_events(parent).await).last().unwrap(),
        "ticket.unlinked"
    );
    assert_eq!(
        last(app.stored_events(child).await),
        json!({"kind": "child_of", "ticket_id": parent})
    );
    let view = read(&app, &format!("/tickets/{parent}?min_version=4"), &agent).await;
    assert_eq!(
        view["links"],
        json!([{"kind": "related", "ticket_id": dup}])
    );
}

#[tokio::test]
async fn merging_closes_the_source_copies_its_comments_as_one_internal_note_and_keeps_both_chains_valid(
) {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let source = app.create_ticket(&requester).await;
    let target = app.create_ticket(&requester).await;
    comment(&app, source, &requester, false).await;
    comment(&app, source, &agent, true).await;

    // Act
    let response = merge(&app, source, &agent, target).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], json!(source));
    let source_events = app.stored_events(source).await;
    assert_eq!(
        types(&source_events)[3..],
        ["ticket.merged", "ticket.closed"]
    );
    assert_eq!(source_events[3].2, json!({"into": target}));
    let target_events = app.stored_events(target).await;
    assert_eq!(
        types(&target_events)[1..],
        ["ticket.merged_from", "ticket.commented"]
    );
    let number = app.stored_events(source).await[0].2["number"].clone();
    assert_eq!(
        target_events[1].2,
        json!({"ticket_id": source, "number": number})
    );
    let note = &target_events[2].2;
    assert_eq!(note["internal"], true);
    let text = note["body"].as_str().unwrap();
    assert!(
        text.contains(&format!("a note by {}", requester.name)),
        "{text}"
    );
    assert!(
        text.contains(&format!("a note by {}", agent.name)),
        "{text}"
    );
    for id in [source, target] {
        let verified = read(&app, &format!("/tickets/{id}/verify"), &auditor).await;
        assert_eq!(verified["valid"], true, "{verified}");
    }
    let view = read(
        &app,
        &format!("/tickets/{source}?min_version=5"),
        &requester,
    )
    .await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["merged_into"], json!(target));
    let mine = read(
        &app,
        &format!("/tickets/{target}?min_version=3"),
        &requester,
    )
    .await;
    assert_eq!(
        mine["comments"].as_array().unwrap().len(),
        0,
        "the requester never sees the internal note"
    );
    let reopen = app
        .post(&format!("/tickets/{source}/reopen"), &agent, json!({}))
        .await;
    problem(reopen, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn merges_into_itself_a_closed_or_merged_ticket_and_from_a_closed_one_are_conflicts() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let a = app.create_ticket(&agent).await;
    let b = app.create_ticket(&agent).await;
    let c = app.create_ticket(&agent).await;
    let closed = app.create_ticket(&agent).await;
    close(&app, closed, &agent).await;
    done(merge(&app, a, &agent, b).await).await;
    let before = app.event_count().await;

    // Act / Assert
    problem(merge(&app, c, &agent, c).await, StatusCode::CONFLICT).await;
    problem(merge(&app, c, &agent, closed).await, StatusCode::CONFLICT).await;
    problem(merge(&app, closed, &agent, c).await, StatusCode::CONFLICT).await;
    // a is merged into b: b into a would be a cycle.
    problem(merge(&app, b, &agent, a).await, StatusCode::CONFLICT).await;
    problem(merge(&app, a, &agent, c).await, StatusCode::CONFLICT).await;
    problem(
        merge(&app, c, &agent, Uuid::now_v7()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.event_count().await, before, "nothing stored");
}

#[tokio::test]
async fn linking_to_a_ticket_the_caller_cannot_see_is_not_found_and_bad_links_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let rita = app.user("requester").await;
    let otto = app.user("requester").await;
    let agent = app.user("agent").await;
    let mine = app.create_ticket(&rita).await;
    let also_mine = app.create_ticket(&rita).await;
    let others = app.create_ticket(&otto).await;
    let before = app.event_count().await;

    // Act / Assert
    problem(
        link(&app, mine, &rita, "related", others).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        link(&app, others, &rita, "related", mine).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        link(&app, mine, &agent, "related", Uuid::now_v7()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let body = problem(
        link(&app, mine, &agent, "sibling_of", also_mine).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&body), ["kind"]);
    let body = problem(
        link(&app, mine, &agent, "related", mine).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&body), ["ticket_id"]);
    problem(
        merge(&app, mine, &rita, also_mine).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(app.event_count().await, before, "nothing stored");

    // A requester links their own tickets; an agent's link to another's ticket stays hidden.
    done(link(&app, mine, &rita, "related", also_mine).await).await;
    done(link(&app, mine, &agent, "related", others).await).await;
    let view = read(&app, &format!("/tickets/{mine}?min_version=3"), &rita).await;
    assert_eq!(
        view["links"],
        json!([{"kind": "related", "ticket_id": also_mine}])
    );
    let history = read(&app, &format!("/tickets/{mine}/history"), &rita).await;
    let seen: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        ["ticket.created"],
        "a requester's history names no other ticket"
    );
    let staff = read(&app, &format!("/tickets/{mine}/history"), &agent).await;
    assert_eq!(staff["events"].as_array().unwrap().len(), 3);
}
