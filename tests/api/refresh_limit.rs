//! The per-account budget of `POST /auth/refresh`: tokens of one account share it whatever
//! address presents them; past it, 429 with `Retry-After`; other accounts are not held.

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::Role;
use ticketd::http::sessions::REFRESHES_PER_WINDOW;
use ticketd::users::Origin;

use crate::helpers::{spawn_app, TestApp};

const PASSWORD: &str = "a sturdy passphrase";

async fn login(app: &TestApp, email: &str) -> String {
    crate::helpers::add_user_with(
        &app.pool,
        email,
        "Lia Souza",
        Role::Agent,
        Some(PASSWORD),
        Origin::Cli,
    )
    .await;
    let response = app
        .client
        .post(app.api("/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_string()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.api("/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refreshes_of_one_account_are_held_to_its_budget() {
    let app = spawn_app().await;
    let mut token = login(&app, "lia@example.com").await;
    for _ in 0..REFRESHES_PER_WINDOW {
        let response = refresh(&app, &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_string();
    }
    let held = refresh(&app, &token).await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    // The held token was not used up: once the window ends it still refreshes.
    sqlx::query("UPDATE credential_failures SET window_start = now() - interval '16 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(refresh(&app, &token).await.status(), StatusCode::OK);

    let other = login(&app, "rui@example.com").await;
    assert_eq!(
        refresh(&app, &other).await.status(),
        StatusCode::OK,
        "another account is not held"
    );
}
