//! `POST /auth/login` and `GET /auth/me` (CONTRACT 2.2, 11).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::credentials::{refresh_cookie, Peer};
use super::error::{ApiError, Result};
use super::form::request_body;
use super::members::{Context, Text};
use super::state::AppState;
use crate::auth::{password, Caller};
use crate::domain::Role;
use crate::users::throttle::{self, Kind};
use crate::users::{self, sessions, User};
use uuid::Uuid;

/// The authentication routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
}

request_body! {
    /// `POST /auth/login` body.
    pub struct LoginRequest, read as LoginDraft {
        /// The user's e-mail address (any case).
        pub email: Text,
        /// The user's password.
        pub password: Text,
    }
}

/// A token for the API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// The opaque refresh token for `POST /auth/refresh` (the same as the refresh cookie's),
    /// for clients without cookies. Single use: each refresh answers a new one.
    pub refresh_token: String,
}

/// An access token for `user` and a refresh token of `family` (new at login), as the answer
/// and the cookie (shared by login and refresh).
pub(crate) fn token_answer(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    user: &User,
    refresh: sessions::Issued,
) -> Result<(CookieJar, Json<TokenResponse>)> {
    let expires_in = state.auth.token_ttl_secs();
    let access_token = state.auth.mint(user, expires_in)?;
    let ttl = state.credentials.refresh_ttl();
    let jar = jar.add(refresh_cookie(headers, refresh.token.clone(), ttl));
    Ok((
        jar,
        Json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            refresh_token: refresh.token,
        }),
    ))
}

/// Trades an e-mail and password for an access token and a refresh token (also set as an
/// HTTP-only cookie), and sets a device cookie for the account. Failures are limited per
/// account (with a short, doubling hold after consecutive failures) and per address; a valid
/// device cookie for the account exempts the login from the account's limits.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse, headers(("Set-Cookie" = String, description = "the refresh cookie and the device cookie (ticketd_device, Path=/api/v1/auth/login): HttpOnly, SameSite=Strict, Secure except on loopback"))),
        (status = 400, body = super::error::Problem),
        (status = 401, description = "unknown e-mail, wrong password or inactive user", body = super::error::Problem),
        (status = 403, description = "password login is disabled (no JWT_SECRET)", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
        (status = 429, description = "too many failures for this account (or consecutive ones: a short hold), or attempts from this address; Retry-After says when to try again", body = super::error::Problem),
        (status = 503, body = super::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    jar: CookieJar,
    body: JsonBody,
) -> Result<(CookieJar, Json<TokenResponse>)> {
    let LoginRequest {
        email: Text(email),
        password: Text(password),
    } = LoginRequest::parse(&body, &Context::from(&state))?;
    if !state.auth.can_mint() {
        return Err(ApiError::Forbidden(
            "password login is disabled: this engine has no JWT_SECRET to sign tokens with".into(),
        ));
    }
    state.credentials.check_address(peer)?;
    let account = email.trim().to_lowercase();
    // A browser that signed in to this account before is not held by the account's budget or
    // backoff (an attacker elsewhere cannot lock its owner out), as long as its own failures
    // stay within a budget: a stolen device cookie gets no unlimited guesses.
    let device = match state.credentials.trusted_device(&jar, &account) {
        Some(nonce) => throttle::attempt(
            &state.pool,
            Kind::Device,
            nonce,
            state.credentials.account_budget(),
        )
        .await?
        .is_ok()
        .then(|| nonce.to_string()),
        None => None,
    };
    if device.is_none() {
        if let Err(retry_after_secs) = throttle::attempt(
            &state.pool,
            Kind::Login,
            &account,
            state.credentials.login_budget(),
        )
        .await?
        {
            tracing::warn!(retry_after_secs, "login held for the account");
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
    }
    let found = users::find_credentials(&state.pool, &email).await?;
    // Unknown e-mails and users without a password are checked against a dummy hash, so that
    // the answer and its timing say nothing about which addresses exist.
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let matches = password::verify(password, hash).await?;
    // An inactive user (deactivated, or merged into another) is refused like a wrong password.
    let Some(user) = user.filter(|u| matches && u.active) else {
        if device.is_none() {
            throttle::failed(
                &state.pool,
                Kind::Login,
                &account,
                state.credentials.login_budget(),
            )
            .await?;
        }
        return Err(ApiError::Unauthorized("invalid e-mail or password".into()));
    };
    match &device {
        // The owner's trusted browser leaves the account's count alone: whoever spent it from
        // elsewhere stays held.
        Some(nonce) => throttle::clear(&state.pool, Kind::Device, nonce).await?,
        None => throttle::clear(&state.pool, Kind::Login, &account).await?,
    }
    let jar = match state.credentials.device_cookie(&headers, &account) {
        Some(cookie) => jar.add(cookie),
        None => jar,
    };
    let refresh = sessions::issue(&state.pool, user.id, state.credentials.refresh_ttl()).await?;
    tracing::info!(user_id = %user.id, family = %refresh.family, trusted_device = device.is_some(), "logged in");
    token_answer(&state, &headers, jar, &user, refresh)
}

/// `GET /auth/me`: the caller as its token names them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Id (the token's `sub`).
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
}

/// The caller, as its token names it.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        id: caller.id,
        email: caller.email,
        name: caller.name,
        role: caller.role,
    })
}
