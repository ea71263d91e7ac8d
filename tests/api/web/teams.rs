//! Teams in the web app (CONTRACT 11, 12): an admin creates a team with its first member and
//! adds another, and the page shows each team's member count.

use anyhow::{ensure, Result};
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
        Ok(())
    }
    .await;
    finish("teams", outcome, vec![("admin", ada)]).await;
}
