//! Login holds an attacker cannot turn against an account's owner (CONTRACT 11, OWASP): after
//! a few consecutive failures the account is held for a short, doubling time (429 with
//! `Retry-After`), a right password clears it; a browser that signed in before presents a
//! device cookie bound to the account, which exempts its logins from the account's holds and
//! budget (not from the address's), and a forged or another account's cookie exempts nothing.

use std::time::Duration;

use reqwest::header::SET_COOKIE;
use reqwest::StatusCode;
use serde_json::json;
use ticketd::domain::Role;
use ticketd::users::Origin;

use crate::helpers::{spawn_app_with, TestApp};

const PASSWORD: &str = "a sturdy passphrase";
const WRONG: &str = "wrong but long enough";

async fn member(app: &TestApp, email: &str) {
    crate::helpers::add_user_with(
        &app.pool,
        email,
        "Lia Souza",
        Role::Agent,
        Some(PASSWORD),
        Origin::Cli,
    )
    .await;
}

async fn login_with(
    app: &TestApp,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.api("/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(device) = device {
        request = request.header("Cookie", format!("ticketd_device={device}"));
    }
    request.send().await.expect("send")
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    login_with(app, email, password, None).await
}

fn retry_after(response: &reqwest::Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The device cookie a login set, whole (`ticketd_device=<value>; …`).
fn device_cookie_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ticketd_device="))
        .expect("a Set-Cookie for ticketd_device")
        .to_string()
}

fn value_of(cookie: &str) -> String {
    cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("ticketd_device="))
        .expect("the device cookie")
        .to_string()
}

/// Lets the account's current hold run out.
async fn wait_out(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(100)).await;
}

#[tokio::test]
async fn consecutive_failures_hold_the_account_for_doubling_times_and_a_success_clears_them() {
    let app = spawn_app_with(|s| {
        s.accounts.account_failures = 10;
        s.accounts.login_delay_from = Some(3);
    })
    .await;
    member(&app, "lia@example.com").await;

    // The first two failures are answered at once; the third starts a hold of 1 s.
    for _ in 0..3 {
        assert_eq!(
            login(&app, "lia@example.com", WRONG).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let held = login(&app, "lia@example.com", PASSWORD).await;
    assert_eq!(retry_after(&held), 1, "even the right password waits");
    wait_out(1).await;
    // The fourth failure doubles it; the refused attempt was not counted.
    assert_eq!(
        login(&app, "lia@example.com", WRONG).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(retry_after(&login(&app, "lia@example.com", WRONG).await), 2);
    wait_out(2).await;
    assert_eq!(
        login(&app, "lia@example.com", WRONG).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let held = login(&app, "lia@example.com", WRONG).await;
    assert!((3..=4).contains(&retry_after(&held)), "4 s, counted down");
    let failures: i32 = sqlx::query_scalar(
        "SELECT failures FROM credential_failures WHERE kind = 'login' AND subject = $1",
    )
    .bind("lia@example.com")
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(failures, 5, "held attempts are not counted");
    wait_out(4).await;

    // A right password after the hold signs in and starts the count afresh.
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            login(&app, "lia@example.com", WRONG).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, "lia@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "two failures hold nothing"
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_through_a_hold() {
    let app = spawn_app_with(|s| {
        s.accounts.account_failures = 10;
        s.accounts.login_delay_from = Some(3);
    })
    .await;
    member(&app, "lia@example.com").await;

    let guesses = (0..12).map(|i| {
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
    assert_eq!(checked, 3, "{statuses:?}");
}

#[tokio::test]
async fn a_device_cookie_of_the_account_lets_its_owner_in_while_an_attacker_is_held() {
    let app = spawn_app_with(|s| s.accounts.account_failures = 3).await;
    member(&app, "lia@example.com").await;
    member(&app, "rui@example.com").await;
    // The owner signed in on this browser before; so did Rui on his.
    let first = login(&app, "lia@example.com", PASSWORD).await;
    assert_eq!(first.status(), StatusCode::OK);
    let cookie = device_cookie_of(&first);
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/v1/auth/login",
        "Max-Age=",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "loopback: {cookie}");
    let device = value_of(&cookie);
    let ruis = login(&app, "rui@example.com", PASSWORD).await;
    let ruis = value_of(&device_cookie_of(&ruis));

    // An attacker elsewhere spends the account's budget and holds it.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(login(&app, "lia@example.com", WRONG).await.status());
    }
    assert_eq!(&statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert!(statuses[3..]
        .iter()
        .all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
    wait_out(1).await;
    let held = login(&app, "lia@example.com", PASSWORD).await;
    assert!(
        retry_after(&held) > 60,
        "the budget is spent: held for the window"
    );

    // The owner's browser is let in, and given a fresh cookie.
    let owner = login_with(&app, "lia@example.com", PASSWORD, Some(&device)).await;
    assert_eq!(owner.status(), StatusCode::OK);
    let renewed = value_of(&device_cookie_of(&owner));
    assert_ne!(renewed, device);
    // A wrong password from the owner's browser is a 401, not a hold.
    assert_eq!(
        login_with(&app, "lia@example.com", WRONG, Some(&renewed))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Nothing else passes: a forged cookie, an altered one, another account's.
    let (head, _) = device.rsplit_once('.').unwrap();
    let forged = format!("{head}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let parts: Vec<&str> = device.split('.').collect();
    let altered = format!("{}.{}.{}", parts[0], 4_102_444_800_i64, parts[2]);
    for (case, cookie) in [
        ("forged", forged.as_str()),
        ("altered expiry", altered.as_str()),
        ("another account's", ruis.as_str()),
        ("not a token", "x"),
    ] {
        let response = login_with(&app, "lia@example.com", PASSWORD, Some(cookie)).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{case} cookie"
        );
    }
}

#[tokio::test]
async fn a_device_cookie_that_fails_too_often_is_trusted_no_more() {
    let app = spawn_app_with(|s| s.accounts.account_failures = 3).await;
    member(&app, "lia@example.com").await;
    let first = login(&app, "lia@example.com", PASSWORD).await;
    let device = value_of(&device_cookie_of(&first));
    // The account is held by guesses from elsewhere.
    for _ in 0..4 {
        let _ = login(&app, "lia@example.com", WRONG).await;
    }

    // Guesses with a stolen cookie are checked, but counted on the cookie.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            login_with(&app, "lia@example.com", WRONG, Some(&device))
                .await
                .status(),
        );
    }
    let past_its_budget = login_with(&app, "lia@example.com", WRONG, Some(&device)).await;
    let even_right = login_with(&app, "lia@example.com", PASSWORD, Some(&device)).await;

    assert_eq!(statuses, [StatusCode::UNAUTHORIZED; 3]);
    retry_after(&past_its_budget);
    retry_after(&even_right);
}

#[tokio::test]
async fn a_device_cookie_is_still_held_to_the_addresss_rate() {
    let app = spawn_app_with(|s| s.accounts.address_per_minute = 3).await;
    member(&app, "lia@example.com").await;
    let first = login(&app, "lia@example.com", PASSWORD).await;
    let device = value_of(&device_cookie_of(&first));

    let second = login_with(&app, "lia@example.com", PASSWORD, Some(&device)).await;
    let device = value_of(&device_cookie_of(&second));
    let third = login_with(&app, "lia@example.com", PASSWORD, Some(&device)).await;
    let device = value_of(&device_cookie_of(&third));
    let fourth = login_with(&app, "lia@example.com", PASSWORD, Some(&device)).await;

    assert!(retry_after(&fourth) >= 1, "three attempts per minute");
}
