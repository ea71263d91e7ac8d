//! Custom fields in the web app: an admin defines one on the Fields page, opens a ticket with
//! it from the new-ticket form (a required one refused beside the field), sees it on the
//! ticket and changes it there, then filters the list by it; the pages stay accessible.

use anyhow::{ensure, Result};
use serde_json::Value;
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use super::people::wait_until;
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_admin_defines_a_field_sets_it_on_a_new_ticket_and_changes_it() {
    // Arrange
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;

        // Act: define a select field, required on create.
        ada.follow("Fields").await?;
        ada.fill("Key", "sector").await?;
        ada.fill("Label", "Sector").await?;
        ada.choose("Type", "Select").await?;
        ada.fill("Options", "finance, health").await?;
        ada.tick("Required on create").await?;
        ada.press("Define field").await?;
        ada.sees("finance, health").await?;
        ada.accessible("fields").await?;

        // A ticket without it is refused beside the field.
        ada.press("New ticket").await?;
        ada.fill("Title", "Invoice missing").await?;
        ada.press("Create").await?;
        ada.sees("is required").await?;
        ada.choose("Sector", "finance").await?;
        ada.press("Create").await?;
        ada.sees_detail("Sector", "finance").await?;

        // Changed on the ticket.
        ada.choose("Sector", "health").await?;
        ada.press("Save fields").await?;
        ada.sees_detail("Sector", "health").await?;
        ada.accessible("ticket-fields").await?;

        // The list filters by the field.
        ada.follow("List").await?;
        ada.sees("Invoice missing").await?;
        ada.choose("Sector", "finance").await?;
        wait_until(|| async { Ok(!ada.text().await?.contains("Invoice missing")) }).await?;
        ada.choose("Sector", "health").await?;
        ada.sees("Invoice missing").await?;
        Ok(())
    }
    .await;
    let ticket = app
        .get("/tickets?field.sector=health", &admin.user)
        .await
        .json::<Value>()
        .await
        .map_err(anyhow::Error::from)
        .and_then(|page| {
            page["items"][0]["id"]
                .as_str()
                .and_then(|id| id.parse::<uuid::Uuid>().ok())
                .ok_or_else(|| anyhow::anyhow!("no ticket with sector health"))
        });
    let outcome = match (outcome, ticket) {
        (Ok(()), Ok(ticket)) => {
            let view: Value = app
                .get(&format!("/tickets/{ticket}"), &admin.user)
                .await
                .json()
                .await
                .unwrap_or_default();
            ensure_fields(&view)
        }
        (Ok(()), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
    };
    finish("admin_fields", outcome, vec![("admin", ada)]).await;
}

fn ensure_fields(view: &Value) -> Result<()> {
    ensure!(
        view["fields"] == serde_json::json!({"sector": "health"}),
        "the ticket holds the value set in the page: {}",
        view["fields"]
    );
    Ok(())
}
