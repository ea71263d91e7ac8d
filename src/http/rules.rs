//! `/rules` (CONTRACT 8, admins only, reading included): automation rules.

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
pub use super::rule_bodies::{CreateRuleRequest, UpdateRuleRequest};
use super::rule_bodies::{Then, When};
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::Role;
use crate::rules::model::{Action, Conditions};
use crate::rules::store::{self, Changes, Rule};
use crate::users;

/// The rule routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rules", get(list_rules).post(create_rule))
        .route(
            "/rules/{id}",
            get(get_rule).patch(update_rule).delete(delete_rule),
        )
}

fn admin_only(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only admins may manage rules".into()))
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such rule".into())
}

fn rule_id(path: TicketId) -> Result<Uuid> {
    path.id().map_err(|_| not_found())
}

/// Records on the form each action naming a channel or user that cannot serve it: a rule is
/// refused at once rather than failing on every event (a user removed later is a failure the
/// rule records instead).
async fn check_targets(form: &mut Form<'_>, then: &[Action], state: &AppState) -> Result<()> {
    for (index, action) in then.iter().enumerate() {
        match action {
            Action::Notify { notify, .. } => {
                if crate::notify::store::get(&state.pool, *notify)
                    .await?
                    .is_none()
                {
                    form.fail(
                        &format!("then.{index}.notify"),
                        "names no notification channel",
                    );
                }
            }
            Action::Assign { assign } => {
                let user = users::find(&state.pool, *assign).await?;
                if !user.is_some_and(|u| u.active && u.role.is_staff()) {
                    form.fail(
                        &format!("then.{index}.assign"),
                        "must name an active agent or admin",
                    );
                }
            }
            Action::SetPriority { .. } | Action::Comment { .. } | Action::AddTags { .. } => {}
        }
    }
    Ok(())
}

/// Records on the form a `team_id` condition naming no team: such a rule could never match.
async fn check_team(form: &mut Form<'_>, when: &Conditions, state: &AppState) -> Result<()> {
    if let Some(team) = when.team_id {
        if crate::teams::find(&state.pool, team).await?.is_none() {
            form.fail("when.team_id", "names no team");
        }
    }
    Ok(())
}

/// `GET /rules` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// Every rule, oldest first.
    items: Vec<Rule>,
}

/// Adds a rule; it acts on the matching events committed after this answer.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = CreateRuleRequest,
    responses(
        (status = 201, body = Rule),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 422, description = "invalid members, each named (`then.0.assign`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<Rule>)> {
    admin_only(&caller)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = CreateRuleRequest::read(&mut form, &Context::from(&state));
    if let Some(When(when)) = &draft.when {
        check_team(&mut form, when, &state).await?;
    }
    if let Some(Then(then)) = &draft.then {
        check_targets(&mut form, then, &state).await?;
    }
    form.finish()?;
    let body = draft.complete()?;
    let rule = store::create(
        &state.pool,
        &body.name.0,
        body.enabled.unwrap_or(true),
        &body.when.0,
        &body.then.0,
    )
    .await?;
    tracing::info!(rule_id = %rule.id, by = %caller.id, "rule added");
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Lists the rules.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses(
        (status = 200, body = RuleList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<RuleList>> {
    admin_only(&caller)?;
    Params::new(&uri, &[])?.finish()?;
    Ok(Json(RuleList {
        items: store::list(&state.pool).await?,
    }))
}

/// One rule, with its latest failures.
#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = Uuid, Path, description = "the rule")),
    responses(
        (status = 200, body = Rule),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such rule", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_rule(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<Json<Rule>> {
    admin_only(&caller)?;
    let id = rule_id(path)?;
    store::get(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Changes a rule; the change applies to events committed after this answer.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "rules", request_body = UpdateRuleRequest,
    params(("id" = Uuid, Path, description = "the rule")),
    responses(
        (status = 200, body = Rule),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such rule", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<Rule>> {
    admin_only(&caller)?;
    let id = rule_id(path)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = UpdateRuleRequest::read(&mut form, &Context::from(&state));
    if let Some(Some(When(when))) = &draft.when {
        check_team(&mut form, when, &state).await?;
    }
    if let Some(Some(Then(then))) = &draft.then {
        check_targets(&mut form, then, &state).await?;
    }
    form.finish()?;
    let body = draft.complete()?;
    let changes = Changes {
        name: body.name.map(|n| n.0),
        enabled: body.enabled,
        when: body.when.map(|w| w.0),
        then: body.then.map(|t| t.0),
    };
    let rule = store::update(&state.pool, id, &changes)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(rule_id = %id, enabled = rule.enabled, by = %caller.id, "rule changed");
    Ok(Json(rule))
}

/// Removes a rule.
#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = Uuid, Path, description = "the rule")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such rule", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<StatusCode> {
    admin_only(&caller)?;
    let id = rule_id(path)?;
    if !store::delete(&state.pool, id).await? {
        return Err(not_found());
    }
    tracing::info!(rule_id = %id, by = %caller.id, "rule deleted");
    Ok(StatusCode::NO_CONTENT)
}
