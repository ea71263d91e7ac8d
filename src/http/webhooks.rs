//! `/webhooks` (CONTRACT 8, admins only, reading included): endpoints, their deliveries, replay.

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::Form;
use super::members::Context;
use super::params::Params;
use super::state::AppState;
use super::webhook_bodies::WebhookUrl;
pub use super::webhook_bodies::{CreateWebhookRequest, ReplayRequest, UpdateWebhookRequest};
use crate::auth::Caller;
use crate::domain::Role;
use crate::webhooks::store::{self, Changes, Delivery, Webhook};
use crate::webhooks::{signature, target};

/// The longest page of deliveries.
pub const DELIVERIES_LIMIT_MAX: i64 = 1000;
/// The page size of deliveries without `limit`.
const DELIVERIES_LIMIT_DEFAULT: i64 = 100;

/// The webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/webhooks/{id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route("/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/webhooks/{id}/replay", post(replay))
}

fn admin_only(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only admins may manage webhooks".into(),
        ))
    }
}

/// `url` as the URL policy accepts it, or `None` with the refusal recorded on the form.
async fn checked_url(form: &mut Form<'_>, url: &str, state: &AppState) -> Option<url::Url> {
    match target::check(url, &state.settings.webhooks).await {
        Ok(url) => Some(url),
        Err(message) => {
            form.fail("url", message);
            None
        }
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such webhook".into())
}

/// The endpoint id of a path; anything that is not a UUID names none.
fn webhook_id(path: TicketId) -> Result<Uuid> {
    path.id().map_err(|_| not_found())
}

/// `POST /webhooks` answer: the endpoint and its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes: the signing key, never shown again.
    secret: String,
}

/// `GET /webhooks` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Every endpoint, oldest first.
    items: Vec<Webhook>,
}

/// `GET /webhooks/{id}/deliveries` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Deliveries in position order.
    items: Vec<Delivery>,
}

/// `POST /webhooks/{id}/replay` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// Deliveries scheduled again.
    replayed: u64,
}

/// Adds an endpoint; it receives the matching events committed after this answer.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 422, description = "invalid members; a URL the policy refuses is named `url`", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<CreatedWebhook>)> {
    admin_only(&caller)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = CreateWebhookRequest::read(&mut form, &Context::from(&state));
    let url = match &draft.url {
        Some(WebhookUrl(url)) => checked_url(&mut form, url, &state).await,
        None => None,
    };
    form.finish()?;
    let body = draft.complete()?;
    let url = url.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a checked url is missing")))?;
    let (types, description) = (body.event_types.0, body.description.and_then(|d| d.0));
    let secret = signature::new_secret();
    let webhook = store::create(
        &state.pool,
        url.as_str(),
        &types,
        description.as_deref(),
        &secret,
    )
    .await?;
    tracing::info!(webhook_id = %webhook.id, url = %webhook.url, by = %caller.id, "webhook added");
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook,
            secret: secret.expose_secret().to_string(),
        }),
    ))
}

/// Lists the endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, body = WebhookList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<WebhookList>> {
    admin_only(&caller)?;
    Params::new(&uri, &[])?.finish()?;
    Ok(Json(WebhookList {
        items: store::list(&state.pool).await?,
    }))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "the endpoint")),
    responses(
        (status = 200, body = Webhook),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such webhook", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<Json<Webhook>> {
    admin_only(&caller)?;
    let id = webhook_id(path)?;
    store::get(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Changes an endpoint: its URL (checked as at creation), event types, description, or status
/// (`enabled` resumes delivery where it stopped).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhookRequest,
    params(("id" = Uuid, Path, description = "the endpoint")),
    responses(
        (status = 200, body = Webhook),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such webhook", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_webhook(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<Webhook>> {
    admin_only(&caller)?;
    let id = webhook_id(path)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = UpdateWebhookRequest::read(&mut form, &Context::from(&state));
    let url = match &draft.url {
        Some(Some(WebhookUrl(url))) => checked_url(&mut form, url, &state).await,
        _ => None,
    };
    form.finish()?;
    let body = draft.complete()?;
    let changes = Changes {
        url: url.map(|u| u.to_string()),
        event_types: body.event_types.map(|t| t.0),
        description: body.description.map(|d| d.0),
        enabled: body.status.map(|s| s.0),
    };
    let webhook = store::update(&state.pool, id, &changes)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(webhook_id = %id, status = %webhook.status, by = %caller.id, "webhook changed");
    Ok(Json(webhook))
}

/// Removes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "the endpoint")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such webhook", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<StatusCode> {
    admin_only(&caller)?;
    let id = webhook_id(path)?;
    if !store::delete(&state.pool, id).await? {
        return Err(not_found());
    }
    tracing::info!(webhook_id = %id, by = %caller.id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's deliveries: attempts, last status code and error, next attempt time.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "the endpoint"),
        ("status" = Option<String>, Query, description = "only deliveries in this state: pending, succeeded or failed"),
        ("after" = Option<i64>, Query, description = "only events after this position (the last item's `position` pages on)"),
        ("limit" = Option<i64>, Query, description = "at most this many (default 100)")),
    responses(
        (status = 200, body = DeliveryList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such webhook", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    uri: Uri,
) -> Result<Json<DeliveryList>> {
    admin_only(&caller)?;
    let id = webhook_id(path)?;
    let mut params = Params::new(&uri, &["status", "after", "limit"])?;
    let status = params.parsed("status", |s| match s {
        "pending" | "succeeded" | "failed" => Ok(s.to_string()),
        _ => Err("status must be pending, succeeded or failed".into()),
    });
    let after = params.integer("after", 0, i64::MAX).unwrap_or(0);
    let limit = params
        .integer("limit", 1, DELIVERIES_LIMIT_MAX)
        .unwrap_or(DELIVERIES_LIMIT_DEFAULT);
    params.finish()?;
    if store::get(&state.pool, id).await?.is_none() {
        return Err(not_found());
    }
    let items = store::deliveries(&state.pool, id, status.as_deref(), after, limit).await?;
    Ok(Json(DeliveryList { items }))
}

/// Delivers again, with their original `webhook-id`, the matching events after
/// `after_position`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/replay", tag = "webhooks", request_body = ReplayRequest,
    params(("id" = Uuid, Path, description = "the endpoint")),
    responses(
        (status = 202, body = Replayed),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such webhook", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<(StatusCode, Json<Replayed>)> {
    admin_only(&caller)?;
    let id = webhook_id(path)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let after = ReplayRequest::parse(&body, &Context::from(&state))?
        .after_position
        .0;
    let replayed = store::replay(&state.pool, id, after)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(webhook_id = %id, after_position = after, replayed, by = %caller.id, "webhook replay");
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}
