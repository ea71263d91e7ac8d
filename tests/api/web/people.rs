//! Requesters and agents at work, in two windows at once.

use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_requester_and_an_agent_work_a_ticket_together_live() {
    // Arrange
    let app = spawn_app().await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let colleague = person(&app, Role::Agent, "Carla Colleague").await;
    let mut driver = Driver::start().await;
    let rita = driver.open(&app, "en-US").await;
    let alan = driver.open(&app, "en-US").await;
    let title = r#"<img src=x onerror="window.__xss=1">Printer <b>jam</b> on floor 3"#;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.by_role("heading", "Board").await?;

        // The requester opens a ticket; an empty title is refused beside the field.
        rita.visit("/").await?;
        rita.by_role("heading", "Sign in").await?;
        rita.picture("sign-in").await?;
        rita.sign_in(&requester).await?;
        rita.by_role("heading", "My tickets").await?;
        rita.press("New ticket").await?;
        rita.by_role("heading", "New ticket").await?;
        rita.press("Create").await?;
        rita.sees("There is a problem").await?;
        rita.sees("Title:").await?;
        rita.picture("requester-new-ticket-error").await?;
        ensure!(
            rita.by_label("Title")
                .await?
                .attr("aria-invalid")
                .await?
                .as_deref()
                == Some("true"),
            "the title is marked invalid"
        );
        rita.fill("Title", title).await?;
        rita.fill("Description", "<script>window.__xss=2</script>It blinks.")
            .await?;
        rita.choose("Category", "printer").await?;
        rita.choose("Priority", "high").await?;
        rita.press("Create").await?;
        rita.by_role("heading", &format!("#1 {title}")).await?;
        rita.sees("<script>window.__xss=2</script>It blinks.")
            .await?;
        let ticket = rita.ticket_in_view().await?;

        // The agent's board shows the card without a reload, once.
        alan.by_role("link", title).await?;
        ensure!(alan.count("link", title).await? == 1, "one card");
        alan.follow(title).await?;
        alan.by_role("heading", &format!("#1 {title}")).await?;
        alan.choose("Assignee", &colleague.user.id.to_string())
            .await?;
        alan.sees_detail("Assignee", "Carla Colleague").await?;
        alan.choose("Priority", "urgent").await?;
        alan.sees_detail("Priority", "Urgent").await?;
        alan.fill("Comment", "Internal note: the fuser is worn")
            .await?;
        alan.tick("Internal").await?;
        alan.press("Comment").await?;
        alan.sees("Internal note: the fuser is worn").await?;
        alan.fill("Comment", "We are on it.").await?;
        alan.press("Comment").await?;

        // The requester sees it all live, except the internal note.
        rita.sees("We are on it.").await?;
        rita.sees_detail("Status", "In progress").await?;
        rita.sees_detail("Priority", "Urgent").await?;
        rita.sees_detail("Assignee", "Carla Colleague").await?;
        rita.does_not_see("the fuser is worn").await?;

        // The agent closes; the requester rates, then reopens.
        alan.picture("agent-ticket").await?;
        rita.picture("requester-ticket").await?;
        alan.fill("Resolution", "Replaced the fuser.").await?;
        alan.press("Close").await?;
        rita.sees_detail("Status", "Closed").await?;
        rita.by_label("Rating").await?;
        rita.picture("requester-rating").await?;
        rita.choose("Rating", "4").await?;
        // A comment over 2,000 characters: the 422 shows beside it, and nothing is lost.
        let comment = rita.by_label("Comment").await?;
        rita.client
            .execute(
                "arguments[0].value = 'x'.repeat(2001)",
                vec![serde_json::to_value(&comment)?],
            )
            .await?;
        rita.press("Rate").await?;
        rita.sees("There is a problem").await?;
        ensure!(
            comment.attr("aria-invalid").await?.as_deref() == Some("true"),
            "the rating comment is marked invalid"
        );
        ensure!(
            rita.value_of("Rating").await? == "4",
            "the chosen score stays"
        );
        rita.fill("Comment", "Quick <i>fix</i>").await?;
        rita.press("Rate").await?;
        rita.sees_detail("Rating", "Rated 4 of 5").await?;
        rita.press("Reopen").await?;
        rita.sees_detail("Status", "In progress").await?;
        alan.sees_detail("Status", "In progress").await?;

        // Nothing typed ran as script; the session survives a reload; still no internal note.
        for browser in [&rita, &alan] {
            let xss = browser
                .client
                .execute("return window.__xss === undefined", vec![])
                .await?;
            ensure!(xss == json!(true), "markup in user text never runs");
        }
        rita.reload().await?;
        rita.by_role("button", "Sign out").await?;
        rita.sees("We are on it.").await?;
        rita.does_not_see("the fuser is worn").await?;

        let stored: Value = app
            .get(&format!("/tickets/{ticket}"), &agent.user)
            .await
            .json()
            .await?;
        ensure!(
            stored["channel"] == "web",
            "opened in the web app: {stored}"
        );
        ensure!(stored["rating"]["score"] == 4, "rated 4: {stored}");
        ensure!(
            stored["rating"]["comment"] == "Quick <i>fix</i>",
            "{stored}"
        );
        Ok(())
    }
    .await;
    finish(
        "requester_and_agent",
        outcome,
        vec![("requester", rita), ("agent", alan)],
    )
    .await;
}

#[tokio::test]
async fn an_agent_searches_the_list_and_opens_a_ticket_for_a_requester_by_keyboard() {
    // Arrange
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let colleague = person(&app, Role::Agent, "Carla Colleague").await;
    let vpn = app
        .create_ticket_with(
            &requester.user,
            json!({"title": "VPN drops every hour", "category": "network"}),
        )
        .await;
    app.create_ticket_with(
        &requester.user,
        json!({"title": "Laptop fan is loud", "category": "hardware"}),
    )
    .await;
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;
    let rita = driver.open(&app, "en-US").await;
    let carla = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/#/tickets").await?;
        alan.sign_in(&agent).await?;
        alan.by_role("heading", "Tickets").await?;
        alan.by_role("link", "Laptop fan is loud").await?;
        alan.fill("Search", "VPN").await?;
        wait_until(|| async { Ok(alan.count("link", "Laptop fan is loud").await? == 0) }).await?;
        alan.by_role("link", "VPN drops every hour").await?;
        alan.picture("agent-list-search").await?;
        alan.fill("Search", "").await?;
        alan.choose("Category", "hardware").await?;
        wait_until(|| async { Ok(alan.count("link", "VPN drops every hour").await? == 0) }).await?;
        alan.by_role("link", "Laptop fan is loud").await?;

        // Keyboard only: "n" opens the form, Tab walks it, Enter submits.
        alan.client
            .execute("document.activeElement.blur()", vec![])
            .await?;
        alan.keys("n").await?;
        alan.by_role("heading", "New ticket").await?;
        alan.by_label("Title").await?.click().await?;
        alan.keys("Monitor flickers").await?;
        alan.keys("\u{e004}").await?;
        ensure!(
            alan.focused_name().await? == "Description",
            "Tab goes to Description"
        );
        alan.keys("Since this morning.").await?;
        alan.choose("Requester", &requester.user.id.to_string())
            .await?;
        let mut reached = false;
        for _ in 0..8 {
            alan.keys("\u{e004}").await?;
            if alan.focused_name().await? == "Create" {
                reached = true;
                break;
            }
        }
        ensure!(reached, "Create is reachable with Tab");
        alan.keys("\u{e007}").await?;
        alan.by_role("heading", "#3 Monitor flickers").await?;
        alan.sees_detail("Requester", "Rita Requester").await?;
        alan.keys("b").await?;
        alan.by_role("link", "Monitor flickers").await?;
        alan.picture("agent-board").await?;

        // The requester's list has it, marked unread until opened.
        rita.visit("/").await?;
        rita.sign_in(&requester).await?;
        rita.by_role("link", "Monitor flickers").await?;
        rita.sees("Unread").await?;
        rita.picture("requester-my-tickets").await?;
        rita.choose("Status", "closed").await?;
        wait_until(|| async { Ok(rita.count("link", "Monitor flickers").await? == 0) }).await?;
        rita.choose("Status", "").await?;
        rita.follow("Monitor flickers").await?;
        rita.sees_detail("Requester", "Rita Requester").await?;

        // The agent renames it: an empty title is refused beside the field, then the new one
        // reaches the requester live.
        alan.follow("Monitor flickers").await?;
        alan.by_role("heading", "#3 Monitor flickers").await?;
        alan.fill("Title", " ").await?;
        alan.press("Save title").await?;
        alan.sees("There is a problem").await?;
        ensure!(
            alan.by_label("Title")
                .await?
                .attr("aria-invalid")
                .await?
                .as_deref()
                == Some("true"),
            "the title is marked invalid"
        );
        alan.fill("Title", "Monitor flickers at 60 Hz").await?;
        alan.press("Save title").await?;
        alan.by_role("heading", "#3 Monitor flickers at 60 Hz")
            .await?;
        rita.by_role("heading", "#3 Monitor flickers at 60 Hz")
            .await?;

        // Two agents at once: Carla closes the ticket while Alan, whose page has not heard of it
        // yet, comments. The 409 shows beside his comment, which stays until he can send it.
        carla
            .visit(&format!("/#/tickets/{}", alan.ticket_in_view().await?))
            .await?;
        carla.sign_in(&colleague).await?;
        carla
            .by_role("heading", "#3 Monitor flickers at 60 Hz")
            .await?;
        alan.client
            .execute("window.ticketdLive.hold()", vec![])
            .await?;
        let typed = "Swapped the cable, please check";
        alan.fill("Comment", typed).await?;
        carla
            .fill("Resolution", "Duplicate of the VPN one.")
            .await?;
        carla.press("Close").await?;
        rita.sees_detail("Status", "Closed").await?;
        alan.press("Comment").await?;
        alan.sees("This cannot be done now").await?;
        alan.sees_detail("Status", "Closed").await?;
        ensure!(
            alan.value_of("Comment").await? == typed,
            "the comment is kept"
        );
        alan.picture("agent-conflict").await?;
        alan.client
            .execute("window.ticketdLive.resume()", vec![])
            .await?;
        alan.press("Reopen").await?;
        wait_until(|| async { Ok(!alan.text().await?.contains("This cannot be done now")) })
            .await?;
        alan.press("Comment").await?;
        rita.sees(typed).await?;
        carla.sees(typed).await?;
        // Live this time: the close reaches his page as he types; the comment stays, saying why.
        let second = "One more thing: the other port is fine";
        alan.fill("Comment", second).await?;
        carla.press("Close").await?;
        alan.sees("The ticket was closed before this comment was sent")
            .await?;
        alan.sees_detail("Status", "Closed").await?;
        ensure!(
            alan.value_of("Comment").await? == second,
            "the comment is kept"
        );

        // The list filters by requester.
        let other = app.user("requester").await;
        let keyboard = app
            .create_ticket_with(&other, json!({"title": "Keyboard misses keys"}))
            .await;
        alan.follow("List").await?;
        alan.by_role("link", "Keyboard misses keys").await?;
        alan.choose("Requester", &other.id.to_string()).await?;
        wait_until(|| async { Ok(alan.count("link", "VPN drops every hour").await? == 0) }).await?;
        alan.by_role("link", "Keyboard misses keys").await?;
        alan.choose("Requester", &requester.user.id.to_string())
            .await?;
        wait_until(|| async { Ok(alan.count("link", "Keyboard misses keys").await? == 0) }).await?;
        alan.by_role("link", "VPN drops every hour").await?;

        // Assigned to him by a colleague: "Unread only" leaves out the one he has since opened.
        for id in [vpn, keyboard] {
            crate::queries::assign(&app, id, &colleague.user, &agent.user).await;
        }
        alan.follow("Assigned to me").await?;
        alan.by_role("heading", "Assigned to me").await?;
        alan.by_role("link", "Keyboard misses keys").await?;
        alan.follow("VPN drops every hour").await?;
        alan.sees_detail("Assignee", "Alan Agent").await?;
        // Opening it marks it read a moment later: wait for the engine to have it.
        wait_until(|| async {
            let unread: Value = app
                .get("/me/tickets?role=assigned&unread=true", &agent.user)
                .await
                .json()
                .await?;
            Ok(!unread.to_string().contains(&vpn.to_string()))
        })
        .await?;
        alan.follow("Assigned to me").await?;
        alan.by_role("link", "VPN drops every hour").await?;
        alan.tick("Unread only").await?;
        wait_until(|| async { Ok(alan.count("link", "VPN drops every hour").await? == 0) }).await?;
        alan.by_role("link", "Keyboard misses keys").await?;
        Ok(())
    }
    .await;
    finish(
        "agent_list",
        outcome,
        vec![("agent", alan), ("requester", rita), ("colleague", carla)],
    )
    .await;
}

#[tokio::test]
async fn a_session_that_expires_mid_work_signs_in_again_without_losing_the_draft() {
    // Arrange: tokens that live three seconds.
    let app = spawn_app_with(|s| s.auth.token_ttl_secs = 3).await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let mut driver = Driver::start().await;
    let rita = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        rita.visit("/").await?;
        rita.sign_in(&requester).await?;
        rita.press("New ticket").await?;
        rita.fill("Title", "Half-written request").await?;
        rita.fill("Description", "I was typing this when").await?;
        // The page refreshes its access token from the cookie; once the session is revoked on
        // the server, the next refresh fails and the session ends.
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL")
            .execute(&app.pool)
            .await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        if rita.count("button", "Create").await? == 1 {
            rita.press("Create").await?;
        }
        rita.sees("Your session has expired").await?;
        rita.sign_in(&requester).await?;
        rita.by_role("heading", "New ticket").await?;
        ensure!(
            rita.value_of("Title").await? == "Half-written request",
            "the draft title is kept"
        );
        ensure!(
            rita.value_of("Description").await? == "I was typing this when",
            "the draft description is kept"
        );
        Ok(())
    }
    .await;
    finish("session_expiry", outcome, vec![("requester", rita)]).await;
}

/// Polls `check` until it holds (10 s at most).
pub async fn wait_until<F, Fut>(check: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if check().await? {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the page never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
