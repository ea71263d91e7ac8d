//! An admin merges a duplicate in the web app; the kept requester then finds the duplicate's
//! ticket among "My tickets", opens it and answers it as their own.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::{spawn_app, TestApp};

async fn intake(app: &TestApp, key: &str, requester: Value, title: &str) -> Result<Value> {
    let response = app
        .client
        .post(app.api("/intake/tickets"))
        .bearer_auth(key)
        .json(&json!({"requester": requester, "title": title, "description": "d"}))
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "intake: {}",
        response.status()
    );
    Ok(response.json().await?)
}

#[tokio::test]
async fn a_kept_requester_answers_the_merged_duplicates_ticket_from_my_tickets() {
    // Arrange: Ivy signs in with a password; a chat once added her again, by phone only.
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let ivy = person(&app, Role::Requester, "Ivy Requester").await;
    let made = app
        .post(
            "/integrations",
            &admin.user,
            json!({"name": "chat", "channel": "chat"}),
        )
        .await;
    let key = made.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;
    let browser = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        intake(
            &app,
            &key,
            json!({"name": "Ivy", "email": ivy.user.email}),
            "Printer jam",
        )
        .await?;
        let dup = intake(
            &app,
            &key,
            json!({"name": "Ivy (chat)", "phone": "+5511922221111"}),
            "VPN drops",
        )
        .await?;
        let dup_id = dup["requester_id"]
            .as_str()
            .context("a requester")?
            .to_string();

        // Act: the admin merges the duplicate into Ivy.
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.visit(&format!("/#/users/{dup_id}")).await?;
        ada.by_role("heading", "Ivy (chat)").await?;
        ada.choose("Merge into", &ivy.user.id.to_string()).await?;
        ada.press("Merge").await?;
        ada.sees("Ivy (chat) merged into Ivy Requester.").await?;

        // Assert: Ivy finds both tickets and answers the duplicate's.
        browser.visit("/").await?;
        browser.sign_in(&ivy).await?;
        browser.by_role("heading", "My tickets").await?;
        browser.by_role("link", "Printer jam").await?;
        browser.follow("VPN drops").await?;
        browser.by_role("heading", "#2 VPN drops").await?;
        browser
            .fill("Comment", "Still dropping every hour.")
            .await?;
        browser.press("Comment").await?;
        browser.sees("Still dropping every hour.").await?;
        browser.picture("requester-merged-ticket").await?;
        browser.reload().await?;
        browser.sees("Still dropping every hour.").await?;
        Ok(())
    }
    .await;
    finish(
        "a_kept_requester_answers_the_merged_duplicates_ticket_from_my_tickets",
        outcome,
        vec![("admin", ada), ("requester", browser)],
    )
    .await;
}
