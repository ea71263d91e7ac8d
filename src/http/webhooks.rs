//! `/webhooks` (CONTRACT 8, admins only, reading included): endpoints, their deliveries, replay.

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, Fields, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::params::Params;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::Role;
use crate::webhooks::input::{check_description, check_event_types};
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

fn not_found() -> ApiError {
    ApiError::NotFound("no such webhook".into())
}

/// The endpoint id of a path; anything that is not a UUID names none.
fn webhook_id(path: TicketId) -> Result<Uuid> {
    path.id().map_err(|_| not_found())
}

/// `POST /webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CreateWebhookRequest {
    /// `https`, or `http` to a host in `WEBHOOK_ALLOW_HTTP_HOSTS`; not resolving to an internal
    /// address unless its host is in `WEBHOOK_ALLOW_PRIVATE_HOSTS`.
    url: String,
    /// Event types such as `ticket.closed`, or `["*"]` for all.
    event_types: Vec<String>,
    /// What the endpoint is for.
    description: Option<String>,
}

/// `PATCH /webhooks/{id}` body: any of the members.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UpdateWebhookRequest {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    description: Option<String>,
    /// `enabled` resumes delivery where it stopped; `disabled` pauses it.
    status: Option<String>,
}

/// `POST /webhooks/{id}/replay` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ReplayRequest {
    /// The events after this position are delivered again.
    after_position: i64,
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
    let mut f = Fields::new(&body)?;
    let url = f.string("url", true);
    let types = f.strings("event_types", true);
    let types = types.and_then(|t| match check_event_types(&t) {
        Ok(t) => Some(t),
        Err(message) => {
            f.fail("event_types", message);
            None
        }
    });
    let description = f.string("description", false);
    let description = description.and_then(|d| match check_description(&d) {
        Ok(d) => d,
        Err(message) => {
            f.fail("description", message);
            None
        }
    });
    let url = match url {
        Some(url) => match target::check(&url, &state.settings.webhooks).await {
            Ok(url) => Some(url),
            Err(message) => {
                f.fail("url", message);
                None
            }
        },
        None => None,
    };
    f.finish()?;
    let (Some(url), Some(types)) = (url, types) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "checked fields missing"
        )));
    };
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
    let mut f = Fields::new(&body)?;
    let mut changes = Changes::default();
    if let Some(url) = f.string("url", false) {
        match target::check(&url, &state.settings.webhooks).await {
            Ok(url) => changes.url = Some(url.to_string()),
            Err(message) => f.fail("url", message),
        }
    }
    if let Some(types) = f.strings("event_types", false) {
        match check_event_types(&types) {
            Ok(types) => changes.event_types = Some(types),
            Err(message) => f.fail("event_types", message),
        }
    }
    if let Some(description) = f.string("description", false) {
        match check_description(&description) {
            Ok(description) => changes.description = Some(description),
            Err(message) => f.fail("description", message),
        }
    }
    changes.enabled = f.parsed("status", false, |s| match s {
        "enabled" => Ok(true),
        "disabled" => Ok(false),
        _ => Err(String::from("must be enabled or disabled")),
    });
    f.finish()?;
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
    let mut f = Fields::new(&body)?;
    let after = f.integer("after_position", true);
    let after = f.check("after_position", after, |a| {
        if *a >= 0 {
            Ok(())
        } else {
            Err(String::from("must be 0 or more"))
        }
    });
    f.finish()?;
    let Some(after) = after else {
        return Err(ApiError::Internal(anyhow::anyhow!("checked field missing")));
    };
    let replayed = store::replay(&state.pool, id, after)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(webhook_id = %id, after_position = after, replayed, by = %caller.id, "webhook replay");
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}
