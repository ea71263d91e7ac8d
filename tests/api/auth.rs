//! Tokens, login and the user directory through HTTP (CONTRACT 2.2).

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::domain::Role;
use ticketd::users::{self, Origin};
use uuid::Uuid;

use crate::helpers::{claims, failing_fields, problem, sign, spawn_app, spawn_app_with, TestApp};

const RSA_PRIVATE: &str = include_str!("../fixtures/jwt/rs256_private.pem");
const RSA_PUBLIC: &str = include_str!("../fixtures/jwt/rs256_public.pem");

async fn add_user(app: &TestApp, email: &str, role: Role, password: Option<&str>) -> users::User {
    crate::helpers::add_user_with(&app.pool, email, "Pat Example", role, password, Origin::Cli)
        .await
}

async fn login(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.api("/auth/login"))
        .json(&body)
        .send()
        .await
        .expect("send a request")
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.api("/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send a request")
}

#[tokio::test]
async fn login_returns_a_bearer_token_that_names_the_user() {
    // Arrange
    let app = spawn_app().await;
    let user = add_user(&app, "Pat@Example.com", Role::Agent, Some("correct horse")).await;

    // Act
    let response = login(
        &app,
        json!({"email": "pat@example.COM", "password": "correct horse"}),
    )
    .await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().expect("a token");
    let who: Value = me(&app, token).await.json().await.unwrap();
    assert_eq!(
        who,
        json!({"id": user.id, "email": "Pat@Example.com", "name": "Pat Example", "role": "agent"})
    );
}

#[tokio::test]
async fn login_refuses_a_bad_pair_with_one_answer() {
    let app = spawn_app().await;
    add_user(&app, "pat@example.com", Role::Agent, Some("correct horse")).await;
    add_user(&app, "tokenonly@example.com", Role::Agent, None).await;
    let cases = [
        (
            "wrong password",
            json!({"email": "pat@example.com", "password": "wrong horse"}),
        ),
        (
            "unknown e-mail",
            json!({"email": "nobody@example.com", "password": "correct horse"}),
        ),
        (
            "user without a password",
            json!({"email": "tokenonly@example.com", "password": ""}),
        ),
    ];
    let mut details = Vec::new();
    for (case, body) in cases {
        let response = login(&app, body).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        let body = problem(response, StatusCode::UNAUTHORIZED).await;
        details.push(body["detail"].clone());
    }
    assert!(details.windows(2).all(|w| w[0] == w[1]), "{details:?}");
}

#[tokio::test]
async fn login_lists_every_malformed_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), vec!["email", "password"]),
        (
            json!({"email": 1, "password": true}),
            vec!["email", "password"],
        ),
        (
            json!({"email": "a@b", "password": "x", "remember": true}),
            vec!["remember"],
        ),
    ];
    for (body, fields) in cases {
        let response = login(&app, body.clone()).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&problem), fields, "{body}");
    }
    let not_json = app
        .client
        .post(app.api("/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(not_json, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn me_needs_a_valid_token() {
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    let good = claims(id, "t@example.com", "T", "requester");
    let now = chrono::Utc::now().timestamp();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let payload = sign(&good).split('.').nth(1).unwrap().to_string();
    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &good,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut expired = good.clone();
    expired["exp"] = json!(now - 60);
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("other");
    let mut bad_role = good.clone();
    bad_role["role"] = json!("root");
    let changed = |key: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[key] = value;
        sign(&c)
    };
    let without = |key: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(key);
        sign(&c)
    };
    let wrong_key = encode(
        &Header::default(),
        &good,
        &EncodingKey::from_secret(b"another-secret-that-is-also-at-least-32-bytes"),
    )
    .unwrap();
    // `alg: none` in every spelling, each with an empty signature.
    let none = |alg: &str| {
        let header = url_safe_base64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        format!("{header}.{payload}.")
    };
    assert_eq!(
        none("none"),
        format!("{none_header}.{payload}."),
        "the forged header is well formed"
    );
    let cases = [
        ("alg none", format!("{none_header}.{payload}.")),
        ("alg None", none("None")),
        ("alg NONE", none("NONE")),
        ("alg nOnE", none("nOnE")),
        ("RS256 with only a secret configured", rs256),
        (
            "HS512 instead of HS256",
            encode(
                &Header::new(Algorithm::HS512),
                &good,
                &EncodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        ("wrong key", wrong_key),
        ("expired", sign(&expired)),
        ("wrong issuer", sign(&wrong_iss)),
        ("wrong audience", changed("aud", json!("someone-else"))),
        ("missing exp", without("exp")),
        ("missing sub", without("sub")),
        ("missing role", without("role")),
        ("sub not a UUID", changed("sub", json!("12345"))),
        ("unknown role", sign(&bad_role)),
        ("garbage", "not-a-token".to_string()),
    ];
    for (case, token) in cases {
        let response = me(&app, &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let anonymous = app.client.get(app.api("/auth/me")).send().await.unwrap();
    problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(me(&app, &sign(&good)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_adds_its_user_to_the_directory() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let token = sign(&claims(id, "newcomer@example.com", "New Comer", "agent"));

    assert_eq!(me(&app, &token).await.status(), StatusCode::OK);

    let stored = users::find(&app.pool, id)
        .await
        .unwrap()
        .expect("the user is known");
    assert_eq!(
        (stored.name.as_str(), stored.role),
        ("New Comer", Role::Agent)
    );
    let origin: String = sqlx::query_scalar("SELECT origin FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(origin, "token");
}

#[tokio::test]
async fn admins_add_users_who_can_then_log_in() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;

    let response = app
        .post(
            "/users",
            &admin,
            json!({"email": "new@example.com", "name": "  New Agent ", "role": "agent", "password": "s3cret-pass-long"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], "New Agent");
    assert_eq!(user["role"], "agent");
    let id: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 7);
    let logged_in = login(
        &app,
        json!({"email": "new@example.com", "password": "s3cret-pass-long"}),
    )
    .await;
    assert_eq!(logged_in.status(), StatusCode::OK);

    let again = app
        .post(
            "/users",
            &admin,
            json!({"email": "NEW@example.com", "name": "Twin", "role": "agent"}),
        )
        .await;
    let conflict = problem(again, StatusCode::CONFLICT).await;
    assert_eq!(conflict["detail"], "a user with this e-mail exists");
}

#[tokio::test]
async fn only_admins_add_users() {
    let app = spawn_app().await;
    for role in ["requester", "agent", "auditor"] {
        let caller = app.user(role).await;
        let response = app
            .post(
                "/users",
                &caller,
                json!({"email": "x@example.com", "name": "X", "role": "agent"}),
            )
            .await;
        problem(response, StatusCode::FORBIDDEN).await;
    }
}

#[tokio::test]
async fn a_new_user_with_bad_fields_is_a_422_listing_them_all() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let cases = [
        (
            json!({"email": "no-at-sign", "name": "  ", "role": "boss", "password": "short"}),
            vec!["email", "name", "password", "role"],
        ),
        (json!({}), vec!["email", "name", "role"]),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "name": "x".repeat(201), "role": "agent"}),
            vec!["email", "name"],
        ),
        (
            json!({"email": "a@b", "name": "A", "role": "agent", "password": 12345678, "admin": true}),
            vec!["admin", "password"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post("/users", &admin, body.clone()).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&problem), fields, "{body}");
    }
}

#[tokio::test]
async fn staff_and_auditors_list_users_by_name() {
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    add_user(&app, "zed@example.com", Role::Requester, None).await;
    crate::helpers::add_user_with(
        &app.pool,
        "amy@example.com",
        "Amy",
        Role::Agent,
        None,
        Origin::Api,
    )
    .await;

    let all: Value = app.get("/users", &agent).await.json().await.unwrap();
    let agents: Value = app
        .get("/users?role=agent", &agent)
        .await
        .json()
        .await
        .unwrap();

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_string())
            .collect()
    };
    let mut sorted = names(&all);
    sorted.sort();
    assert_eq!(names(&all), sorted);
    assert_eq!(names(&all).len(), 3);
    assert!(agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["role"] == "agent"));
    assert_eq!(names(&agents).len(), 2);

    let auditor = app.user("auditor").await;
    assert_eq!(app.get("/users", &auditor).await.status(), StatusCode::OK);
    let requester = app.user("requester").await;
    problem(app.get("/users", &requester).await, StatusCode::FORBIDDEN).await;
    let invalid = problem(
        app.get("/users?role=boss", &agent).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(failing_fields(&invalid), ["role"]);
}

#[tokio::test]
async fn with_a_public_key_only_rs256_tokens_are_accepted() {
    let app = spawn_app_with(|s| {
        s.auth.secret = None;
        s.auth.public_key = Some(RSA_PUBLIC.to_string());
    })
    .await;
    let good = claims(Uuid::now_v7(), "rsa@example.com", "Rsa", "agent");
    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &good,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();

    assert_eq!(me(&app, &rs256).await.status(), StatusCode::OK);
    problem(me(&app, &sign(&good)).await, StatusCode::UNAUTHORIZED).await;
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .unwrap();
    problem(me(&app, &confused).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn the_openapi_document_describes_auth_and_users() {
    let app = spawn_app().await;
    let doc: Value = app.root_json("/openapi.json").await;
    for path in ["/api/v1/auth/login", "/api/v1/auth/me", "/api/v1/users"] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["paths"]["/api/v1/users"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/users"]["get"].is_object());
}

/// Unpadded base64url, enough to forge a token header by hand.
fn url_safe_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
