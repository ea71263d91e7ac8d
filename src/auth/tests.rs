//! Token checks: what is accepted, and everything that must be a 401.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::Request;
use jsonwebtoken::{EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;

use super::*;
use crate::domain::Role;
use crate::http::bearer::{bearer, caller_from_header, caller_from_parts};
use crate::http::error::ApiError;
use crate::users::tests::TestDb;
use crate::users::Origin;

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";
const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/jwt/rs256_private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/jwt/rs256_public.pem");
const RSA_OTHER_PRIVATE: &str = include_str!("../../tests/fixtures/jwt/rs256_other_private.pem");
const ED_PRIVATE: &str = include_str!("../../tests/fixtures/jwt/ed25519_private.pem");
const ED_PUBLIC: &str = include_str!("../../tests/fixtures/jwt/ed25519_public.pem");
const JWKS: &str = include_str!("../../tests/fixtures/jwt/jwks.json");

fn settings() -> AuthSettings {
    AuthSettings {
        secret: Some(SecretString::from(SECRET.to_string())),
        public_key: None,
        jwks_url: None,
        issuer: "ticketd".into(),
        audience: "ticketd-api".into(),
        token_ttl_secs: 3600,
    }
}

fn public_key_settings(pem: &str) -> AuthSettings {
    AuthSettings {
        secret: None,
        public_key: Some(pem.to_string()),
        ..settings()
    }
}

/// A pool that never connects: these tests do not reach the directory.
fn no_db() -> PgPool {
    PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap()
}

async fn authenticator(settings: AuthSettings) -> Authenticator {
    Authenticator::new(&settings, no_db()).await.unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({
        "sub": "0193a5c2-7b1e-7c3d-9f00-0123456789ab",
        "email": "jane@example.com",
        "name": "Jane Doe",
        "role": "agent",
        "iss": "ticketd",
        "aud": "ticketd-api",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

fn rs256(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        kid,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
}

fn eddsa(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::EdDSA,
        kid,
        claims,
        &EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
    )
}

async fn refused(auth: &Authenticator, token: &str) -> String {
    match auth.verify_token(token).await {
        Err(AuthError::Unauthorized(reason)) => reason,
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_hs256_token_names_its_caller() {
    let auth = authenticator(settings()).await;

    let claims = claims();
    let exp = claims["exp"].as_u64().unwrap();

    let caller = auth.verify_token(&hs256(&claims)).await.unwrap();

    assert_eq!(
        caller,
        Caller {
            id: Uuid::parse_str("0193a5c2-7b1e-7c3d-9f00-0123456789ab").unwrap(),
            email: "jane@example.com".into(),
            name: "Jane Doe".into(),
            role: Role::Agent,
            expires_at: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp)),
        }
    );
}

#[tokio::test]
async fn an_audience_list_holding_ours_is_accepted() {
    let auth = authenticator(settings()).await;
    let token = hs256(&with(claims(), "aud", json!(["other", "ticketd-api"])));
    assert!(auth.verify_token(&token).await.is_ok());
}

#[tokio::test]
async fn every_broken_claim_is_a_401() {
    let auth = authenticator(settings()).await;
    let cases = [
        ("wrong issuer", with(claims(), "iss", json!("someone-else"))),
        ("missing issuer", without(claims(), "iss")),
        ("wrong audience", with(claims(), "aud", json!("other-api"))),
        ("missing audience", without(claims(), "aud")),
        ("expired", with(claims(), "exp", json!(now() - 30))),
        ("expired long ago", with(claims(), "exp", json!(0))),
        ("expiring now", with(claims(), "exp", json!(now()))),
        ("not valid yet", with(claims(), "nbf", json!(now() + 600))),
        ("missing exp", without(claims(), "exp")),
        ("exp not a number", with(claims(), "exp", json!("tomorrow"))),
        ("missing sub", without(claims(), "sub")),
        ("sub not a UUID", with(claims(), "sub", json!("jane"))),
        ("sub a number", with(claims(), "sub", json!(42))),
        ("missing role", without(claims(), "role")),
        ("unknown role", with(claims(), "role", json!("superuser"))),
        ("role in capitals", with(claims(), "role", json!("Agent"))),
        (
            "role not a string",
            with(claims(), "role", json!(["agent"])),
        ),
        ("missing email", without(claims(), "email")),
        ("null email", with(claims(), "email", Value::Null)),
        ("missing name", without(claims(), "name")),
        ("empty name", with(claims(), "name", json!("  "))),
    ];
    for (case, claims) in cases {
        let result = auth.verify_token(&hs256(&claims)).await;
        assert!(
            matches!(result, Err(AuthError::Unauthorized(_))),
            "{case}: expected a 401, got {result:?}"
        );
    }
}

#[tokio::test]
async fn reasons_are_short_and_specific() {
    let auth = authenticator(settings()).await;
    assert_eq!(
        refused(&auth, &hs256(&with(claims(), "exp", json!(now() - 30)))).await,
        "token expired"
    );
    assert_eq!(
        refused(&auth, &hs256(&with(claims(), "iss", json!("x")))).await,
        "wrong token issuer"
    );
    assert_eq!(
        refused(&auth, &hs256(&with(claims(), "aud", json!("x")))).await,
        "wrong token audience"
    );
    assert_eq!(
        refused(&auth, &hs256(&without(claims(), "role"))).await,
        "token claim role missing"
    );
    assert_eq!(
        refused(&auth, &rs256(None, &claims())).await,
        "token algorithm not accepted"
    );
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_a_401() {
    let auth = authenticator(settings()).await;
    let token = sign(
        Algorithm::HS256,
        None,
        &claims(),
        &EncodingKey::from_secret(b"another-secret-that-is-also-32-bytes-long"),
    );
    assert_eq!(refused(&auth, &token).await, "invalid token signature");
}

#[tokio::test]
async fn a_tampered_payload_is_a_401() {
    let auth = authenticator(settings()).await;
    let genuine = hs256(&claims());
    let admin = hs256(&with(claims(), "role", json!("admin")));
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_payload = admin.split('.').nth(1).unwrap();
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(refused(&auth, &forged).await, "invalid token signature");
}

/// base64url of `{"alg":"none","typ":"JWT"}`, `{"alg":"None","typ":"JWT"}`,
/// `{"alg":"NONE","typ":"JWT"}` and `{"alg":"none"}`.
const NONE_HEADERS: [&str; 4] = [
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
    "eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0",
    "eyJhbGciOiJOT05FIiwidHlwIjoiSldUIn0",
    "eyJhbGciOiJub25lIn0",
];

#[tokio::test]
async fn alg_none_in_any_spelling_is_a_401() {
    let configs = [
        settings(),
        public_key_settings(RSA_PUBLIC),
        public_key_settings(ED_PUBLIC),
    ];
    for config in configs {
        let auth = authenticator(config).await;
        let genuine = hs256(&claims());
        let payload = genuine.split('.').nth(1).unwrap();
        let signature = genuine.split('.').nth(2).unwrap();
        for header in NONE_HEADERS {
            for token in [
                format!("{header}.{payload}."),
                format!("{header}.{payload}"),
                format!("{header}.{payload}.{signature}"),
            ] {
                let result = auth.verify_token(&token).await;
                assert!(
                    matches!(result, Err(AuthError::Unauthorized(_))),
                    "{token}: expected a 401, got {result:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn malformed_tokens_are_a_401() {
    let auth = authenticator(settings()).await;
    for token in [
        "",
        " ",
        "abc",
        "a.b",
        "a.b.c",
        "....",
        "eyJ.eyJ.sig",
        "Bearer x.y.z",
        "é.ü.ß",
    ] {
        let result = auth.verify_token(token).await;
        assert!(
            matches!(result, Err(AuthError::Unauthorized(_))),
            "{token:?}: expected a 401, got {result:?}"
        );
    }
}

#[tokio::test]
async fn a_secret_verifies_only_hs256() {
    let auth = authenticator(settings()).await;
    let hs512 = sign(
        Algorithm::HS512,
        None,
        &claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    );
    assert_eq!(refused(&auth, &hs512).await, "token algorithm not accepted");
    assert_eq!(
        refused(&auth, &rs256(None, &claims())).await,
        "token algorithm not accepted"
    );
    assert_eq!(
        refused(&auth, &eddsa(None, &claims())).await,
        "token algorithm not accepted"
    );
}

#[tokio::test]
async fn an_rsa_public_key_verifies_rs256_only() {
    let auth = authenticator(public_key_settings(RSA_PUBLIC)).await;

    let caller = auth.verify_token(&rs256(None, &claims())).await.unwrap();
    assert_eq!(caller.email, "jane@example.com");

    let other = sign(
        Algorithm::RS256,
        None,
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE.as_bytes()).unwrap(),
    );
    assert_eq!(refused(&auth, &other).await, "invalid token signature");
    assert_eq!(
        refused(&auth, &hs256(&claims())).await,
        "token algorithm not accepted"
    );
    assert_eq!(
        refused(&auth, &eddsa(None, &claims())).await,
        "token algorithm not accepted"
    );
    let rs512 = sign(
        Algorithm::RS512,
        None,
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    );
    assert_eq!(refused(&auth, &rs512).await, "token algorithm not accepted");
    // The classic confusion: HS256 "signed" with the public key's PEM as the HMAC secret.
    let confused = sign(
        Algorithm::HS256,
        None,
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    );
    assert_eq!(
        refused(&auth, &confused).await,
        "token algorithm not accepted"
    );
    // Claims are checked with a public key as with a secret.
    let expired = rs256(None, &with(claims(), "exp", json!(now() - 10)));
    assert_eq!(refused(&auth, &expired).await, "token expired");
}

#[tokio::test]
async fn an_ed25519_public_key_verifies_eddsa_only() {
    let auth = authenticator(public_key_settings(ED_PUBLIC)).await;

    let caller = auth.verify_token(&eddsa(None, &claims())).await.unwrap();
    assert_eq!(caller.role, Role::Agent);

    assert_eq!(
        refused(&auth, &hs256(&claims())).await,
        "token algorithm not accepted"
    );
    assert_eq!(
        refused(&auth, &rs256(None, &claims())).await,
        "token algorithm not accepted"
    );
    let confused = sign(
        Algorithm::HS256,
        None,
        &claims(),
        &EncodingKey::from_secret(ED_PUBLIC.as_bytes()),
    );
    assert_eq!(
        refused(&auth, &confused).await,
        "token algorithm not accepted"
    );
}

#[tokio::test]
async fn a_secret_and_a_public_key_each_keep_their_algorithm() {
    let auth = authenticator(AuthSettings {
        public_key: Some(RSA_PUBLIC.to_string()),
        ..settings()
    })
    .await;
    assert!(auth.verify_token(&hs256(&claims())).await.is_ok());
    assert!(auth.verify_token(&rs256(None, &claims())).await.is_ok());
    assert_eq!(
        refused(&auth, &eddsa(None, &claims())).await,
        "token algorithm not accepted"
    );
}

#[test]
fn public_keys_are_recognised_by_type() {
    assert_eq!(jwt::public_key(RSA_PUBLIC).unwrap().alg, Algorithm::RS256);
    assert_eq!(jwt::public_key(ED_PUBLIC).unwrap().alg, Algorithm::EdDSA);
    // One line with literal \n, as environment files often have it.
    assert_eq!(
        jwt::public_key(&RSA_PUBLIC.replace('\n', "\\n"))
            .unwrap()
            .alg,
        Algorithm::RS256
    );
    assert!(jwt::public_key(RSA_PRIVATE).is_err());
    assert!(jwt::public_key(ED_PRIVATE).is_err());
    assert!(jwt::public_key("not a pem").is_err());
}

#[tokio::test]
async fn minted_tokens_verify_and_carry_the_user() {
    let auth = authenticator(settings()).await;
    let user = User {
        id: Uuid::now_v7(),
        email: Some("min@example.com".into()),
        phone: None,
        name: "Min Ted".into(),
        role: Role::Auditor,
        login: false,
        active: true,
        merged_into: None,
    };

    let token = auth.mint(&user, 60).unwrap();
    let caller = auth.verify_token(&token).await.unwrap();

    assert_eq!(
        (caller.id, caller.email, caller.name, caller.role),
        (
            user.id,
            user.email.clone().unwrap(),
            user.name.clone(),
            user.role
        )
    );
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert!(auth.mint(&user, 0).is_err());
    assert!(auth.can_mint());
    let public_only = authenticator(public_key_settings(RSA_PUBLIC)).await;
    assert!(!public_only.can_mint());
    assert!(public_only.mint(&user, 60).is_err());
}

fn parts(authorization: Option<&str>, uri: &str) -> Parts {
    let mut request = Request::builder().uri(uri);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(()).unwrap().into_parts().0
}

#[test]
fn the_bearer_scheme_is_required() {
    assert!(bearer(&parts(None, "/")).is_none());
    assert_eq!(
        bearer(&parts(Some("Bearer abc"), "/")).unwrap().unwrap(),
        "abc"
    );
    assert_eq!(
        bearer(&parts(Some("bearer  abc "), "/")).unwrap().unwrap(),
        "abc"
    );
    for bad in [
        "Basic dXNlcjpwdw==",
        "Bearer",
        "Bearer ",
        "abc",
        "Token abc",
    ] {
        assert!(
            matches!(
                bearer(&parts(Some(bad), "/")),
                Some(Err(ApiError::Unauthorized(_)))
            ),
            "{bad}"
        );
    }
}

// --- JWKS --------------------------------------------------------------------------------

/// Serves `document` (changeable) at `http://127.0.0.1:<port>/jwks.json`, counting requests.
async fn jwks_server(document: Value) -> (String, Arc<std::sync::Mutex<Value>>, Arc<AtomicUsize>) {
    let document = Arc::new(std::sync::Mutex::new(document));
    let hits = Arc::new(AtomicUsize::new(0));
    let (doc, count) = (document.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (doc, count) = (doc.clone(), count.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let body = doc.lock().unwrap().clone();
                axum::Json(body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://127.0.0.1:{port}/jwks.json"), document, hits)
}

fn jwks_settings(url: &str) -> AuthSettings {
    AuthSettings {
        secret: None,
        jwks_url: Some(url.to_string()),
        ..settings()
    }
}

#[tokio::test]
async fn jwks_keys_verify_rs256_and_eddsa_tokens_by_kid() {
    let (url, _, hits) = jwks_server(serde_json::from_str(JWKS).unwrap()).await;
    let auth = authenticator(jwks_settings(&url)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "fetched at start-up");

    let caller = auth
        .verify_token(&rs256(Some("rsa-1"), &claims()))
        .await
        .unwrap();
    assert_eq!(caller.name, "Jane Doe");
    assert!(auth
        .verify_token(&eddsa(Some("ed-1"), &claims()))
        .await
        .is_ok());

    // The key's algorithm is the only one it accepts, whatever the token's header says.
    assert_eq!(
        refused(&auth, &eddsa(Some("rsa-1"), &claims())).await,
        "token algorithm not accepted"
    );
    assert_eq!(
        refused(&auth, &hs256(&claims())).await,
        "token algorithm not accepted"
    );
    // An encryption key is no signing key.
    assert_eq!(
        refused(&auth, &rs256(Some("enc-1"), &claims())).await,
        "unknown token key id"
    );
    // Claims are checked as always.
    let wrong_aud = rs256(Some("rsa-1"), &with(claims(), "aud", json!("x")));
    assert_eq!(refused(&auth, &wrong_aud).await, "wrong token audience");
    // A kid the document lacks may trigger a refresh, but not within 30 s of the last fetch.
    let other = sign(
        Algorithm::RS256,
        Some("rsa-2"),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE.as_bytes()).unwrap(),
    );
    assert_eq!(refused(&auth, &other).await, "unknown token key id");
    assert_eq!(refused(&auth, &other).await, "unknown token key id");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "no refetch within the interval"
    );
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_jwks() {
    let full: Value = serde_json::from_str(JWKS).unwrap();
    let ed_only = json!({"keys": [full["keys"][1].clone()]});
    let (url, document, hits) = jwks_server(ed_only).await;
    let cache = jwks::JwksCache::new(&url, Duration::ZERO).unwrap();
    cache.refresh().await.unwrap();
    let auth = Authenticator {
        jwks: Some(cache),
        ..authenticator(jwks_settings("http://127.0.0.1:1/unused")).await
    };
    let token = rs256(Some("rsa-1"), &claims());
    assert_eq!(refused(&auth, &token).await, "unknown token key id");

    // The provider rotates its keys.
    *document.lock().unwrap() = full;

    assert!(auth.verify_token(&token).await.is_ok());
    assert!(auth.verify_token(&token).await.is_ok());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "start, the refused token, the rotation; then cached"
    );
}

#[tokio::test]
async fn a_kid_goes_to_the_jwks_and_no_kid_to_the_public_key() {
    let (url, _, _) = jwks_server(serde_json::from_str(JWKS).unwrap()).await;
    let auth = authenticator(AuthSettings {
        public_key: Some(ED_PUBLIC.to_string()),
        ..jwks_settings(&url)
    })
    .await;

    assert!(auth.verify_token(&eddsa(None, &claims())).await.is_ok());
    assert!(auth
        .verify_token(&eddsa(Some("ed-1"), &claims()))
        .await
        .is_ok());
    assert!(auth
        .verify_token(&rs256(Some("rsa-1"), &claims()))
        .await
        .is_ok());
    // Without a kid an RS256 token may still use the document's only RSA key.
    assert!(auth.verify_token(&rs256(None, &claims())).await.is_ok());
    assert_eq!(
        refused(&auth, &eddsa(Some("nope"), &claims())).await,
        "unknown token key id"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_url_refuses_tokens_without_failing_start_up() {
    let auth = authenticator(jwks_settings("http://127.0.0.1:1/jwks.json")).await;
    assert_eq!(
        refused(&auth, &rs256(Some("rsa-1"), &claims())).await,
        "unknown token key id"
    );
}

// --- The directory -----------------------------------------------------------------------

#[tokio::test]
async fn a_token_adds_its_user_to_the_directory_once() {
    let db = TestDb::new().await;
    let auth = Authenticator::new(&settings(), db.pool.clone())
        .await
        .unwrap();
    let id = Uuid::new_v4();
    let token = hs256(&with(claims(), "sub", json!(id.to_string())));

    let caller = auth.verify(&token).await.unwrap();

    let stored = users::find(&db.pool, id).await.unwrap().unwrap();
    assert_eq!(
        (stored.email.as_deref(), stored.role),
        (Some("jane@example.com"), Role::Agent)
    );
    assert_eq!(caller.id, id);
    // Known now: no write on the next request (the row is gone and stays gone).
    sqlx::query("DELETE FROM users")
        .execute(&db.pool)
        .await
        .unwrap();
    auth.verify(&token).await.unwrap();
    assert_eq!(users::find(&db.pool, id).await.unwrap(), None);
    db.drop_db().await;
}

#[tokio::test]
async fn a_token_whose_email_belongs_to_another_user_still_works() {
    let db = TestDb::new().await;
    let auth = Authenticator::new(&settings(), db.pool.clone())
        .await
        .unwrap();
    let other = users::NewUser {
        email: Some("JANE@example.com"),
        phone: None,
        name: "Other Jane",
        role: Role::Requester,
        password: None,
        origin: Origin::Api,
    };
    users::create(&db.pool, &Recorder::system("ticketd"), other)
        .await
        .unwrap();
    let id = Uuid::new_v4();

    let caller = auth
        .verify(&hs256(&with(claims(), "sub", json!(id.to_string()))))
        .await
        .unwrap();

    assert_eq!(caller.id, id);
    assert_eq!(users::find(&db.pool, id).await.unwrap(), None);
    db.drop_db().await;
}

#[tokio::test]
async fn an_inactive_users_tokens_are_refused_once_the_directory_says_so() {
    let db = TestDb::new().await;
    let auth = Authenticator::new(&settings(), db.pool.clone())
        .await
        .unwrap();
    let id = Uuid::new_v4();
    let token = hs256(&with(claims(), "sub", json!(id.to_string())));
    auth.verify(&token).await.unwrap();

    let changes = users::changes::UserChanges {
        active: Some(false),
        ..Default::default()
    };
    users::changes::update(&db.pool, &Recorder::system("ticketd"), id, changes)
        .await
        .unwrap()
        .unwrap();
    auth.forget(id);

    assert!(matches!(
        auth.verify(&token).await,
        Err(AuthError::Unauthorized(_))
    ));
    db.drop_db().await;
}

#[tokio::test]
async fn the_query_parameter_authenticates_when_there_is_no_header() {
    let db = TestDb::new().await;
    let settings = crate::settings::Settings::for_database("postgres://unused", SECRET);
    let auth = Authenticator::new(&settings.auth, db.pool.clone())
        .await
        .unwrap();
    let token = hs256(&claims());

    let by_query = caller_from_parts(
        &parts(None, &format!("/ws?x=1&access_token={token}")),
        &auth,
    )
    .await;
    let by_header = caller_from_parts(&parts(Some(&format!("Bearer {token}")), "/ws"), &auth).await;
    let bad_header_wins = caller_from_parts(
        &parts(Some("Bearer nope"), &format!("/ws?access_token={token}")),
        &auth,
    )
    .await;
    let nothing = caller_from_parts(&parts(None, "/ws"), &auth).await;
    let header_only = parts(None, &format!("/ws?access_token={token}"));
    let extractor = caller_from_header(&header_only, &auth).await;

    assert_eq!(by_query.unwrap().email, "jane@example.com");
    assert_eq!(by_header.unwrap().email, "jane@example.com");
    assert!(matches!(bad_header_wins, Err(ApiError::Unauthorized(_))));
    assert!(matches!(nothing, Err(ApiError::Unauthorized(_))));
    assert!(
        matches!(extractor, Err(ApiError::Unauthorized(_))),
        "the extractor reads the header only"
    );
    db.drop_db().await;
}

#[test]
fn an_exp_beyond_the_clock_names_no_expiry_rather_than_failing() {
    let far = with(claims(), "exp", json!(1e300));
    let usual = claims();
    let exp = usual["exp"].as_u64().unwrap();

    let far = jwt::caller_from_claims(far.as_object().unwrap(), now() as u64).unwrap();
    let usual = jwt::caller_from_claims(usual.as_object().unwrap(), now() as u64).unwrap();

    assert_eq!(far.expires_at, None);
    assert_eq!(
        usual.expires_at,
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp))
    );
}
