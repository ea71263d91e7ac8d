//! `/sla-policies` (CONTRACT 9, admins only): each priority's targets and calendar.

use std::borrow::Cow;

use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, FieldError, Result};
use super::form::{request_body, Form};
use super::members::{string, Context, FromJson, MemberError};
use super::params::Params;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::sla_duration::SlaDuration;
use crate::domain::{Priority, Role};
use crate::store::sla_policies::{self, PolicyFields, StoredPolicy};

/// The policy routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sla-policies", get(list_policies))
        .route("/sla-policies/{priority}", put(put_policy))
}

/// A target such as `4h`, `30m`, `1h30m` or `2d`: 1m to 365d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target(pub SlaDuration);

impl FromJson for Target {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        SlaDuration::parse(string(value)?)
            .map(Target)
            .map_err(|m| MemberError::Inner(vec![FieldError::new("", m)]))
    }
}

impl PartialSchema for Target {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?$"))
            .min_length(Some(2))
            .max_length(Some(32))
            .description(Some(
                "<n>d, <n>h, <n>m, combinable in that order (1h30m); 1m to 365d",
            ))
            .into()
    }
}

impl ToSchema for Target {
    fn name() -> Cow<'static, str> {
        "SlaTargetDuration".into()
    }
}

request_body! {
    /// `PUT /sla-policies/{priority}` body; an omitted `next_response` or `calendar_id` is none.
    pub struct PutPolicyRequest, read as PutPolicyDraft {
        /// Until the first staff response.
        pub first_response: Target,
        /// Until the next staff response after each requester comment.
        pub next_response: Option<Target>,
        /// Until the ticket is closed.
        pub resolution: Target,
        /// The calendar the targets count; none for `SLA_DEFAULT_CALENDAR` (else 24×7).
        pub calendar_id: Option<Uuid>,
    }
}

/// `GET /sla-policies` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// The stored policies; a priority without one keeps the configured targets.
    items: Vec<StoredPolicy>,
}

fn admin_only(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only admins may manage SLA policies".into(),
        ))
    }
}

/// Replaces the policy of a priority. Tickets get the new due times when they are next
/// recomputed (a priority change, a resume); new tickets at once.
#[utoipa::path(put, path = "/api/v1/sla-policies/{priority}", tag = "sla", request_body = PutPolicyRequest,
    params(("priority" = String, Path, description = "low, medium, high or urgent")),
    responses(
        (status = 200, body = StoredPolicy),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such priority", body = super::error::Problem),
        (status = 422, description = "invalid members, each named (a `calendar_id` naming no calendar too)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(priority): Path<String>,
    request: Request,
) -> Result<Json<StoredPolicy>> {
    admin_only(&caller)?;
    let priority: Priority = priority
        .parse()
        .map_err(|_| ApiError::NotFound("no such priority".into()))?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = PutPolicyRequest::read(&mut form, &Context::from(&state));
    if let Some(Some(id)) = draft.calendar_id {
        if !sla_policies::calendar_exists(&state.pool, id).await? {
            form.fail("calendar_id", "must name a calendar");
        }
    }
    form.finish()?;
    let body = draft.complete()?;
    let fields = PolicyFields {
        first_response: body.first_response.0,
        next_response: body.next_response.map(|t| t.0),
        resolution: body.resolution.0,
        calendar_id: body.calendar_id,
    };
    let stored = sla_policies::put(&state.pool, priority, &fields).await?;
    state.commands.sla_changed();
    tracing::info!(priority = priority.as_str(), by = %caller.id, "SLA policy replaced");
    Ok(Json(stored))
}

/// Lists the stored policies.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "sla",
    responses(
        (status = 200, body = PolicyList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<PolicyList>> {
    admin_only(&caller)?;
    Params::new(&uri, &[])?.finish()?;
    Ok(Json(PolicyList {
        items: sla_policies::list(&state.pool).await?,
    }))
}
