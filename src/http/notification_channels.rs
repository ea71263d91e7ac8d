//! `/notification-channels` (CONTRACT 8, admins only, reading included): where rules send
//! their notifications. Secrets (bot token, Slack URL) go in and never come out.

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::Form;
use super::members::Context;
use super::params::Params;
use super::rule_bodies::{ChannelConfig, Kind};
pub use super::rule_bodies::{CreateChannelRequest, UpdateChannelRequest};
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::Role;
use crate::notify::channel::{self, Config};
use crate::notify::store::{self, Changes, Channel};
use crate::webhooks::target;

/// The channel routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/notification-channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/notification-channels/{id}",
            get(get_channel)
                .patch(update_channel)
                .delete(delete_channel),
        )
}

fn admin_only(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only admins may manage notification channels".into(),
        ))
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such notification channel".into())
}

fn channel_id(path: TicketId) -> Result<Uuid> {
    path.id().map_err(|_| not_found())
}

/// Reads `config` for `kind`, recording refusals as `config.<member>`; a Slack URL is held to
/// the webhook URL policy (schemes, addresses after DNS).
async fn checked_config(
    form: &mut Form<'_>,
    kind: &str,
    config: &ChannelConfig,
    patching: bool,
    state: &AppState,
) -> Option<Config> {
    match channel::parse(kind, &config.0, patching) {
        Ok(config) => {
            if kind == "slack" {
                if let Some(url) = &config.secret {
                    if let Err(message) = target::check(url, &state.settings.webhooks).await {
                        form.fail("config.webhook_url", message);
                        return None;
                    }
                }
            }
            Some(config)
        }
        Err(errors) => {
            for (field, message) in errors {
                let field = if field.is_empty() {
                    "config".to_string()
                } else {
                    format!("config.{field}")
                };
                form.fail(&field, message);
            }
            None
        }
    }
}

/// `GET /notification-channels` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    /// Every channel, oldest first (without secrets).
    items: Vec<Channel>,
}

/// Adds a channel.
#[utoipa::path(post, path = "/api/v1/notification-channels", tag = "notifications", request_body = CreateChannelRequest,
    responses(
        (status = 201, body = Channel),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 422, description = "invalid members, each named (`config.webhook_url`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<Channel>)> {
    admin_only(&caller)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = CreateChannelRequest::read(&mut form, &Context::from(&state));
    let config = match (&draft.kind, &draft.config) {
        (Some(Kind(kind)), Some(config)) => {
            checked_config(&mut form, kind, config, false, &state).await
        }
        _ => None,
    };
    form.finish()?;
    let body = draft.complete()?;
    let config =
        config.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a checked config is missing")))?;
    let channel = store::create(
        &state.pool,
        &body.name.0,
        &body.kind.0,
        &config.public,
        config.secret.as_deref(),
    )
    .await?;
    tracing::info!(channel_id = %channel.id, kind = %channel.kind, by = %caller.id, "notification channel added");
    Ok((StatusCode::CREATED, Json(channel)))
}

/// Lists the channels.
#[utoipa::path(get, path = "/api/v1/notification-channels", tag = "notifications",
    responses(
        (status = 200, body = ChannelList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<ChannelList>> {
    admin_only(&caller)?;
    Params::new(&uri, &[])?.finish()?;
    Ok(Json(ChannelList {
        items: store::list(&state.pool).await?,
    }))
}

/// One channel (without its secret).
#[utoipa::path(get, path = "/api/v1/notification-channels/{id}", tag = "notifications",
    params(("id" = Uuid, Path, description = "the channel")),
    responses(
        (status = 200, body = Channel),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such notification channel", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<Json<Channel>> {
    admin_only(&caller)?;
    let id = channel_id(path)?;
    store::get(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Changes a channel's name or configuration (a configuration without its secret keeps the
/// stored one).
#[utoipa::path(patch, path = "/api/v1/notification-channels/{id}", tag = "notifications", request_body = UpdateChannelRequest,
    params(("id" = Uuid, Path, description = "the channel")),
    responses(
        (status = 200, body = Channel),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such notification channel", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_channel(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<Channel>> {
    admin_only(&caller)?;
    let id = channel_id(path)?;
    let existing = store::get(&state.pool, id).await?.ok_or_else(not_found)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = UpdateChannelRequest::read(&mut form, &Context::from(&state));
    let config = match &draft.config {
        Some(Some(config)) => checked_config(&mut form, &existing.kind, config, true, &state).await,
        _ => None,
    };
    form.finish()?;
    let body = draft.complete()?;
    let changes = Changes {
        name: body.name.map(|n| n.0),
        config: config.as_ref().map(|c| c.public.clone()),
        secret: config.and_then(|c| c.secret),
    };
    let channel = store::update(&state.pool, id, &changes)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(channel_id = %id, by = %caller.id, "notification channel changed");
    Ok(Json(channel))
}

/// Removes a channel and its queued notifications.
#[utoipa::path(delete, path = "/api/v1/notification-channels/{id}", tag = "notifications",
    params(("id" = Uuid, Path, description = "the channel")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such notification channel", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<StatusCode> {
    admin_only(&caller)?;
    let id = channel_id(path)?;
    if !store::delete(&state.pool, id).await? {
        return Err(not_found());
    }
    tracing::info!(channel_id = %id, by = %caller.id, "notification channel deleted");
    Ok(StatusCode::NO_CONTENT)
}
