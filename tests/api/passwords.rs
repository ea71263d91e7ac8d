//! Password change, reset by mailed code, the password policy and the credential rate limits
//! (CONTRACT 11), with a real SMTP receiver.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::Role;
use ticketd::users::Origin;

use crate::email::support::{Sink, FROM};
use crate::helpers::{failing_fields, problem, spawn_app, spawn_app_with, TestApp};

const PASSWORD: &str = "a sturdy passphrase";
const NEW_PASSWORD: &str = "another sturdy phrase";

async fn member(app: &TestApp, email: &str) -> ticketd::users::User {
    crate::helpers::add_user_with(
        &app.pool,
        email,
        "Lia Souza",
        Role::Agent,
        Some(PASSWORD),
        Origin::Cli,
    )
    .await
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.api(path))
        .json(&body)
        .send()
        .await
        .expect("send")
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn access_token(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let response = login(app, email, password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn change(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.api("/auth/password"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn mailing(sink: &Sink) -> impl FnOnce(&mut ticketd::settings::Settings) + '_ {
    move |s| {
        s.email.smtp_url = Some(sink.url().into());
        s.email.from = Some(FROM.into());
    }
}

/// The code in a reset mail's text, after `code:`.
fn code_of(mail: &mail_parser::Message<'_>) -> String {
    let text = mail.body_text(0).expect("a text body").to_string();
    let after = text.split("code:").nth(1).expect("`code:` in the mail");
    after.split_whitespace().next().expect("a code").to_string()
}

#[tokio::test]
async fn a_password_changes_with_the_current_one_and_the_new_one_follows_the_policy() {
    let app = spawn_app().await;
    member(&app, "lia@example.com").await;
    let (token, _) = access_token(&app, "lia@example.com", PASSWORD).await;
    let (_, other_session) = access_token(&app, "lia@example.com", PASSWORD).await;

    let wrong = change(
        &app,
        &token,
        json!({"current": "not it at all", "new": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        failing_fields(&problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["current"]
    );
    for (new, why) in [
        ("short pw 11", "fewer than 12 characters"),
        ("1qaz2wsx3edc", "a common password"),
        ("Q1W2E3R4T5Y6", "a common password in another case"),
    ] {
        let refused = change(&app, &token, json!({"current": PASSWORD, "new": new})).await;
        assert_eq!(
            failing_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
            ["new"],
            "{why}"
        );
    }
    let missing = change(&app, &token, json!({})).await;
    assert_eq!(
        failing_fields(&problem(missing, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["current", "new"]
    );
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );

    let changed = change(
        &app,
        &token,
        json!({"current": PASSWORD, "new": NEW_PASSWORD}),
    )
    .await;

    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "lia@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // The other sessions ended with the old password.
    let refreshed = post(
        &app,
        "/auth/refresh",
        json!({"refresh_token": other_session}),
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    // Without a token: 401.
    let anonymous = post(
        &app,
        "/auth/password",
        json!({"current": PASSWORD, "new": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn new_users_need_passwords_of_12_characters_not_on_the_common_list() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;

    for password in ["elevenchars", "1qaz2wsx3edc", "qwertyuiop12"] {
        let response = app
            .post(
                "/users",
                &admin,
                json!({"email": "new@example.com", "name": "New", "role": "agent", "password": password}),
            )
            .await;
        assert_eq!(
            failing_fields(&problem(response, StatusCode::UNPROCESSABLE_ENTITY).await),
            ["password"],
            "{password}"
        );
    }
}

#[tokio::test]
async fn a_reset_code_is_mailed_sets_a_new_password_once_and_ends_every_session() {
    let sink = Sink::start().await;
    let app = spawn_app_with(mailing(&sink)).await;
    member(&app, "lia@example.com").await;
    let (_, session) = access_token(&app, "lia@example.com", PASSWORD).await;

    let asked = post(
        &app,
        "/auth/password-reset",
        json!({"email": "LIA@example.com"}),
    )
    .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let mails = sink.wait_for(1).await;
    let to = mails[0]
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_string);
    assert_eq!(to.as_deref(), Some("lia@example.com"));
    let code = code_of(&mails[0]);
    assert_eq!(code.len(), 8, "{code}");

    // A code that is not it: 422 naming `code`; the password stays.
    let wrong_code = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let wrong = post(
        &app,
        "/auth/password-reset/confirm",
        json!({"email": "lia@example.com", "code": wrong_code, "new": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        failing_fields(&problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["code"]
    );
    // A weak new password is refused before the code is spent.
    let weak = post(
        &app,
        "/auth/password-reset/confirm",
        json!({"email": "lia@example.com", "code": code, "new": "password"}),
    )
    .await;
    assert_eq!(
        failing_fields(&problem(weak, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["new"]
    );

    let confirmed = post(
        &app,
        "/auth/password-reset/confirm",
        json!({"email": "lia@example.com", "code": code, "new": NEW_PASSWORD}),
    )
    .await;

    assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login(&app, "lia@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = post(
        &app,
        "/auth/password-reset/confirm",
        json!({"email": "lia@example.com", "code": code, "new": "yet another phrase"}),
    )
    .await;
    assert_eq!(
        failing_fields(&problem(again, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["code"],
        "single use"
    );
    let refreshed = post(&app, "/auth/refresh", json!({"refresh_token": session})).await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reset_for_an_unknown_address_answers_the_same_and_mails_nothing() {
    let sink = Sink::start().await;
    let app = spawn_app_with(mailing(&sink)).await;
    member(&app, "lia@example.com").await;

    let unknown = post(
        &app,
        "/auth/password-reset",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let known = post(
        &app,
        "/auth/password-reset",
        json!({"email": "lia@example.com"}),
    )
    .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);

    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 1, "only the known address gets mail");
    let to = mails[0]
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_string);
    assert_eq!(to.as_deref(), Some("lia@example.com"));
    let bad = post(
        &app,
        "/auth/password-reset/confirm",
        json!({"email": "nobody@example.com", "code": "12345678", "new": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        failing_fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["code"]
    );
}

#[tokio::test]
async fn a_reset_code_dies_after_five_wrong_tries() {
    let sink = Sink::start().await;
    let app = spawn_app_with(mailing(&sink)).await;
    member(&app, "lia@example.com").await;
    post(
        &app,
        "/auth/password-reset",
        json!({"email": "lia@example.com"}),
    )
    .await;
    let code = code_of(&sink.wait_for(1).await[0]);
    let wrong = format!("{:08}", (code.parse::<u64>().unwrap() + 1) % 100_000_000);

    for _ in 0..5 {
        let response = post(
            &app,
            "/auth/password-reset/confirm",
            json!({"email": "lia@example.com", "code": wrong, "new": NEW_PASSWORD}),
        )
        .await;
        problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let right_too_late = post(
        &app,
        "/auth/password-reset/confirm",
        json!({"email": "lia@example.com", "code": code, "new": NEW_PASSWORD}),
    )
    .await;

    assert_eq!(
        failing_fields(&problem(right_too_late, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["code"]
    );
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_failures_are_held_to_the_accounts_budget_with_retry_after() {
    let app = spawn_app_with(|s| s.accounts.account_failures = 3).await;
    member(&app, "lia@example.com").await;

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            login(&app, "lia@example.com", "wrong but long enough")
                .await
                .status(),
        );
    }
    let right = login(&app, "lia@example.com", PASSWORD).await;

    assert_eq!(&statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(&statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 3]);
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "held until the window ends"
    );
    let retry_after: u64 = right.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    // Another account is not held.
    member(&app, "rui@example.com").await;
    assert_eq!(
        login(&app, "rui@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    // The window ends on its own: no lasting lock.
    sqlx::query(
        "UPDATE credential_failures
         SET window_start = now() - interval '16 minutes', held_until = NULL",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_outrun_the_accounts_budget() {
    // Without the hold between failures, which would stop them sooner (see `login_holds`).
    let app = spawn_app_with(|s| {
        s.accounts.account_failures = 5;
        s.accounts.login_delay_from = None;
    })
    .await;
    member(&app, "lia@example.com").await;

    let guesses = (0..20).map(|i| {
        let (client, url) = (app.client.clone(), app.api("/auth/login"));
        async move {
            client
                .post(url)
                .json(&json!({"email": "lia@example.com", "password": format!("guess number {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(guesses).await;

    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let held = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, held), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn login_reset_and_refresh_are_held_to_the_addresss_rate() {
    let app = spawn_app_with(|s| s.accounts.address_per_minute = 4).await;
    member(&app, "lia@example.com").await;

    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            login(&app, &format!("u{i}@example.com"), "whatever it is")
                .await
                .status(),
        );
    }
    let reset = post(
        &app,
        "/auth/password-reset",
        json!({"email": "lia@example.com"}),
    )
    .await;
    let refresh = post(&app, "/auth/refresh", json!({"refresh_token": "x"})).await;
    let login_again = login(&app, "lia@example.com", PASSWORD).await;

    assert_eq!(statuses, [StatusCode::UNAUTHORIZED; 4]);
    for response in [reset, refresh, login_again] {
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
    }
    // Tokens signed elsewhere are not affected: the limit is on credential routes.
    let user = app.user("agent").await;
    let me = app.get("/auth/me", &user).await;
    assert_eq!(me.status(), StatusCode::OK);
}
