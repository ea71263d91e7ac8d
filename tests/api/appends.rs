//! Appends are batched across commands (one statement stores the events of many). A batch that
//! Postgres refuses, because another instance took one of its tickets' next version, must still
//! give every command its own answer: the others stored, the loser re-decided on fresh state.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_second_instance};

#[tokio::test]
async fn commands_racing_across_instances_are_all_stored_once_in_dense_order() {
    // Arrange: two instances on one store, each with its own cache of the same tickets.
    let app = Arc::new(spawn_app().await);
    let second = spawn_second_instance(&app).await;
    let agent = app.user("agent").await;
    let mut tickets = Vec::new();
    for _ in 0..6 {
        tickets.push(app.create_ticket(&agent).await);
    }
    let second_base = format!("http://127.0.0.1:{}/api/v1", second.port);

    // Act: on every ticket, one writer per instance, all at once.
    let mut writers = Vec::new();
    for (t, id) in tickets.iter().enumerate() {
        for base in [app.api(""), second_base.clone()] {
            let (app, agent, id) = (app.clone(), agent.clone(), *id);
            writers.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for i in 0..8 {
                    let response = app
                        .client
                        .post(format!("{base}/tickets/{id}/comments"))
                        .bearer_auth(&agent.token)
                        .json(&json!({"body": format!("ticket {t}, comment {i} via {base}")}))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(response.status());
                }
                statuses
            }));
        }
    }
    let mut statuses = Vec::new();
    for writer in writers {
        statuses.extend(writer.await.unwrap());
    }

    // Assert: every command answered 200, and each ticket holds its 16 comments once, chained.
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let auditor = app.user("auditor").await;
    for id in &tickets {
        let stored = app.stored_events(*id).await;
        let sequences: Vec<i64> = stored.iter().map(|(s, ..)| *s).collect();
        assert_eq!(sequences, (1..=17).collect::<Vec<_>>());
        let bodies: std::collections::HashSet<&str> = stored
            .iter()
            .filter_map(|(_, _, payload, _)| payload["body"].as_str())
            .collect();
        assert_eq!(bodies.len(), 16, "no comment stored twice");
        let verified: Value = app
            .get(&format!("/tickets/{id}/verify"), &auditor)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(verified["valid"], true);
    }
    second.stop().await;
}
