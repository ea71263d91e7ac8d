//! The janitor's sweep of expired credential state: refresh tokens and reset codes past their
//! expiry and failure counts past their window go; everything still live stays and still works.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::Role;
use ticketd::users::sweep::{sweep, Swept};
use ticketd::users::Origin;

use crate::helpers::{spawn_app, TestApp};

const PASSWORD: &str = "a sturdy passphrase";
const WINDOW: Duration = Duration::from_secs(15 * 60);

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

async fn refresh_token(app: &TestApp, email: &str) -> String {
    let response = post(
        app,
        "/auth/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_string()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sweep_removes_only_expired_tokens_codes_and_failure_counts() {
    let app = spawn_app().await;
    let lia = member(&app, "lia@example.com").await;
    let rui = member(&app, "rui@example.com").await;
    let old = refresh_token(&app, "lia@example.com").await;
    let live = refresh_token(&app, "rui@example.com").await;
    sqlx::query(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
    )
    .bind(lia.id)
    .execute(&app.pool)
    .await
    .unwrap();
    ticketd::users::resets::create(&app.pool, lia.id)
        .await
        .unwrap();
    ticketd::users::resets::create(&app.pool, rui.id)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = $1",
    )
    .bind(lia.id)
    .execute(&app.pool)
    .await
    .unwrap();
    // One failure each; Lia's window then lies in the past.
    for email in ["lia@example.com", "rui@example.com"] {
        let wrong = post(
            &app,
            "/auth/login",
            json!({"email": email, "password": "not the password"}),
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    sqlx::query(
        "UPDATE credential_failures SET window_start = now() - interval '15 minutes 1 second'
         WHERE subject = 'lia@example.com'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let before = (
        count(&app, "refresh_tokens").await,
        count(&app, "password_resets").await,
    );

    let swept = sweep(&app.pool, WINDOW).await.unwrap();

    assert_eq!(
        swept,
        Swept {
            refresh_tokens: 1,
            reset_codes: 1,
            failure_counts: 1
        }
    );
    assert_eq!(count(&app, "refresh_tokens").await, before.0 - 1);
    assert_eq!(count(&app, "password_resets").await, before.1 - 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT subject FROM credential_failures")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, ["rui@example.com"]);
    // The swept token is refused as before; the live one still rotates.
    let refused = post(&app, "/auth/refresh", json!({"refresh_token": old})).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let rotated = post(&app, "/auth/refresh", json!({"refresh_token": live})).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    // A second sweep finds nothing.
    assert_eq!(sweep(&app.pool, WINDOW).await.unwrap(), Swept::default());
}
