//! `POST /auth/refresh` and `POST /auth/logout` (CONTRACT 11): the refresh token comes in the
//! HTTP-only cookie (browsers) or as the body's `refresh_token` (other clients). Cookie calls
//! need no other header: the cookie is `SameSite=Strict`, and a body, when sent, must be JSON,
//! which no cross-site form can send.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;

use super::bearer::bearer_token;
use super::body::{BodyKind, JsonBody};
use super::credentials::{presented, removal_cookie, Peer};
use super::error::{ApiError, Result};
use super::form::request_body;
use super::login::{token_answer, TokenResponse};
use super::members::{Context, Text};
use super::state::AppState;
use crate::users::throttle::{self, Budget, Kind};
use crate::users::{self, sessions};

/// Refreshes one account may make per failure window (`LOGIN_RATE_LIMIT`'s, 15 minutes): a
/// browser refreshes about once an hour per session, so only a token being hammered reaches it.
pub const REFRESHES_PER_WINDOW: u32 = 60;

/// The session routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

request_body! {
    /// `POST /auth/refresh` and `POST /auth/logout` body (optional with the refresh cookie).
    pub struct RefreshRequest, read as RefreshDraft {
        /// The refresh token, for clients without the cookie; with the cookie, the same token.
        pub refresh_token: Option<Text>,
    }
}

/// The token a request presents, from its cookie or its body.
async fn read_token(state: &AppState, jar: &CookieJar, request: Request) -> Result<Option<String>> {
    let body = JsonBody::read(request, BodyKind::Optional).await?;
    let RefreshRequest { refresh_token } = RefreshRequest::parse(&body, &Context::from(state))?;
    presented(jar, refresh_token.map(|Text(t)| t))
}

fn refused(headers: &HeaderMap, jar: CookieJar, why: &str) -> (CookieJar, ApiError) {
    (
        jar.add(removal_cookie(headers)),
        ApiError::Unauthorized(format!("{why}: sign in again")),
    )
}

/// Trades a refresh token for a new access token and a new refresh token (the old one is used
/// up). A revoked, reused, expired or unknown token → 401; reusing a token that was already
/// traded revokes every token of its login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body(content = RefreshRequest, description = "optional with the refresh cookie"),
    responses(
        (status = 200, body = TokenResponse, headers(("Set-Cookie" = String, description = "the rotated refresh cookie"))),
        (status = 400, body = super::error::Problem),
        (status = 401, description = "no refresh token, or a revoked, reused, expired or unknown one", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
        (status = 429, description = "too many attempts from this address, or refreshes of this account", body = super::error::Problem),
        (status = 503, body = super::error::Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    jar: CookieJar,
    request: Request,
) -> std::result::Result<(CookieJar, Json<TokenResponse>), (CookieJar, ApiError)> {
    let bearer = bearer_token(request.headers(), request.uri()).map(|b| b.value);
    let token = match read_token(&state, &jar, request).await {
        Ok(Some(token)) => token,
        Ok(None) => return Err(refused(&headers, jar, "no refresh token")),
        Err(error @ ApiError::Unauthorized(_)) => {
            return Err((jar.add(removal_cookie(&headers)), error))
        }
        Err(error) => return Err((jar, error)),
    };
    if let Err(error) = state.credentials.check_address(peer) {
        return Err((jar, error));
    }
    let owner = sessions::family_of(&state.pool, &token)
        .await
        .map_err(|e| (jar.clone(), ApiError::from(e)))?;
    // Per account too: tokens of one account spread over many addresses share one budget.
    if let Some((_, user_id)) = owner {
        let budget = Budget {
            failures: REFRESHES_PER_WINDOW,
            window: state.credentials.account_budget().window,
            backoff: None,
        };
        let counted = throttle::attempt(&state.pool, Kind::Refresh, &user_id.to_string(), budget)
            .await
            .map_err(|e| (jar.clone(), ApiError::from(e)))?;
        if let Err(retry_after_secs) = counted {
            tracing::warn!(%user_id, "refreshes over the account's budget");
            return Err((jar, ApiError::TooManyRequests { retry_after_secs }));
        }
    }
    // An access token sent along must be the same user's: one user's session cannot be used
    // to refresh another's.
    if let Some(bearer) = bearer {
        if let (Ok(caller), Some((_, user_id))) = (state.auth.verify_token(&bearer).await, owner) {
            if caller.id != user_id {
                return Err(refused(
                    &headers,
                    jar,
                    "the refresh token is another user's",
                ));
            }
        }
    }
    let ttl = state.credentials.refresh_ttl();
    let rotated = match sessions::rotate(&state.pool, &token, ttl).await {
        Ok(Ok(rotated)) => rotated,
        Ok(Err(why)) => {
            tracing::info!(reason = why.as_str(), "refresh token refused");
            return Err(refused(&headers, jar, "the refresh token is not valid"));
        }
        Err(error) => return Err((jar, ApiError::from(error))),
    };
    let user = match users::find(&state.pool, rotated.user_id).await {
        Ok(Some(user)) if user.active => user,
        Ok(_) => return Err(refused(&headers, jar, "the user is inactive")),
        Err(error) => return Err((jar, ApiError::from(error))),
    };
    token_answer(&state, &headers, jar.clone(), &user, rotated.issued).map_err(|e| (jar, e))
}

/// Ends a session: revokes every token of the refresh token's login, and clears the cookie.
/// Answers 204 whatever the token (signing out twice is signing out).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = RefreshRequest, description = "optional with the refresh cookie"),
    responses(
        (status = 204, description = "signed out", headers(("Set-Cookie" = String, description = "clears the refresh cookie"))),
        (status = 400, body = super::error::Problem),
        (status = 401, description = "the cookie and the body name different tokens", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
        (status = 503, body = super::error::Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    request: Request,
) -> Result<(CookieJar, StatusCode)> {
    let token = read_token(&state, &jar, request).await?;
    if let Some(token) = token {
        sessions::revoke_family_of(&state.pool, &token).await?;
    }
    Ok((jar.add(removal_cookie(&headers)), StatusCode::NO_CONTENT))
}
