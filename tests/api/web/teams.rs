//! Teams in the web app (CONTRACT 11, 12): an admin creates a team with its first member and
//! adds another, and the page shows each team's member count; the board and the list narrow to
//! a team; a ticket shows its team, and its Team control gives it to another.

use anyhow::{ensure, Result};
use serde_json::json;
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn an_admin_creates_a_team_and_adds_a_member() {
    let app = spawn_app_with(|_| {}).await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    person(&app, Role::Agent, "Alice Agent").await;
    person(&app, Role::Agent, "Bruno Agent").await;
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Teams").await?;
        ada.by_role("heading", "Teams").await?;
        ada.fill("Team name", "Field <b>support</b>").await?;
        ada.choose("First member", "Alice Agent").await?;
        ada.press("Create team").await?;
        ada.sees("Team Field <b>support</b> created.").await?;
        ada.choose("Member to add to Field <b>support</b>", "Bruno Agent")
            .await?;
        ada.press("Add to Field <b>support</b>").await?;
        ada.sees("Field <b>support</b> now has 2 member(s).")
            .await?;
        let members: i64 = sqlx::query_scalar("SELECT count(*) FROM team_members")
            .fetch_one(&app.pool)
            .await?;
        ensure!(members == 2, "two members stored, not {members}");
        ada.accessible("teams").await?;

        // The board narrowed to the team shows its ticket only.
        let team: uuid::Uuid = sqlx::query_scalar("SELECT id FROM teams")
            .fetch_one(&app.pool)
            .await?;
        let theirs = app
            .create_ticket_with(&admin.user, json!({"title": "Printer on floor 3"}))
            .await;
        let other = app
            .create_ticket_with(&admin.user, json!({"title": "Laptop will not boot"}))
            .await;
        let assigned = app
            .post(
                &format!("/tickets/{theirs}/assign"),
                &admin.user,
                json!({"team_id": team}),
            )
            .await;
        ensure!(assigned.status().is_success(), "assigned to the team");
        ada.follow("Board").await?;
        ada.sees("Laptop will not boot").await?;
        ada.choose("Team", "Field <b>support</b>").await?;
        // The narrowed board arrives a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ada.does_not_see("Laptop will not boot").await.is_err() {
            ensure!(
                std::time::Instant::now() < deadline,
                "the team's board still shows another team's ticket"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        ada.sees("Printer on floor 3").await?;
        ada.accessible("board_by_team").await?;

        // On a ticket, the Team control gives it to a team.
        ada.visit(&format!("/#/tickets/{other}")).await?;
        ada.choose("Team", "Field <b>support</b>").await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let events = app.stored_events(other).await;
            if events.iter().any(|(_, kind, payload, _)| {
                kind.contains("assigned") && payload.to_string().contains("Field <b>support</b>")
            }) {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "no assignment to the team stored: {events:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // The ticket shows its team, live, and the control names it.
        ada.sees_detail("Team", "Field <b>support</b>").await?;
        ensure!(
            ada.value_of("Team").await? == team.to_string(),
            "the Team control shows the ticket's team"
        );
        ada.visit(&format!("/#/tickets/{theirs}")).await?;
        ada.sees_detail("Team", "Field <b>support</b>").await?;

        // The list narrows to a team's tickets.
        let third = app
            .create_ticket_with(&admin.user, json!({"title": "Badge reader broken"}))
            .await;
        ada.visit("/#/tickets").await?;
        ada.sees("Badge reader broken").await?;
        ada.choose("Team", "Field <b>support</b>").await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ada.does_not_see("Badge reader broken").await.is_err() {
            ensure!(
                std::time::Instant::now() < deadline,
                "the list narrowed to the team still shows another ticket ({third})"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        ada.sees("Printer on floor 3").await?;
        ada.sees("Laptop will not boot").await?;
        ada.accessible("tickets_by_team").await?;
        Ok(())
    }
    .await;
    finish("teams", outcome, vec![("admin", ada)]).await;
}
