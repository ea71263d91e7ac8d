//! Calendars and SLA policies in the web app (CONTRACT 9, 12): an admin creates a business-hours
//! calendar, is told beside each field what the engine refused, edits it, and puts a priority's
//! targets on it; the pages stay accessible and speak Portuguese too.

use anyhow::{ensure, Result};
use serde_json::Value;
use ticketd::domain::Role;

use super::browser::{finish, person, Browser, Driver};
use crate::helpers::spawn_app;

/// The field labelled `label` is marked invalid (its error is shown beside it).
async fn invalid(browser: &Browser, label: &str) -> Result<()> {
    let control = browser.by_label(label).await?;
    let marked = control.attr("aria-invalid").await?;
    ensure!(
        marked.as_deref() == Some("true"),
        "{label} is not marked invalid"
    );
    Ok(())
}

#[tokio::test]
async fn an_admin_sets_up_a_calendar_and_puts_a_priority_on_it() {
    // Arrange
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;

        // Act: a calendar with an unknown zone and an inverted interval is refused field by field.
        ada.follow("Calendars").await?;
        ada.by_role("heading", "Business-hours calendars").await?;
        ada.fill("Calendar name", "Office <b>Rio</b>").await?;
        ada.fill("Time zone", "Mars/Olympus").await?;
        ada.fill("Monday", "08:00-12:00, 13:00-18:00").await?;
        ada.fill("Tuesday", "18:00-08:00").await?;
        ada.fill("Holidays", "2026-12-25").await?;
        ada.press("Create calendar").await?;
        ada.sees("must be an IANA time zone name").await?;
        invalid(&ada, "Time zone").await?;
        invalid(&ada, "Tuesday").await?;
        ada.accessible("calendars-refused").await?;

        ada.fill("Time zone", "America/Sao_Paulo").await?;
        ada.fill("Tuesday", "08:00-18:00").await?;
        ada.press("Create calendar").await?;
        ada.sees("Calendar Office <b>Rio</b> created.").await?;

        // Edited: Saturday mornings open.
        ada.press("Edit calendar Office <b>Rio</b>").await?;
        ada.fill("Saturday", "09:00-13:00").await?;
        ada.press("Save calendar").await?;
        ada.sees("Calendar Office <b>Rio</b> saved.").await?;
        ada.sees("Sat 09:00-13:00").await?;
        ada.accessible("calendars").await?;

        // A policy: a zero target is refused beside its field, then the policy is saved.
        ada.follow("SLA policies").await?;
        ada.choose("Priority", "high").await?;
        ada.fill("First response", "0m").await?;
        ada.fill("Resolution", "2d").await?;
        ada.choose("Calendar", "Office <b>Rio</b>").await?;
        ada.press("Save policy").await?;
        // The refusal arrives with the answer: wait for it before looking at the field.
        ada.sees("There is a problem").await?;
        invalid(&ada, "First response").await?;
        ada.fill("First response", "4h").await?;
        ada.fill("Next response", "1h30m").await?;
        ada.press("Save policy").await?;
        ada.sees("Policy for High saved.").await?;
        ada.accessible("sla-policies").await?;

        // The same page in Portuguese.
        ada.choose("Language", "pt-BR").await?;
        ada.by_role("heading", "Políticas de SLA").await?;
        ada.by_label("Primeira resposta").await?;
        Ok(())
    }
    .await;
    let stored = async {
        let calendar: (String, Value, Value) =
            sqlx::query_as("SELECT time_zone, hours, holidays FROM calendars")
                .fetch_one(&app.pool)
                .await?;
        ensure!(calendar.0 == "America/Sao_Paulo", "{calendar:?}");
        ensure!(
            calendar.1["mon"] == serde_json::json!([["08:00", "12:00"], ["13:00", "18:00"]])
                && calendar.1["sat"] == serde_json::json!([["09:00", "13:00"]]),
            "{calendar:?}"
        );
        ensure!(
            calendar.2 == serde_json::json!(["2026-12-25"]),
            "{calendar:?}"
        );
        let policy: (i64, Option<i64>, i64, bool) = sqlx::query_as(
            "SELECT first_response_secs, next_response_secs, resolution_secs,
                    calendar_id IS NOT NULL FROM sla_policies WHERE priority = 'high'",
        )
        .fetch_one(&app.pool)
        .await?;
        ensure!(
            policy == (4 * 3600, Some(5400), 2 * 86400, true),
            "{policy:?}"
        );
        Ok(())
    };
    let outcome = match outcome {
        Ok(()) => stored.await,
        failed => failed,
    };
    finish("sla", outcome, vec![("admin", ada)]).await;
}
