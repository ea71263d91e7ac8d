//! The live board: pushed events move cards and counts on screen without fetching the board
//! again; only a reconnection does. Fifty viewers follow it together.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use serde_json::json;
use ticketd::domain::Role;

use super::browser::{finish, person, Browser, Driver};
use super::people::wait_until;
use crate::helpers::{spawn_app, TestApp};
use crate::queries::{assign, close};
use crate::ws::{connect, next, subscribe};

/// How many times the engine answered `GET /board`.
async fn board_fetches(app: &TestApp) -> u64 {
    app.root_text("/metrics")
        .await
        .lines()
        .filter(|l| {
            l.starts_with("ticketd_http_request_duration_seconds_count{")
                && l.contains("route=\"/api/v1/board\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The column headings and the card titles of each column, top to bottom.
async fn columns(alan: &Browser) -> Result<Vec<(String, Vec<String>)>> {
    let shown = alan
        .client
        .execute(
            "return [...document.querySelectorAll('section.column')].map(s => [
                 s.querySelector('h2').textContent,
                 [...s.querySelectorAll('.card-title')].map(c => c.textContent)])",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(shown)?)
}

fn column(heading: &str, titles: &[&str]) -> (String, Vec<String>) {
    (
        heading.to_string(),
        titles.iter().map(|t| t.to_string()).collect(),
    )
}

#[tokio::test]
async fn the_live_board_applies_pushed_events_and_fetches_again_only_after_a_reconnection() {
    // Arrange
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = app.user("requester").await;
    app.create_ticket_with(&requester, json!({"title": "Before", "priority": "low"}))
        .await;
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.by_role("link", "Before").await?;
        alan.by_role("status", "Live").await?;
        // The fetch after the subscription (to cover what happened before it) has been made.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let fetched = board_fetches(&app).await;

        // Act: tickets arrive and move while the board is on screen.
        let low = app
            .create_ticket_with(&requester, json!({"title": "Mouse", "priority": "low"}))
            .await;
        let urgent = app
            .create_ticket_with(
                &requester,
                json!({"title": "Server down", "priority": "urgent"}),
            )
            .await;
        let medium = app
            .create_ticket_with(
                &requester,
                json!({"title": "Printer", "priority": "medium"}),
            )
            .await;
        assign(&app, urgent, &agent.user, &agent.user).await;
        close(&app, low, &agent.user).await;
        let r = app
            .patch(
                &format!("/tickets/{medium}"),
                &agent.user,
                json!({"priority": "high", "title": "Printer on fire"}),
            )
            .await;
        ensure!(r.status().is_success(), "update: {}", r.status());

        // Assert: the board shows it all, in the board's order, with the counts.
        let expected = vec![
            column("Open: 2", &["Printer on fire", "Before"]),
            column("In progress: 1", &["Server down"]),
            column("Pending: 0", &[]),
            column("Closed: 1", &["Mouse"]),
        ];
        wait_until(|| async { Ok(columns(&alan).await? == expected) })
            .await
            .map_err(|e| anyhow::anyhow!("{e}: {:?}", expected))?;
        ensure!(
            board_fetches(&app).await == fetched,
            "the events were applied without fetching the board"
        );
        alan.accessible("live-board").await?;

        // A dropped connection resumes and fetches the board once more (answered 304 or not),
        // and what is shown stays the same.
        alan.client
            .execute("window.ticketdLive.drop()", vec![])
            .await?;
        wait_until(|| async { Ok(board_fetches(&app).await > fetched) }).await?;
        alan.by_role("status", "Live").await?;
        wait_until(|| async { Ok(columns(&alan).await? == expected) }).await?;
        Ok(())
    }
    .await;
    finish("live_board", outcome, vec![("agent", alan)]).await;
}

/// Viewers following the board beside the browser: WebSocket clients subscribed to `board`, as
/// the web app is, each having fetched the board once as it does.
const VIEWERS: usize = 49;
/// Commands at 20 per second, for two seconds.
const COMMANDS: usize = 40;

#[tokio::test]
async fn fifty_viewers_follow_the_live_board_while_commands_arrive_each_current_within_a_second() {
    // Arrange: one browser on the live board and 49 WebSocket viewers.
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = app.user("requester").await;
    let mut viewers = Vec::with_capacity(VIEWERS);
    for _ in 0..VIEWERS {
        let mut ws = connect(app.port, &agent.user).await;
        subscribe(&mut ws, &["board"], None).await;
        let board = app.get("/board", &agent.user).await;
        assert!(board.status().is_success());
        viewers.push(ws);
    }
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.by_role("status", "Live").await?;
        // Each viewer notes when the creation of each ticket reached it.
        let followers: Vec<_> = viewers
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    let mut seen: HashMap<String, Instant> = HashMap::new();
                    while seen.len() < COMMANDS {
                        let frame = next(&mut ws).await;
                        if frame["type"] == "event" {
                            let subject = frame["event"]["subject"].as_str().unwrap_or_default();
                            seen.entry(subject.to_string()).or_insert_with(Instant::now);
                        }
                    }
                    seen
                })
            })
            .collect();

        // Act: a ticket every 50 ms.
        let mut answered = Vec::with_capacity(COMMANDS);
        let mut pace = tokio::time::interval(Duration::from_millis(50));
        for i in 0..COMMANDS {
            pace.tick().await;
            let id = app
                .create_ticket_with(&requester, json!({"title": format!("Viewer test {i}")}))
                .await;
            answered.push((id.to_string(), Instant::now()));
        }
        let last_answered = answered
            .last()
            .map(|(_, at)| *at)
            .unwrap_or_else(Instant::now);
        let last_title = format!("Viewer test {}", COMMANDS - 1);
        wait_until(|| async {
            Ok(columns(&alan)
                .await?
                .iter()
                .any(|(_, titles)| titles.contains(&last_title)))
        })
        .await?;
        let browser_late = last_answered.elapsed();

        // Assert: every viewer had every ticket within a second of its command's answer.
        let mut worst = Duration::ZERO;
        for follower in followers {
            let seen = follower.await?;
            for (id, at) in &answered {
                let reached = seen.get(id).copied().unwrap_or_else(Instant::now);
                worst = worst.max(reached.saturating_duration_since(*at));
            }
        }
        ensure!(
            worst <= Duration::from_secs(1),
            "a viewer was {worst:?} behind"
        );
        // The browser is polled every 100 ms through WebDriver: its figure includes that.
        ensure!(
            browser_late <= Duration::from_millis(1_100),
            "the browser showed the last ticket {browser_late:?} after its command"
        );
        Ok(())
    }
    .await;
    finish("live_board_viewers", outcome, vec![("agent", alan)]).await;
}
