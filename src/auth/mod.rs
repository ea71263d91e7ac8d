//! Authentication: JWT verification, the caller extractor, passwords and token minting.
//! (Interface in place; the implementation is being written.)

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::domain::{Actor, Role};
use crate::http::error::ApiError;
use crate::settings::AuthSettings;
use crate::state::AppState;

/// Verifies tokens and mints development ones.
pub struct Authenticator {
    settings: AuthSettings,
}

impl Authenticator {
    /// Builds the verifier from its settings.
    pub async fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        Ok(Self {
            settings: settings.clone(),
        })
    }

    /// Checks a bearer token.
    pub async fn verify(&self, _token: &str) -> Result<Caller, ApiError> {
        let _ = &self.settings;
        Err(ApiError::Unauthorized("not implemented".into()))
    }
}

/// The authenticated user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id (`sub`).
    pub id: Uuid,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

impl Caller {
    /// The caller as a command's actor.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        state.auth.verify(token).await
    }
}

/// `ticketd token`.
pub async fn cli_token(
    _pool: &sqlx::PgPool,
    _settings: &crate::settings::Settings,
    _args: crate::cli::TokenArgs,
) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
