//! The live board: pushed events move cards and counts on screen without fetching the board
//! again; only a reconnection does.

use anyhow::{ensure, Result};
use serde_json::json;
use ticketd::domain::Role;

use super::browser::{finish, person, Browser, Driver};
use super::people::wait_until;
use crate::helpers::{spawn_app, TestApp};
use crate::queries::{assign, close};

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
