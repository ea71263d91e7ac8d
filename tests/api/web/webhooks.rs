//! An admin manages webhooks in the web app: a refused URL, the secret shown once, the
//! deliveries log, replay, disabling and deleting.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use ticketd::domain::Role;

use super::browser::{finish, person};
use crate::helpers::spawn_app_with;
use crate::webhook_receiver::{Answer, Receiver};

#[tokio::test]
async fn an_admin_adds_a_webhook_sees_its_deliveries_replays_disables_and_deletes_it() {
    let app = spawn_app_with(|s| {
        s.webhooks.allow_http_hosts = vec!["127.0.0.1".into(), "169.254.169.254".into()];
        s.webhooks.allow_private_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let url = receiver.url();
    let mut driver = super::browser::Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Webhooks").await?;
        ada.by_role("heading", "Webhooks").await?;
        ada.sees("No webhooks yet.").await?;

        // An internal address is refused beside the URL field; nothing is added.
        ada.fill("URL", "http://169.254.169.254/latest").await?;
        ada.press("Add webhook").await?;
        ada.sees("There is a problem").await?;
        ensure!(
            ada.by_label("URL")
                .await?
                .attr("aria-invalid")
                .await?
                .as_deref()
                == Some("true"),
            "the URL is marked invalid"
        );
        ada.sees("No webhooks yet.").await?;

        ada.fill("URL", &url).await?;
        ada.fill("Event types", "ticket.created").await?;
        ada.press("Add webhook").await?;
        ada.sees("it is not shown again").await?;
        let secret = ada.value_of("Signing secret").await?;
        ensure!(secret.starts_with("whsec_"), "a secret: {secret}");

        // A ticket opened now is delivered, signed with the secret the page showed.
        let ticket = app.create_ticket(&requester.user).await;
        let received = receiver
            .wait_for(Duration::from_secs(15), "the delivery", |r| !r.is_empty())
            .await;
        received[0].verify(&secret);
        ensure!(received[0].id() == format!("{ticket}:1"), "the event id");
        let mut delivered = false;
        for _ in 0..50 {
            ada.press(&format!("Deliveries of {url}")).await?;
            if ada.text().await?.contains("Succeeded") {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ensure!(delivered, "the deliveries log shows the success");
        ada.by_role("heading", &format!("Deliveries to {url}"))
            .await?;
        ada.picture("admin-webhooks").await?;

        ada.fill("Replay events after position", "0").await?;
        ada.press("Replay").await?;
        ada.sees("1 deliveries scheduled again.").await?;
        receiver
            .wait_for(Duration::from_secs(15), "the replay", |r| r.len() >= 2)
            .await;

        ada.press(&format!("Disable {url}")).await?;
        ada.sees(&format!("Webhook {url} is now Disabled.")).await?;
        ada.by_role("button", &format!("Enable {url}")).await?;

        ada.press(&format!("Delete {url}")).await?;
        ada.press(&format!("Confirm deleting {url}")).await?;
        ada.sees("No webhooks yet.").await?;
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks")
            .fetch_one(&app.pool)
            .await?;
        if left != 0 {
            bail!("{left} webhooks left");
        }
        Ok(())
    }
    .await;
    finish("admin_webhooks", outcome, vec![("admin", ada)]).await;
}
