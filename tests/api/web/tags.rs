//! Tags in the web app: an agent sets them on a ticket, sees a bad one refused beside the
//! field, and filters the list by one; the page stays accessible.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use super::people::wait_until;
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_agent_tags_a_ticket_and_filters_the_list_by_tag() {
    // Arrange
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = app.user("requester").await;
    let ticket = app
        .create_ticket_with(&requester, json!({"title": "Toner empty"}))
        .await;
    app.create_ticket_with(&requester, json!({"title": "Mouse broken"}))
        .await;
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.follow("Toner empty").await?;
        alan.sees_detail("Tags", "None").await?;

        // Act: a bad tag is refused beside the field, naming it; nothing is stored.
        alan.fill("Tags", "printer Bad!").await?;
        alan.press("Save tags").await?;
        alan.sees("Bad!: must be 1–40 characters").await?;
        ensure!(
            alan.value_of("Tags").await? == "printer Bad!",
            "the field keeps what was typed"
        );

        alan.fill("Tags", "printer, vip").await?;
        alan.press("Save tags").await?;
        alan.sees_detail("Tags", "printervip").await?;
        alan.sees("Tags: +printer +vip").await?;
        alan.accessible("ticket-tags").await?;

        // A tag set elsewhere shows live.
        let put = app
            .client
            .put(app.api(&format!("/tickets/{ticket}/tags")))
            .bearer_auth(&agent.user.token)
            .json(&json!({"tags": ["vip"]}))
            .send()
            .await?;
        ensure!(put.status() == 200, "PUT tags: {}", put.status());
        alan.sees_detail("Tags", "vip").await?;

        alan.follow("List").await?;
        alan.sees("Mouse broken").await?;
        alan.fill("Tag", "vip").await?;
        wait_until(|| async {
            let text = alan.text().await?;
            Ok(text.contains("Toner empty") && !text.contains("Mouse broken"))
        })
        .await?;
        Ok(())
    }
    .await;
    let events: Value = app
        .get(&format!("/tickets/{ticket}/history"), &agent.user)
        .await
        .json()
        .await
        .unwrap_or_default();
    let tagged = events["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["type"] == "ticket.tagged").count())
        .unwrap_or_default();
    let outcome = outcome.and_then(|()| {
        ensure!(tagged == 2, "two ticket.tagged events, got {tagged}");
        Ok(())
    });
    finish("agent_tags", outcome, vec![("agent", alan)]).await;
}
