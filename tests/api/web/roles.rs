//! Admins, auditors, the Portuguese interface and a dropped WebSocket.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use super::people::wait_until;
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn an_admin_creates_a_user_and_changes_a_role() {
    // Arrange
    let app = spawn_app().await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Users").await?;
        ada.by_role("heading", "Users").await?;
        ada.fill("Email", "nina@example.com").await?;
        ada.fill("Name", "Nina <New>").await?;
        ada.choose("Role", "requester").await?;
        ada.fill("Password", "a-long-enough-password").await?;
        ada.press("Create user").await?;
        ada.sees("Nina <New> added.").await?;
        ada.choose("Role of Nina <New>", "agent").await?;
        ada.sees("Nina <New> is now agent.").await?;
        ada.picture("admin-users").await?;

        // A second user with the same email is refused in the form, not lost.
        ada.fill("Email", "NINA@example.com").await?;
        ada.fill("Name", "Nina Again").await?;
        ada.press("Create user").await?;
        ada.sees("a user with this e-mail exists").await?;
        ensure!(
            ada.value_of("Name").await? == "Nina Again",
            "the form keeps what was typed"
        );

        let agents: Value = app
            .get("/users?role=agent", &admin.user)
            .await
            .json()
            .await?;
        let nina = agents["items"]
            .as_array()
            .and_then(|a| a.iter().find(|u| u["email"] == "nina@example.com"));
        ensure!(nina.is_some(), "Nina is an agent now: {agents}");
        let login = app
            .client
            .post(app.api("/auth/login"))
            .json(&json!({"email": "nina@example.com", "password": "a-long-enough-password"}))
            .send()
            .await?;
        ensure!(login.status() == 200, "Nina signs in with her password");
        Ok(())
    }
    .await;
    finish("admin_users", outcome, vec![("admin", ada)]).await;
}

#[tokio::test]
async fn an_auditor_reads_the_history_verifies_the_chain_and_sees_the_ticket_as_it_was() {
    // Arrange: a ticket whose priority changed after a known instant.
    let app = spawn_app().await;
    let auditor = person(&app, Role::Auditor, "Otto Auditor").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let ticket = app
        .create_ticket_with(
            &requester,
            json!({"title": "Backup failed", "priority": "medium"}),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let changed = app
        .patch(
            &format!("/tickets/{ticket}"),
            &agent,
            json!({"priority": "high"}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let mut driver = Driver::start().await;
    let otto = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        otto.visit("/").await?;
        otto.sign_in(&auditor).await?;
        otto.follow("Backup failed").await?;
        otto.by_role("heading", "History").await?;
        otto.sees(&format!("{} (agent)", agent.name)).await?;
        otto.sees("priority: Medium → High").await?;
        // An auditor issues no command: none is offered.
        ensure!(
            otto.count("button", "New ticket").await? == 0,
            "no New ticket"
        );
        ensure!(
            otto.count("control", "Comment").await? == 0,
            "no Comment field"
        );
        ensure!(otto.count("button", "Close").await? == 0, "no Close");

        otto.press("Verify").await?;
        otto.sees("Chain valid: 2 events checked.").await?;

        otto.fill("As of", &between).await?;
        otto.press("Show").await?;
        otto.sees("As it stood at").await?;
        let snapshot = otto
            .client
            .execute(
                "return document.querySelector('.snapshot').innerText",
                vec![],
            )
            .await?;
        let snapshot = snapshot.as_str().unwrap_or_default().to_string();
        ensure!(
            snapshot.contains("Medium") && !snapshot.contains("High"),
            "{snapshot}"
        );
        otto.picture("auditor-history").await?;
        Ok(())
    }
    .await;
    finish("auditor", outcome, vec![("auditor", otto)]).await;
}

#[tokio::test]
async fn the_portuguese_interface_uses_its_own_words() {
    // Arrange: categories of this helpdesk's own, not the defaults.
    let app = spawn_app_with(|s| {
        s.categories = vec!["printer".into(), "facilities".into()];
    })
    .await;
    let requester = person(&app, Role::Requester, "Rita Solicitante").await;
    let mut driver = Driver::start().await;
    let rita = driver.open(&app, "pt-BR").await;

    let outcome: Result<()> = async {
        rita.visit("/").await?;
        rita.by_role("heading", "Entrar").await?;
        rita.fill("E-mail", &requester.user.email).await?;
        rita.fill("Senha", &requester.password).await?;
        rita.press("Entrar").await?;
        rita.by_role("heading", "Meus chamados").await?;
        rita.press("Novo chamado").await?;
        let offered = rita
            .client
            .execute(
                "return [...arguments[0].options].map((o) => o.value)",
                vec![serde_json::to_value(rita.by_label("Categoria").await?)?],
            )
            .await?;
        ensure!(
            offered == json!(["printer", "facilities"]),
            "the configured categories are offered: {offered}"
        );
        rita.fill("Título", "Impressora não imprime").await?;
        rita.fill("Descrição", "Papel atolado.").await?;
        rita.choose("Categoria", "printer").await?;
        rita.choose("Prioridade", "high").await?;
        rita.press("Criar").await?;
        rita.by_role("heading", "#1 Impressora não imprime").await?;
        rita.sees_detail("Situação", "Aberto").await?;
        rita.sees_detail("Prioridade", "Alta").await?;
        rita.sees_detail("Categoria", "Impressora").await?;
        // Dates in the chosen language's form, not the browser's default.
        let ticket = rita.ticket_in_view().await?;
        let stored: Value = app
            .get(&format!("/tickets/{ticket}"), &requester.user)
            .await
            .json()
            .await?;
        let format = |locale: &str| {
            let locale = locale.to_string();
            let created = stored["created_at"].clone();
            let client = rita.client.clone();
            async move {
                let shown = client
                    .execute(
                        "return new Intl.DateTimeFormat(arguments[0], {dateStyle: 'medium', timeStyle: 'medium'}).format(new Date(arguments[1]))",
                        vec![json!(locale), created],
                    )
                    .await?;
                anyhow::Ok(shown.as_str().unwrap_or_default().to_string())
            }
        };
        let (portuguese, english) = (format("pt-BR").await?, format("en").await?);
        ensure!(portuguese != english, "{portuguese} and {english} differ");
        rita.sees_detail("Aberto em", &portuguese).await?;
        rita.by_label("Comentário").await?;
        rita.by_role("button", "Comentar").await?;
        rita.picture("requester-pt-br").await?;
        // The switch changes the language at once, and the choice sticks.
        rita.choose("Idioma", "en").await?;
        rita.sees_detail("Status", "Open").await?;
        rita.sees_detail("Created", &english).await?;
        rita.by_role("button", "Sign out").await?;
        Ok(())
    }
    .await;
    finish("portuguese", outcome, vec![("requester", rita)]).await;
}

#[tokio::test]
async fn a_dropped_websocket_resumes_with_since_and_shows_every_card_once() {
    // Arrange
    let app = spawn_app().await;
    let agent = person(&app, Role::Agent, "Alan Agent").await;
    let requester = app.user("requester").await;
    let mut driver = Driver::start().await;
    let alan = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        alan.visit("/").await?;
        alan.sign_in(&agent).await?;
        alan.by_role("status", "Live").await?;
        // Act: the socket drops while tickets arrive.
        alan.client
            .execute("window.ticketdLive.drop()", vec![])
            .await?;
        for n in 1..=3 {
            app.create_ticket_with(&requester, json!({"title": format!("Arrived offline {n}")}))
                .await;
        }
        // Assert: it reconnects by itself, replays, and the board holds each card once.
        for n in 1..=3 {
            let title = format!("Arrived offline {n}");
            alan.by_role("link", &title).await?;
            ensure!(alan.count("link", &title).await? == 1, "{title} once");
        }
        alan.by_role("status", "Live").await?;
        let position = alan
            .client
            .execute("return window.ticketdLive.position()", vec![])
            .await?;
        // Every ticket event is on the board channel: the client ends at the store's head.
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&app.pool)
            .await?;
        wait_until(|| async {
            let position = alan
                .client
                .execute("return window.ticketdLive.position()", vec![])
                .await?;
            Ok(position.as_i64() == head)
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!("{e}: the client is at {position}, the store holds {head:?}")
        })?;

        // A very long word in a title keeps the layout: nothing scrolls sideways.
        let long = "Unbreakable".repeat(18);
        app.create_ticket_with(&requester, json!({"title": long}))
            .await;
        alan.by_role("link", &long).await?;
        ensure!(
            !alan.overflows().await?,
            "the board holds a 198-letter word"
        );
        alan.follow(&long).await?;
        alan.by_role("heading", &format!("#4 {long}")).await?;
        ensure!(
            !alan.overflows().await?,
            "the ticket holds a 198-letter word"
        );
        Ok(())
    }
    .await;
    finish("websocket_drop", outcome, vec![("agent", alan)]).await;
}
