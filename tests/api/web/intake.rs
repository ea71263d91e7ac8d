//! Admins set up integrations and tend the people intake brings in; staff see where each ticket
//! came from and what else its requester asked.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::spawn_app;

async fn intake(app: &crate::helpers::TestApp, key: &str, body: Value) -> Result<Value> {
    let response = app
        .client
        .post(app.api("/intake/tickets"))
        .bearer_auth(key)
        .json(&body)
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
async fn an_admin_creates_an_integration_sees_its_key_once_and_revokes_it() {
    // Arrange
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        // Act: create an integration and take its key.
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Integrations").await?;
        ada.by_role("heading", "Integrations").await?;
        ada.sees("No integrations yet.").await?;
        ada.fill("Name", "Chat <widget>").await?;
        ada.choose("Channel", "chat").await?;
        ada.press("Create integration").await?;
        ada.sees("Chat <widget> created. Copy its key now").await?;
        let key = ada.value_of("Key").await?;
        ensure!(key.starts_with("tdk_"), "the key is shown: {key}");
        ada.picture("admin-integrations").await?;

        // The key opens tickets in the integration's channel.
        let ticket = intake(
            &app,
            &key,
            json!({"requester": {"name": "Lia", "email": "lia@example.com"}, "title": "Chat help", "description": "hi"}),
        )
        .await?;
        ensure!(ticket["requester_created"] == true, "{ticket}");

        // Revoked: the key stops at once.
        ada.press("Revoke Chat <widget>").await?;
        ada.sees("Chat <widget> revoked.").await?;
        ada.sees("No integrations yet.").await?;
        let refused = app
            .client
            .post(app.api("/intake/tickets"))
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .await?;
        ensure!(refused.status() == 401, "a revoked key is refused");
        Ok(())
    }
    .await;

    finish("admin_integrations", outcome, vec![("ada", ada)]).await;
}

#[tokio::test]
async fn staff_see_channels_and_other_tickets_and_an_admin_merges_a_duplicate() {
    // Arrange: one person who wrote twice by mail address and once by phone.
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let created = app
        .post(
            "/integrations",
            &admin.user,
            json!({"name": "Form", "channel": "web"}),
        )
        .await
        .json::<Value>()
        .await
        .expect("an integration");
    let key = created["key"].as_str().expect("a key").to_string();
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        let first = intake(&app, &key, json!({"requester": {"name": "Max", "email": "max@example.com"}, "title": "Laptop slow", "description": ""})).await?;
        intake(&app, &key, json!({"requester": {"name": "Max", "email": "max@example.com"}, "title": "Mouse broken", "description": ""})).await?;
        let by_phone = intake(&app, &key, json!({"requester": {"name": "Max M", "phone": "+5511944443333"}, "title": "Call me", "description": ""})).await?;

        // Act: the board shows each card's channel; the ticket lists the requester's others.
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.by_role("heading", "Board").await?;
        ada.sees("Channel: Web").await?;
        ada.follow("Laptop slow").await?;
        ada.by_role("heading", "Other tickets of Max").await?;
        ada.sees("Mouse broken").await?;
        ada.accessible("ticket-with-others").await?;

        // The requester's page: counts and channels; a phone added, then the duplicate merged.
        ada.follow("Profile of Max").await?;
        ada.by_role("heading", "Max").await?;
        ada.sees_detail("Channels", "Web").await?;
        ada.fill("Phone", "(11) 95555-1111").await?;
        ada.press("Save user").await?;
        ada.sees("Max saved.").await?;
        ada.sees_detail("Phone", "+5511955551111").await?;
        ada.accessible("user-detail").await?;
        ada.picture("admin-user-detail").await?;

        let duplicate = by_phone["requester_id"].as_str().unwrap_or_default();
        ada.visit(&format!("/#/users/{duplicate}")).await?;
        ada.by_role("heading", "Max M").await?;
        ada.choose("Merge into", first["requester_id"].as_str().unwrap_or_default()).await?;
        ada.press("Merge").await?;
        ada.sees("Max M merged into Max.").await?;
        ada.sees_detail("State", "Inactive").await?;

        let kept: Value = app
            .get(&format!("/users/{}", first["requester_id"].as_str().unwrap_or_default()), &admin.user)
            .await
            .json()
            .await?;
        ensure!(kept["tickets"]["total"] == 3, "the duplicate's ticket is listed under Max: {kept}");
        Ok(())
    }
    .await;

    finish("admin_people", outcome, vec![("ada", ada)]).await;
}
