//! CONTRACT 7: the requester statistics of `GET /stats`, summed from what the projection keeps
//! per requester, stay exact across a merge and in any window.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::people::{intake, integration, json_of, ticket_body};
use crate::queries::wire;

/// `path`'s answer once it counts `total` tickets.
async fn stats_with(app: &TestApp, admin: &TestUser, path: &str, total: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = json_of(app.get(path, admin).await, StatusCode::OK).await;
        if stats["tickets"]["total"] == total {
            return stats;
        }
        assert!(Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn requester_statistics_count_a_merged_user_for_the_kept_one_in_every_window() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let (_, key) = integration(&app, &admin, "email").await;
    let mut ids = Vec::new();
    for requester in [
        json!({"name": "Hal", "email": "hal@example.com"}),
        json!({"name": "Hal", "phone": "+5511955554444"}),
        json!({"name": "Kim", "email": "kim@example.com"}),
    ] {
        let created = json_of(
            intake(&app, &key, "/intake/tickets", ticket_body(requester)).await,
            StatusCode::CREATED,
        )
        .await;
        ids.push(created["requester_id"].as_str().unwrap().to_string());
    }
    let before = stats_with(&app, &admin, "/stats", 3).await;
    assert_eq!(before["requesters"]["unique"], 3);
    assert_eq!(before["requesters"]["recurring"], 0);

    let (keep, dup) = (&ids[0], &ids[1]);
    json_of(
        app.post(
            &format!("/users/{dup}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    // A window starting within today reads the tickets of a partial day; one starting days
    // before reads daily rows; all time reads the kept counts: each counts the merged user's
    // ticket for the kept one.
    let now = Utc::now();
    let paths = [
        format!("/stats?from={}", wire(now - chrono::Duration::hours(1))),
        format!("/stats?from={}", wire(now - chrono::Duration::days(40))),
        "/stats".to_string(),
    ];
    for path in paths {
        let stats = stats_with(&app, &admin, &path, 3).await;
        let requesters = &stats["requesters"];
        assert_eq!(requesters["unique"], 2, "{path}: {requesters}");
        assert_eq!(requesters["recurring"], 1, "{path}: {requesters}");
        assert_eq!(requesters["top"][0]["id"], keep.as_str());
        assert_eq!(requesters["top"][0]["name"], "Hal");
        assert_eq!(requesters["top"][0]["tickets"], 2);
        assert_eq!(requesters["top"][1]["name"], "Kim");
        assert_eq!(requesters["top"].as_array().unwrap().len(), 2);
        assert_eq!(stats["channels"]["email"]["tickets"], 3);
    }
    let empty = format!("/stats?from={}", wire(now + chrono::Duration::hours(1)));
    let stats = stats_with(&app, &admin, &empty, 0).await;
    assert_eq!(stats["requesters"]["unique"], 0);
    assert_eq!(stats["requesters"]["top"], json!([]));
}
