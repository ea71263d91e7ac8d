//! An admin sets up a Telegram channel and a rule in the web app; the rule notifies the chat
//! when a ticket is opened, and the bot token never comes back to the page. Another rule,
//! on a team, adds tags.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person};
use crate::chat_api::{ChatApi, Reply};
use crate::helpers::{spawn_app, spawn_app_with};

const TOKEN: &str = "4242:browser-test_token";

#[tokio::test]
async fn an_admin_adds_a_channel_and_a_rule_that_notifies_it() {
    let api = ChatApi::start(vec![Reply::telegram_ok()]).await;
    let base = api.base();
    let app = spawn_app_with(|s| s.notify.telegram_api_url = base.clone()).await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let mut driver = super::browser::Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Notification channels").await?;
        ada.by_role("heading", "Notification channels").await?;
        // The defaults of a new install are there.
        ada.sees("Assignee by e-mail").await?;

        ada.fill("Name", "Ops chat").await?;
        ada.choose("Kind", "telegram").await?;
        // A token that is not one is refused beside its field.
        ada.fill("Bot token", "not a token").await?;
        ada.fill("Chat id", "-100123").await?;
        ada.press("Add channel").await?;
        ada.sees("There is a problem").await?;
        ada.fill("Bot token", TOKEN).await?;
        ada.press("Add channel").await?;
        ada.sees("Channel Ops chat added.").await?;
        ada.sees("Chat -100123").await?;
        ensure!(!ada.text().await?.contains(TOKEN), "the token is shown");

        ada.follow("Rules").await?;
        ada.by_role("heading", "Rules").await?;
        ada.sees("Mail the assignee on assignment").await?;
        ada.fill("Rule name", "Tell ops").await?;
        ada.fill("When these events happen", "ticket.created")
            .await?;
        ada.choose("Then", "notify").await?;
        ada.choose("Channel", "Ops chat").await?;
        ada.fill("Message", "New #{{ticket.number}}: {{ticket.title}}")
            .await?;
        ada.press("Add rule").await?;
        ada.sees("Rule Tell ops added.").await?;
        ada.picture("admin-rules").await?;

        app.create_ticket(&requester.user).await;
        let received = api.wait_for(1, Duration::from_secs(15)).await;
        let text = received[0].json()["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(
            text.starts_with("New #") && text.ends_with("Printer on floor 3 is jammed"),
            "{text}"
        );

        ada.press("Disable rule Tell ops").await?;
        ada.sees("Rule Tell ops is now disabled.").await?;
        ada.press("Delete rule Tell ops").await?;
        ada.press("Confirm deleting rule Tell ops").await?;
        ada.sees("Rule Tell ops deleted.").await?;
        Ok(())
    }
    .await;
    finish("admin_automation", outcome, vec![("admin", ada)]).await;
}

#[tokio::test]
async fn an_admin_adds_a_rule_that_tags_the_tickets_given_to_a_team() {
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let agent = person(&app, Role::Agent, "Alex Agent").await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let team: Value = app
        .post("/teams", &admin.user, json!({"name": "Service desk"}))
        .await
        .json()
        .await
        .expect("a team");
    let mut driver = super::browser::Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Rules").await?;
        ada.by_role("heading", "Rules").await?;
        ada.fill("Rule name", "Desk tags").await?;
        ada.fill("When these events happen", "ticket.assigned")
            .await?;
        ada.choose("And the team is", "Service desk").await?;
        ada.choose("Then", "add_tags").await?;
        // A tag that is not one is refused beside its field.
        ada.fill("Tags to add", "Service Desk").await?;
        ada.press("Add rule").await?;
        ada.sees("There is a problem").await?;
        ada.fill("Tags to add", "desk, triage").await?;
        ada.press("Add rule").await?;
        ada.sees("Rule Desk tags added.").await?;
        ada.sees("add tags desk, triage").await?;

        let ticket = app.create_ticket(&requester.user).await;
        let response = app
            .post(
                &format!("/tickets/{ticket}/assign"),
                &agent.user,
                json!({"team_id": team["id"]}),
            )
            .await;
        ensure!(
            response.status().is_success(),
            "assign: {}",
            response.status()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let events = app.stored_events(ticket).await;
            if let Some((_, _, data, _)) = events.iter().find(|(_, t, _, _)| t == "ticket.tagged") {
                ensure!(data["added"] == json!(["desk", "triage"]), "{data}");
                break;
            }
            if Instant::now() > deadline {
                bail!("the rule never tagged the ticket");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
    .await;
    finish("admin_automation_tags", outcome, vec![("admin", ada)]).await;
}
