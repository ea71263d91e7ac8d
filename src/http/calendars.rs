//! `/calendars` (CONTRACT 9, admins only): business-hours calendars for SLA policies.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
pub use super::calendar_bodies::{CreateCalendarRequest, UpdateCalendarRequest};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::Form;
use super::members::Context;
use super::params::Params;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::calendar::Calendar;
use crate::domain::Role;
use crate::store::calendars::{self, CalendarFields, StoredCalendar};

/// The largest calendar body: 10,000 holidays (130 KB) must reach the rule that refuses them by
/// name (422 `holidays`), rather than the 64 KiB limit of other bodies.
pub const CALENDAR_BODY_LIMIT: usize = 256 * 1024;

/// The calendar routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calendars", get(list_calendars).post(create_calendar))
        .route("/calendars/{id}", get(get_calendar).patch(update_calendar))
        .layer(DefaultBodyLimit::max(CALENDAR_BODY_LIMIT))
}

fn admin_only(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only admins may manage calendars".into(),
        ))
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such calendar".into())
}

fn calendar_id(path: TicketId) -> Result<Uuid> {
    path.id().map_err(|_| not_found())
}

/// Records on `form` every fault `Calendar::new` finds in the whole calendar.
fn check(form: &mut Form<'_>, fields: &CalendarFields) {
    if let Err(faults) = Calendar::new(&fields.time_zone, &fields.hours, &fields.holidays) {
        for f in faults {
            form.fail(&f.field, f.message);
        }
    }
}

/// `GET /calendars` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarList {
    /// Every calendar, oldest first.
    items: Vec<StoredCalendar>,
}

/// Adds a calendar.
#[utoipa::path(post, path = "/api/v1/calendars", tag = "sla", request_body = CreateCalendarRequest,
    responses(
        (status = 201, body = StoredCalendar),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 422, description = "invalid members, each named (`time_zone`, `hours.mon[0]`, `holidays[3]`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_calendar(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<StoredCalendar>)> {
    admin_only(&caller)?;
    let body = JsonBody::read_limited(request, BodyKind::Required, CALENDAR_BODY_LIMIT).await?;
    let mut form = Form::new(&body)?;
    let draft = CreateCalendarRequest::read(&mut form, &Context::from(&state));
    if let (Some(name), Some(zone), Some(hours)) = (&draft.name, &draft.time_zone, &draft.hours) {
        let fields = CalendarFields {
            name: name.0.clone(),
            time_zone: zone.0.clone(),
            hours: hours.0.clone(),
            holidays: draft
                .holidays
                .clone()
                .flatten()
                .map(|h| h.0)
                .unwrap_or_default(),
        };
        check(&mut form, &fields);
    }
    form.finish()?;
    let body = draft.complete()?;
    let fields = CalendarFields {
        name: body.name.0,
        time_zone: body.time_zone.0,
        hours: body.hours.0,
        holidays: body.holidays.map(|h| h.0).unwrap_or_default(),
    };
    let stored = calendars::create(&state.pool, &fields).await?;
    tracing::info!(calendar_id = %stored.id, by = %caller.id, "calendar added");
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Lists the calendars.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "sla",
    responses(
        (status = 200, body = CalendarList),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_calendars(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<CalendarList>> {
    admin_only(&caller)?;
    Params::new(&uri, &[])?.finish()?;
    Ok(Json(CalendarList {
        items: calendars::list(&state.pool).await?,
    }))
}

/// One calendar.
#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "sla",
    params(("id" = Uuid, Path, description = "the calendar")),
    responses(
        (status = 200, body = StoredCalendar),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such calendar", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_calendar(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<Json<StoredCalendar>> {
    admin_only(&caller)?;
    let id = calendar_id(path)?;
    calendars::get(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Changes a calendar: each member given replaces the stored one, and the result is checked
/// whole.
#[utoipa::path(patch, path = "/api/v1/calendars/{id}", tag = "sla", request_body = UpdateCalendarRequest,
    params(("id" = Uuid, Path, description = "the calendar")),
    responses(
        (status = 200, body = StoredCalendar),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such calendar", body = super::error::Problem),
        (status = 422, description = "invalid members, each named", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_calendar(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<StoredCalendar>> {
    admin_only(&caller)?;
    let id = calendar_id(path)?;
    let current = calendars::get(&state.pool, id)
        .await?
        .ok_or_else(not_found)?;
    let body = JsonBody::read_limited(request, BodyKind::Required, CALENDAR_BODY_LIMIT).await?;
    let mut form = Form::new(&body)?;
    let draft = UpdateCalendarRequest::read(&mut form, &Context::from(&state));
    let fields = CalendarFields {
        name: draft.name.clone().flatten().map_or(current.name, |n| n.0),
        time_zone: draft
            .time_zone
            .clone()
            .flatten()
            .map_or(current.time_zone, |z| z.0),
        hours: draft.hours.clone().flatten().map_or(current.hours, |h| h.0),
        holidays: draft
            .holidays
            .clone()
            .flatten()
            .map_or(current.holidays, |h| h.0),
    };
    check(&mut form, &fields);
    form.finish()?;
    let stored = calendars::replace(&state.pool, id, &fields)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(calendar_id = %id, by = %caller.id, "calendar changed");
    // Open tickets counting this calendar get their due times moved at once on this instance.
    state.commands.sla_changed();
    Ok(Json(stored))
}
