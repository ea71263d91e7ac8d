//! `POST|GET /integrations`, `DELETE /integrations/{id}` (admins, CONTRACT 7), and the
//! [`IntegrationCaller`] extractor that `/intake/*` authenticates with.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::bearer::bearer;
use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::request_body;
use super::members::{Category, Context, UserName};
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::{Channel, Priority, Role};
use crate::integrations::{self, Integration, NewIntegration, KEY_PREFIX};

/// The integration routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/integrations",
            get(list_integrations).post(create_integration),
        )
        .route("/integrations/{id}", delete(revoke_integration))
}

/// The integration a request's `Authorization: Bearer tdk_…` key belongs to. The key may be
/// one this instance remembers rather than one looked up now: whatever acts on it confirms it
/// first ([`IntegrationCaller::confirm`]), or in the statement that writes (an intake's).
#[derive(Debug, Clone)]
pub struct IntegrationCaller {
    /// The integration.
    pub integration: Integration,
    /// Checked against the database by this request already.
    confirmed: bool,
}

/// The answer to a key that names no integration (unknown, or revoked).
pub fn unknown_key() -> ApiError {
    ApiError::Unauthorized("unknown or revoked integration key".into())
}

impl IntegrationCaller {
    /// Confirms that the integration is not revoked (a database read, unless this request
    /// looked the key up already): 401 if it is.
    pub async fn confirm(&self, state: &AppState) -> Result<()> {
        if self.confirmed || integrations::is_active(&state.pool, self.integration.id).await? {
            return Ok(());
        }
        state.integration_keys.forget(self.integration.id);
        Err(unknown_key())
    }

    /// `error`, unless the key turns out revoked: authentication answers before the request's
    /// content does, so that a revoked key learns nothing about what it sent.
    pub async fn refuse(&self, state: &AppState, error: ApiError) -> ApiError {
        match self.confirm(state).await {
            Ok(()) => error,
            Err(refused) => refused,
        }
    }
}

impl FromRequestParts<AppState> for IntegrationCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Some(token) = bearer(parts) else {
            return Err(ApiError::Unauthorized(
                "missing bearer integration key".into(),
            ));
        };
        let token = token?;
        if !token.starts_with(KEY_PREFIX) {
            return Err(ApiError::Unauthorized(
                "intake takes an integration key (tdk_…), not a user token".into(),
            ));
        }
        let identified = integrations::identify(&state.pool, &state.integration_keys, token)
            .await?
            .ok_or_else(unknown_key)?;
        Ok(IntegrationCaller {
            integration: identified.integration,
            confirmed: identified.confirmed,
        })
    }
}

fn require_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only admins may manage integrations".into(),
        ))
    }
}

request_body! {
    /// `POST /integrations` body.
    pub struct CreateIntegrationRequest, read as CreateIntegrationDraft {
        /// 1–200 characters after trimming.
        pub name: UserName,
        /// The channel of its tickets: `web`, `email`, `chat`, `api` or `phone`.
        pub channel: Channel,
        /// One of the configured categories.
        pub default_category: Option<Category>,
        /// `low`, `medium`, `high` or `urgent`.
        pub default_priority: Option<Priority>,
    }
}

/// `POST /integrations` answer: the key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedIntegration {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Channel.
    pub channel: Channel,
    /// `tdk_` + 32 random bytes in base64url: the integration's bearer key, never shown again.
    pub key: String,
}

/// Creates an integration (admins only).
#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", request_body = CreateIntegrationRequest,
    responses(
        (status = 201, body = CreatedIntegration),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_integration(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<CreatedIntegration>)> {
    require_admin(&caller)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let ctx = Context::from(&state);
    let CreateIntegrationRequest {
        name: UserName(name),
        channel,
        default_category,
        default_priority,
    } = CreateIntegrationRequest::parse(&body, &ctx)?;
    let (integration, key) = integrations::create(
        &state.pool,
        NewIntegration {
            name,
            channel,
            default_category: default_category.map(|c| c.0),
            default_priority,
        },
    )
    .await?;
    tracing::info!(integration_id = %integration.id, by = %caller.id, "integration created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedIntegration {
            id: integration.id,
            name: integration.name,
            channel: integration.channel,
            key,
        }),
    ))
}

/// `GET /integrations` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    /// Integrations not revoked, oldest first (never their keys).
    pub items: Vec<Integration>,
}

/// Lists the integrations (admins only).
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    responses(
        (status = 200, body = IntegrationList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_integrations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<IntegrationList>> {
    require_admin(&caller)?;
    Ok(Json(IntegrationList {
        items: integrations::list(&state.pool).await?,
    }))
}

/// Revokes an integration's key at once (admins only).
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = Uuid, Path, description = "the integration")),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such integration, or revoked already", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn revoke_integration(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<StatusCode> {
    require_admin(&caller)?;
    let not_found = || ApiError::NotFound("no such integration".into());
    let id = path.id().map_err(|_| not_found())?;
    if !integrations::revoke(&state.pool, id).await? {
        return Err(not_found());
    }
    state.integration_keys.forget(id);
    tracing::info!(integration_id = %id, by = %caller.id, "integration revoked");
    Ok(StatusCode::NO_CONTENT)
}
