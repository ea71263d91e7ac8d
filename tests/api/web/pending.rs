//! An agent asks the requester for information from the web app; the requester's answer
//! resumes the ticket live and starts the next-response clock the page shows, and staff can
//! resume it themselves.

use anyhow::Result;
use serde_json::json;
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::spawn_app;
use crate::sla_policies::put;

#[tokio::test]
async fn an_agent_sets_a_ticket_pending_and_the_requesters_answer_resumes_it_live() {
    // Arrange
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = app.user("requester").await;
    let admin = app.user("admin").await;
    let policy = put(
        &app,
        &admin,
        "high",
        json!({"first_response": "4h", "resolution": "1d", "next_response": "2h"}),
    )
    .await;
    assert!(policy.status().is_success(), "{policy:?}");
    let ticket = app
        .create_ticket_with(
            &requester,
            json!({"title": "Laptop will not boot", "priority": "high"}),
        )
        .await;
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.by_role("heading", "Board").await?;
        alan.visit(&format!("/#/tickets/{ticket}")).await?;
        alan.sees_detail("Status", "Open").await?;

        // Act: ask the requester, and let the answer come.
        alan.fill("Question for the requester", "Which model is it?")
            .await?;
        alan.press("Set pending").await?;
        alan.sees_detail("Status", "Pending").await?;
        alan.by_role("button", "Resume").await?;
        alan.accessible("ticket-pending").await?;
        let r = app
            .post(
                &format!("/tickets/{ticket}/comments"),
                &requester,
                json!({"body": "A ThinkPad X1"}),
            )
            .await;
        anyhow::ensure!(r.status().is_success(), "comment: {}", r.status());

        // Assert: resumed on screen without a reload; pending again, then resumed by staff.
        alan.sees_detail("Status", "Open").await?;
        alan.sees("Next response due").await?;
        alan.press("Set pending").await?;
        alan.sees_detail("Status", "Pending").await?;
        alan.press("Resume").await?;
        alan.sees_detail("Status", "Open").await?;
        alan.by_role("button", "Set pending").await?;
        Ok(())
    }
    .await;
    finish("pending", outcome, vec![("agent", alan)]).await;
}
