//! Refresh tokens, logout and deactivation through HTTP (CONTRACT 11).

use reqwest::header::SET_COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::Role;
use ticketd::users::Origin;

use crate::helpers::{problem, spawn_app, TestApp, TestUser};

const PASSWORD: &str = "a sturdy passphrase";

/// A user who signs in with [`PASSWORD`].
async fn member(app: &TestApp, email: &str, role: Role) -> ticketd::users::User {
    crate::helpers::add_user_with(
        &app.pool,
        email,
        "Lia Souza",
        role,
        Some(PASSWORD),
        Origin::Cli,
    )
    .await
}

/// What a login or refresh answered: its body and its refresh cookie as sent.
struct Signed {
    body: Value,
    cookie: String,
}

impl Signed {
    fn refresh_token(&self) -> &str {
        self.body["refresh_token"]
            .as_str()
            .expect("a refresh_token")
    }

    fn access_token(&self) -> &str {
        self.body["access_token"].as_str().expect("an access_token")
    }

    /// The cookie's value (`ticketd_refresh=<value>; …`).
    fn cookie_value(&self) -> &str {
        self.cookie
            .split(';')
            .next()
            .and_then(|pair| pair.strip_prefix("ticketd_refresh="))
            .expect("the refresh cookie")
    }
}

fn refresh_cookie_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ticketd_refresh="))
        .expect("a Set-Cookie for ticketd_refresh")
        .to_string()
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.api("/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("send")
}

async fn signed_in(app: &TestApp, email: &str) -> Signed {
    let response = login(app, email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = refresh_cookie_of(&response);
    Signed {
        body: response.json().await.expect("json"),
        cookie,
    }
}

/// `POST /auth/refresh` with the token as the body's `refresh_token`.
async fn refresh_with_body(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.api("/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .expect("send")
}

/// `POST /auth/refresh` as a browser: the cookie only, no body, no other header.
async fn refresh_with_cookie(app: &TestApp, value: &str) -> reqwest::Response {
    app.client
        .post(app.api("/auth/refresh"))
        .header("Cookie", format!("ticketd_refresh={value}"))
        .send()
        .await
        .expect("send")
}

async fn me_status(app: &TestApp, access_token: &str) -> StatusCode {
    app.client
        .get(app.api("/auth/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("send")
        .status()
}

#[tokio::test]
async fn login_sets_an_http_only_strict_refresh_cookie_holding_the_bodys_refresh_token() {
    let app = spawn_app().await;
    member(&app, "lia@example.com", Role::Agent).await;

    let signed = signed_in(&app, "lia@example.com").await;

    let attributes: Vec<String> = signed
        .cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.contains(&"httponly".into()), "{}", signed.cookie);
    assert!(
        attributes.contains(&"samesite=strict".into()),
        "{}",
        signed.cookie
    );
    assert!(
        attributes.contains(&"path=/api/v1/auth".into()),
        "{}",
        signed.cookie
    );
    assert!(
        attributes.contains(&format!("max-age={}", 14 * 24 * 3600)),
        "REFRESH_TTL's default: {}",
        signed.cookie
    );
    assert!(
        !attributes.contains(&"secure".into()),
        "no Secure on loopback: {}",
        signed.cookie
    );
    assert_eq!(signed.cookie_value(), signed.refresh_token());
    assert!(signed.refresh_token().len() >= 43, "256 random bits");
    assert_eq!(me_status(&app, signed.access_token()).await, StatusCode::OK);
    // Only its SHA-256 digest is stored.
    let stored: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))),
                count(*) FILTER (WHERE token_hash = convert_to($1, 'UTF8'))
         FROM refresh_tokens",
    )
    .bind(signed.refresh_token())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, (1, 0));
}

#[tokio::test]
async fn a_cookie_for_a_remote_host_is_secure() {
    let app = spawn_app().await;
    member(&app, "lia@example.com", Role::Agent).await;

    let response = app
        .client
        .post(app.api("/auth/login"))
        .header("Host", "helpdesk.example.com")
        .json(&json!({"email": "lia@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let cookie = refresh_cookie_of(&response).to_ascii_lowercase();
    assert!(cookie.split(';').any(|a| a.trim() == "secure"), "{cookie}");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_its_whole_family() {
    let app = spawn_app().await;
    let user = member(&app, "lia@example.com", Role::Requester).await;
    let first = signed_in(&app, "lia@example.com").await;
    let other_login = signed_in(&app, "lia@example.com").await;

    // The cookie alone (what a browser sends) is enough, and answers like login.
    let response = refresh_with_cookie(&app, first.cookie_value()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = refresh_cookie_of(&response);
    let second = Signed {
        body: response.json().await.unwrap(),
        cookie,
    };
    assert_eq!(second.body["token_type"], "Bearer");
    assert_eq!(second.body["expires_in"], 3600);
    assert_ne!(second.refresh_token(), first.refresh_token());
    assert_eq!(second.cookie_value(), second.refresh_token());
    let me: Value = app
        .client
        .get(app.api("/auth/me"))
        .bearer_auth(second.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], json!(user.id));

    // The body works the same way.
    let third = refresh_with_body(&app, second.refresh_token()).await;
    assert_eq!(third.status(), StatusCode::OK);
    let third: Value = third.json().await.unwrap();
    let third_token = third["refresh_token"].as_str().unwrap().to_string();

    // Reuse of a rotated token: 401, and the newest token of the family is dead too.
    let reused = refresh_with_body(&app, first.refresh_token()).await;
    let removal = refresh_cookie_of(&reused).to_ascii_lowercase();
    problem(reused, StatusCode::UNAUTHORIZED).await;
    assert!(
        removal.contains("max-age=0"),
        "the cookie is cleared: {removal}"
    );
    problem(
        refresh_with_body(&app, &third_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Another login of the same user is another family: it lives on.
    assert_eq!(
        refresh_with_body(&app, other_login.refresh_token())
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn forged_unknown_mismatched_and_missing_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    member(&app, "lia@example.com", Role::Agent).await;
    member(&app, "rui@example.com", Role::Agent).await;
    let lia = signed_in(&app, "lia@example.com").await;
    let rui = signed_in(&app, "rui@example.com").await;

    for forged in ["forged", "", &"A".repeat(43), &"x".repeat(5000), "%00"] {
        let response = refresh_with_cookie(&app, forged).await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    problem(
        refresh_with_body(&app, "not-a-token").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // No token at all.
    let none = app
        .client
        .post(app.api("/auth/refresh"))
        .send()
        .await
        .unwrap();
    problem(none, StatusCode::UNAUTHORIZED).await;
    // The cookie and the body name different tokens (another user's): refused, neither used.
    let mixed = app
        .client
        .post(app.api("/auth/refresh"))
        .header("Cookie", format!("ticketd_refresh={}", lia.refresh_token()))
        .json(&json!({"refresh_token": rui.refresh_token()}))
        .send()
        .await
        .unwrap();
    problem(mixed, StatusCode::UNAUTHORIZED).await;
    // Another user's refresh token beside one's own access token.
    let crossed = app
        .client
        .post(app.api("/auth/refresh"))
        .bearer_auth(lia.access_token())
        .json(&json!({"refresh_token": rui.refresh_token()}))
        .send()
        .await
        .unwrap();
    problem(crossed, StatusCode::UNAUTHORIZED).await;
    // A body that is not JSON is no cookie call: a cross-site form cannot use the cookie.
    let form = app
        .client
        .post(app.api("/auth/refresh"))
        .header("Cookie", format!("ticketd_refresh={}", lia.refresh_token()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown_member = app
        .client
        .post(app.api("/auth/refresh"))
        .json(&json!({"refresh_token": lia.refresh_token(), "remember": true}))
        .send()
        .await
        .unwrap();
    problem(unknown_member, StatusCode::UNPROCESSABLE_ENTITY).await;
    // None of these used up the real tokens.
    for token in [lia.refresh_token(), rui.refresh_token()] {
        assert_eq!(
            refresh_with_body(&app, token).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn logout_revokes_the_family_and_clears_the_cookie() {
    let app = spawn_app().await;
    member(&app, "lia@example.com", Role::Agent).await;
    let signed = signed_in(&app, "lia@example.com").await;
    let rotated: Value = refresh_with_body(&app, signed.refresh_token())
        .await
        .json()
        .await
        .unwrap();
    let newest = rotated["refresh_token"].as_str().unwrap();

    // Logging out with the cookie of the first token ends the whole login.
    let response = app
        .client
        .post(app.api("/auth/logout"))
        .header("Cookie", format!("ticketd_refresh={newest}"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = refresh_cookie_of(&response).to_ascii_lowercase();
    assert!(cleared.contains("max-age=0"), "{cleared}");
    problem(
        refresh_with_body(&app, newest).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Signing out again, or with a token never issued, is still signing out.
    for token in [newest, "never-issued"] {
        let again = app
            .client
            .post(app.api("/auth/logout"))
            .json(&json!({"refresh_token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn deactivation_refuses_login_and_tokens_and_revokes_refresh_tokens_for_good() {
    let app = spawn_app().await;
    let user = member(&app, "lia@example.com", Role::Agent).await;
    let signed = signed_in(&app, "lia@example.com").await;
    let admin: TestUser = app.user("admin").await;

    let off = app
        .patch(
            &format!("/users/{}", user.id),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);

    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&app, signed.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    problem(
        refresh_with_body(&app, signed.refresh_token()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(live, 0);

    // Reactivation lets the user sign in again, but does not revive the old refresh token.
    let on = app
        .patch(
            &format!("/users/{}", user.id),
            &admin,
            json!({"active": true}),
        )
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    problem(
        refresh_with_body(&app, signed.refresh_token()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_deactivation_made_elsewhere_refuses_a_cached_token_within_30_seconds() {
    let app = spawn_app().await;
    let user = member(&app, "lia@example.com", Role::Agent).await;
    let signed = signed_in(&app, "lia@example.com").await;
    assert_eq!(me_status(&app, signed.access_token()).await, StatusCode::OK);

    // Another instance (or the CLI) deactivates the user: this engine has them cached as active.
    sqlx::query("UPDATE users SET active = false WHERE id = $1")
        .bind(user.id)
        .execute(&app.pool)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    loop {
        if me_status(&app, signed.access_token()).await == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(31),
            "still accepted after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    problem(
        refresh_with_body(&app, signed.refresh_token()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
