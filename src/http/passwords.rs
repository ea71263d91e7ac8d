//! `POST /auth/password`, `POST /auth/password-reset` and `POST /auth/password-reset/confirm`
//! (CONTRACT 11).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::credentials::{Peer, REFRESH_COOKIE};
use super::error::{ApiError, Result};
use super::form::request_body;
use super::members::{Context, Password, Text};
use super::state::AppState;
use super::user_routes::recorder;
use crate::auth::{password, Caller};
use crate::store::user_stream::Recorder;
use crate::users::resets::{self, Checked};
use crate::users::throttle::{self, Budget, Kind};
use crate::users::{self, changes, sessions};

/// Reset mails one account may be sent per window (more are silently not sent).
const RESET_MAILS: Budget = Budget {
    failures: 5,
    window: Duration::from_secs(15 * 60),
    backoff: None,
};

/// The password routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/password", post(change))
        .route("/auth/password-reset", post(request_reset))
        .route("/auth/password-reset/confirm", post(confirm_reset))
}

request_body! {
    /// `POST /auth/password` body.
    pub struct ChangePasswordRequest, read as ChangePasswordDraft {
        /// The password now.
        pub current: Text,
        /// The new password: 12–1024 characters, not a common password.
        pub new: Password,
    }
}

request_body! {
    /// `POST /auth/password-reset` body.
    pub struct ResetRequest, read as ResetDraft {
        /// The account's e-mail address (any case).
        pub email: Text,
    }
}

request_body! {
    /// `POST /auth/password-reset/confirm` body.
    pub struct ResetConfirmRequest, read as ResetConfirmDraft {
        /// The account's e-mail address (any case).
        pub email: Text,
        /// The code from the mail (after `code:`).
        pub code: Text,
        /// The new password: 12–1024 characters, not a common password.
        pub new: Password,
    }
}

/// Who records a change a user makes to their own account without a token (a reset).
fn self_recorder(state: &AppState, user: &users::User) -> Recorder {
    let mut recorder = Recorder::system(&state.settings.source);
    recorder.actor = ticket_nats::Actor {
        id: user.id.to_string(),
        name: user.name.clone(),
        role: user.role.as_str().to_string(),
    };
    recorder
}

/// Changes the caller's password. The caller's other sessions end; the one whose refresh
/// cookie comes with the request goes on.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 400, body = super::error::Problem),
        (status = 401, body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, description = "a wrong `current`, or a `new` too short, too long or common", body = super::error::Problem),
        (status = 429, description = "too many wrong passwords for this account", body = super::error::Problem),
        (status = 503, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    jar: CookieJar,
    request: Request,
) -> Result<StatusCode> {
    let recorder = recorder(&state, &caller, request.headers());
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let ChangePasswordRequest {
        current: Text(current),
        new: Password(new),
    } = ChangePasswordRequest::parse(&body, &Context::from(&state))?;
    let wrong = || ApiError::invalid("current", "is not the current password");
    let Some(user) = users::find(&state.pool, caller.id).await? else {
        return Err(wrong());
    };
    let account = user.email.clone().unwrap_or_default().to_lowercase();
    if let Err(retry_after_secs) = throttle::attempt(
        &state.pool,
        Kind::Login,
        &account,
        state.credentials.account_budget(),
    )
    .await?
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let hash = match &user.email {
        Some(email) => users::find_credentials(&state.pool, email)
            .await?
            .filter(|(found, _)| found.id == user.id)
            .and_then(|(_, hash)| hash),
        None => None,
    };
    if !password::verify(current, hash).await? {
        return Err(wrong());
    }
    throttle::clear(&state.pool, Kind::Login, &account).await?;
    let keep = match jar.get(REFRESH_COOKIE) {
        Some(cookie) => sessions::family_of(&state.pool, cookie.value())
            .await?
            .filter(|(_, owner)| *owner == user.id)
            .map(|(family, _)| family),
        None => None,
    };
    changes::set_password(&state.pool, &recorder, user.id, &new, keep)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    tracing::info!(user_id = %user.id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a single-use code valid 15 minutes to the account's address. Always 202, whether the
/// address names an account or not; the mail goes out after the answer.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses(
        (status = 202, description = "a code is mailed if the address names an active account"),
        (status = 400, body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
        (status = 429, description = "too many attempts from this address", body = super::error::Problem),
        (status = 503, body = super::error::Problem)))]
pub async fn request_reset(
    State(state): State<AppState>,
    peer: Peer,
    body: JsonBody,
) -> Result<StatusCode> {
    let ResetRequest { email: Text(email) } = ResetRequest::parse(&body, &Context::from(&state))?;
    state.credentials.check_address(peer)?;
    // The lookup and the mail run after the answer, so that its timing says nothing either.
    tokio::spawn(async move {
        if let Err(error) = send_reset(&state, &email).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot send a password reset code"
            );
        }
    });
    Ok(StatusCode::ACCEPTED)
}

async fn send_reset(state: &AppState, email: &str) -> anyhow::Result<()> {
    let Some(mailer) = state.credentials.mailer() else {
        tracing::warn!("a password reset was asked for, but SMTP_URL and EMAIL_FROM are not set");
        return Ok(());
    };
    let Some(user) = users::find_by_email(&state.pool, email)
        .await?
        .filter(|u| u.active)
    else {
        return Ok(());
    };
    let Some(address) = user.email.clone() else {
        return Ok(());
    };
    let account = address.to_lowercase();
    if throttle::attempt(&state.pool, Kind::ResetMail, &account, RESET_MAILS)
        .await?
        .is_err()
    {
        tracing::warn!(user_id = %user.id, "reset mails over the account's budget: none sent");
        return Ok(());
    }
    let code = resets::create(&state.pool, user.id).await?;
    mailer.send(&address, &code).await?;
    tracing::info!(user_id = %user.id, "password reset code mailed");
    Ok(())
}

/// Sets a new password with a code from the reset mail. A wrong, expired or used code → 422
/// naming `code`; after five wrong tries the code is dead. Every session of the user ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses(
        (status = 204, description = "the password is set"),
        (status = 400, body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, description = "a wrong, expired or used code, or a `new` too short, too long or common", body = super::error::Problem),
        (status = 429, description = "too many attempts from this address", body = super::error::Problem),
        (status = 503, body = super::error::Problem)))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    peer: Peer,
    _headers: HeaderMap,
    body: JsonBody,
) -> Result<StatusCode> {
    let ResetConfirmRequest {
        email: Text(email),
        code: Text(code),
        new: Password(new),
    } = ResetConfirmRequest::parse(&body, &Context::from(&state))?;
    state.credentials.check_address(peer)?;
    let bad = || {
        ApiError::invalid(
            "code",
            "is not valid: wrong, expired, used or tried too often",
        )
    };
    let user = users::find_by_email(&state.pool, &email)
        .await?
        .filter(|u| u.active);
    let (user_id, user) = match user {
        Some(user) => (user.id, Some(user)),
        // Checked all the same against no code, so that the work done is alike.
        None => (Uuid::nil(), None),
    };
    if resets::check(&state.pool, user_id, &code).await? != Checked::Good {
        return Err(bad());
    }
    let Some(user) = user else {
        return Err(bad());
    };
    changes::set_password(
        &state.pool,
        &self_recorder(&state, &user),
        user.id,
        &new,
        None,
    )
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    throttle::clear(&state.pool, Kind::Login, &email.trim().to_lowercase()).await?;
    tracing::info!(user_id = %user.id, "password reset");
    Ok(StatusCode::NO_CONTENT)
}
