//! Links and merges in the web app: an agent links a ticket to another by its number, unlinks
//! it, and merges it; the pages stay accessible.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_agent_links_unlinks_and_merges_tickets_by_number() {
    // Arrange
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = app.user("requester").await;
    let source = app
        .create_ticket_with(&requester, json!({"title": "VPN drops again"}))
        .await;
    let target = app
        .create_ticket_with(&requester, json!({"title": "VPN drops"}))
        .await;
    let number = |events: &Vec<(i64, String, Value, Value)>| events[0].2["number"].clone();
    let target_number = number(&app.stored_events(target).await);
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.follow("VPN drops again").await?;
        alan.sees_detail("Links", "None").await?;

        // Act: a number no ticket has is refused beside the field.
        alan.fill("Ticket number", "99999").await?;
        alan.press("Link").await?;
        alan.sees("no ticket you can see has this number").await?;

        alan.choose("Link kind", "Duplicate of").await?;
        alan.fill("Ticket number", &format!("#{target_number}"))
            .await?;
        alan.press("Link").await?;
        alan.sees_detail(
            "Links",
            &format!("Duplicate of #{target_number} VPN drops Unlink"),
        )
        .await?;
        alan.accessible("ticket-links").await?;

        alan.press(&format!("Unlink #{target_number}")).await?;
        alan.sees_detail("Links", "None").await?;

        alan.fill("Merge into ticket number", &target_number.to_string())
            .await?;
        alan.press("Merge").await?;
        alan.sees_detail("Status", "Closed").await?;
        alan.sees_detail("Merged into", &format!("#{target_number} VPN drops"))
            .await?;
        Ok(())
    }
    .await;
    let kinds: Vec<String> = app
        .stored_events(target)
        .await
        .into_iter()
        .map(|(_, t, _, _)| t)
        .collect();
    let source_last: Vec<String> = app
        .stored_events(source)
        .await
        .into_iter()
        .rev()
        .take(2)
        .map(|(_, t, _, _)| t)
        .collect();
    let outcome = outcome.and_then(|()| {
        ensure!(
            source_last == ["ticket.closed", "ticket.merged"],
            "the source ends merged, then closed: {source_last:?}"
        );
        ensure!(
            kinds
                == [
                    "ticket.created",
                    "ticket.linked",
                    "ticket.unlinked",
                    "ticket.merged_from",
                    "ticket.commented"
                ],
            "the target's events: {kinds:?}"
        );
        Ok(())
    });
    finish("agent_links", outcome, vec![("agent", alan)]).await;
}
