//! Rules through a crash: the engine runs as a child process, killed with SIGKILL while its
//! rule processor is acting; a new one finishes the work, and each (rule, event) acted once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::test_pool;
use crate::webhook_restarts::{engine, free_port, open_tickets, user, Database};

#[tokio::test]
async fn each_rule_acts_once_per_event_through_a_kill_9() {
    let database = Database::create().await;
    let pool = test_pool(&database.url).await;
    let admin = user(&database, "admin").await;
    let requester = user(&database, "requester").await;
    let agent = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, name, role, origin) VALUES ($1, $2, 'Ana', 'agent', 'cli')",
    )
    .bind(agent)
    .bind(format!("ana.{}@example.com", agent.simple()))
    .execute(&pool)
    .await
    .expect("insert the agent");

    let port = free_port().await;
    let mut first = engine(&database, port).await;
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/rules"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "triage", "when": {"event_types": ["ticket.created"]},
                      "then": [{"assign": agent}, {"set_priority": "high"},
                               {"comment": "Seen: #{{ticket.number}}", "internal": true}]}),
        )
        .send()
        .await
        .expect("POST /rules");
    assert_eq!(response.status(), StatusCode::CREATED);
    let mut tickets = open_tickets(port, &requester, 40).await;
    // Kill as soon as the processor has started acting.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let acted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE metadata->>'actorrole' = 'automation'",
        )
        .fetch_one(&pool)
        .await
        .expect("count rule events");
        if acted > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no rule acted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("the engine exits");

    let port = free_port().await;
    let _second = engine(&database, port).await;
    tickets.extend(open_tickets(port, &requester, 5).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let expected = tickets.len() as i64 * 3;
    loop {
        let acted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE metadata->>'actorrole' = 'automation'",
        )
        .fetch_one(&pool)
        .await
        .expect("count rule events");
        if acted >= expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{acted} of {expected} rule events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything still to come would be a repeat: give it the time to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for created in &tickets {
        let ticket = created.trim_end_matches(":1");
        let kinds: Vec<(String, Value)> = sqlx::query_as(
            "SELECT event_type, metadata FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(ticket)
        .fetch_all(&pool)
        .await
        .expect("read the ticket's events");
        let types: Vec<&str> = kinds.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(
            types,
            [
                "ticket.created",
                "ticket.assigned",
                "ticket.updated",
                "ticket.commented"
            ],
            "ticket {ticket}"
        );
    }
}
