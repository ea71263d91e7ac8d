//! Sessions and passwords in the web app (CONTRACT 11, 12): the cookie flow keeps no token in
//! the page's storage, the session survives a reload and outlives its access tokens, signing
//! out ends it on the server, a password changes, and a forgotten one is reset by mailed code.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::json;
use ticketd::domain::Role;

use super::browser::{finish, person, Browser, Driver};
use crate::email::support::{Sink, FROM};
use crate::helpers::spawn_app_with;

/// Every key and value in the page's localStorage and sessionStorage.
async fn stored(browser: &Browser) -> Result<String> {
    let all = browser
        .client
        .execute(
            r#"const dump = (s) => Object.keys(s).map((k) => k + "=" + s.getItem(k)).join("\n");
               return dump(localStorage) + "\n" + dump(sessionStorage) + "\n" + document.cookie;"#,
            vec![],
        )
        .await
        .context("read the page's storage")?;
    Ok(all.as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn the_session_lives_in_an_http_only_cookie_survives_reloads_and_token_expiry_and_ends_on_sign_out(
) {
    // Arrange: access tokens that live four seconds, so the page must refresh them.
    let app = spawn_app_with(|s| s.auth.token_ttl_secs = 4).await;
    let agent = person(&app, Role::Agent, "Ana Agent").await;
    let mut driver = Driver::start().await;
    let ana = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ana.visit("/").await?;
        ana.sign_in(&agent).await?;
        let storage = stored(&ana).await?;
        ensure!(
            !storage.contains("eyJ") && !storage.contains("ticketd_refresh"),
            "no token where scripts can read it: {storage}"
        );
        ana.reload().await?;
        ana.by_role("button", "Sign out").await?;
        // Several access tokens' lifetimes later, the page still works without signing in.
        tokio::time::sleep(Duration::from_secs(9)).await;
        ana.follow("List").await?;
        ana.by_role("heading", "Tickets").await?;
        ana.does_not_see("Your session has expired").await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL AND rotated_at IS NULL",
        )
        .bind(agent.user.id)
        .fetch_one(&app.pool)
        .await?;
        ensure!(live == 1, "one live refresh token, rotated on each refresh: {live}");

        ana.press("Sign out").await?;
        ana.by_role("button", "Sign in").await?;
        let revoked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(agent.user.id)
        .fetch_one(&app.pool)
        .await?;
        ensure!(revoked == 0, "signing out revokes the session on the server");
        ana.reload().await?;
        ana.by_role("button", "Sign in").await?;
        Ok(())
    }
    .await;
    finish("cookie_session", outcome, vec![("agent", ana)]).await;
}

#[tokio::test]
async fn a_user_changes_their_password_and_resets_a_forgotten_one_by_mailed_code() {
    let sink = Sink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| {
        s.email.smtp_url = Some(url.into());
        s.email.from = Some(FROM.into());
    })
    .await;
    let requester = person(&app, Role::Requester, "Rita Requester").await;
    let mut driver = Driver::start().await;
    let rita = driver.open(&app, "en-US").await;
    let login = |password: &'static str| {
        let (client, url, email) = (
            app.client.clone(),
            app.api("/auth/login"),
            requester.user.email.clone(),
        );
        async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };

    let outcome: Result<()> = async {
        rita.visit("/").await?;
        rita.sign_in(&requester).await?;
        rita.follow("Change password").await?;
        rita.by_role("heading", "Change password").await?;
        rita.fill("Current password", "not my password").await?;
        rita.fill("New password", "a long enough phrase").await?;
        rita.press("Change password").await?;
        rita.sees("is not the current password").await?;
        rita.fill("Current password", &requester.password).await?;
        rita.fill("New password", "short").await?;
        rita.press("Change password").await?;
        rita.sees("at least 12 characters").await?;
        rita.fill("New password", "1qaz2wsx3edc").await?;
        rita.press("Change password").await?;
        rita.sees("common").await?;
        rita.fill("New password", "my brand new passphrase").await?;
        rita.press("Change password").await?;
        rita.sees("Your password was changed").await?;
        ensure!(
            login("my brand new passphrase").await? == 200,
            "the new password signs in"
        );

        // Forgotten: a code by mail, then a new password.
        rita.press("Sign out").await?;
        rita.press("Forgot password?").await?;
        rita.fill("Email", &requester.user.email).await?;
        rita.press("Send code").await?;
        rita.by_label("Code").await?;
        let mails = sink.wait_for(1).await;
        let text = mails[0].body_text(0).context("a text body")?.to_string();
        let code = text
            .split("code:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .context("a code in the mail")?
            .to_string();
        rita.fill("Code", "00000000").await?;
        rita.fill("New password", "a phrase found again").await?;
        rita.press("Set password").await?;
        rita.sees("is not valid").await?;
        rita.fill("Code", &code).await?;
        rita.press("Set password").await?;
        rita.sees("Your password was set").await?;
        ensure!(
            login("a phrase found again").await? == 200,
            "the reset password signs in"
        );
        ensure!(
            login("my brand new passphrase").await? == 401,
            "the old one no longer does"
        );
        Ok(())
    }
    .await;
    finish("passwords", outcome, vec![("requester", rita)]).await;
}

#[tokio::test]
async fn an_admin_imports_users_from_csv_after_a_dry_run_and_sees_each_failing_line() {
    let app = spawn_app_with(|_| {}).await;
    let admin = person(&app, Role::Admin, "Ada Admin").await;
    let dir = std::env::temp_dir().join(format!("ticketd-web-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "email,name,role\nok@example.com,Ok,agent\nnot-an-email,Bad,agent\n",
    )
    .expect("write a file");
    let good = dir.join("good.csv");
    std::fs::write(
        &good,
        "email,name,role\nia@example.com,Ia <b>,agent\njo@example.com,Jo,requester\n",
    )
    .expect("write a file");
    let mut driver = Driver::start().await;
    let ada = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        ada.visit("/").await?;
        ada.sign_in(&admin).await?;
        ada.follow("Import users").await?;
        ada.by_role("heading", "Import users").await?;
        ada.by_label("CSV file")
            .await?
            .send_keys(&bad.display().to_string())
            .await?;
        ada.press("Import").await?;
        ada.sees("Nothing was imported: 1 line(s) have errors.")
            .await?;
        ada.sees("email must be an address with one @ and text on both sides")
            .await?;
        ada.by_label("CSV file")
            .await?
            .send_keys(&good.display().to_string())
            .await?;
        ada.tick("Dry run (only check)").await?;
        ada.press("Import").await?;
        ada.sees("Dry run: 2 would be created, 0 updated.").await?;
        let count = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users WHERE origin = 'import'")
                .fetch_one(&app.pool)
                .await
        };
        ensure!(count().await? == 0, "a dry run imports nothing");
        ada.by_label("Dry run (only check)").await?.click().await?;
        ada.press("Import").await?;
        ada.sees("Imported: 2 created, 0 updated.").await?;
        ensure!(count().await? == 2, "two users imported");
        ada.accessible("import").await?;
        Ok(())
    }
    .await;
    std::fs::remove_dir_all(&dir).ok();
    finish("csv_import", outcome, vec![("admin", ada)]).await;
}
