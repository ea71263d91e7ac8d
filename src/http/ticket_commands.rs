//! Ticket commands (CONTRACT 2.3): their bodies, and each handler: read the body, resolve
//! users, run the command (the request around it is `command_request`'s).

use axum::extract::State;
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use uuid::Uuid;

use super::attachments::AttachmentIds;
use super::body::BodyKind;
use super::command_request::{CommandRequest, CommandResponse};
use super::error::{ApiError, FieldError, Result};
use super::extract::TicketId;
use super::fields::{check_values, FieldValues};
use super::form::request_body;
use super::members::{Category, Context, Instant};
use super::state::AppState;
use crate::application::attachments::{self, CommentFilesError};
use crate::application::tickets::{self, Changes, NewTicket};
use crate::domain::values::{
    CommentBody, Description, PendingReason, RatingComment, ReopenReason, Resolution, Score,
};
use crate::domain::{Channel, Priority, Title};

/// The command routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", post(create_ticket))
        .route("/tickets/{id}", patch(update_ticket))
        .route("/tickets/{id}/comments", post(comment_on_ticket))
        .route("/tickets/{id}/assign", post(assign_ticket))
        .route("/tickets/{id}/close", post(close_ticket))
        .route("/tickets/{id}/reopen", post(reopen_ticket))
        .route("/tickets/{id}/rating", post(rate_ticket))
        .route("/tickets/{id}/pending", post(pend_ticket))
        .route("/tickets/{id}/resume", post(resume_ticket))
}

request_body! {
    /// `POST /tickets` body: `requester_id` is for agents and admins, and must name a
    /// requester.
    pub struct CreateTicketRequest, read as CreateTicketDraft {
        /// 1–200 characters after trimming.
        pub title: Title,
        /// Up to 20,000 characters.
        pub description: Description,
        /// One of the configured categories.
        pub category: Category,
        /// `low`, `medium`, `high` or `urgent`.
        pub priority: Priority,
        /// Where the ticket came from; `api` when absent.
        pub channel: Option<Channel>,
        /// Agents and admins only: open the ticket for this requester.
        pub requester_id: Option<Uuid>,
        /// Custom field values by key (see `GET /fields`).
        pub fields: Option<FieldValues>,
    }
}

request_body! {
    /// `POST /tickets/{id}/comments` body: internal comments are for agents and admins.
    pub struct CommentRequest, read as CommentDraft {
        /// 1–20,000 characters.
        pub body: CommentBody,
        /// Hidden from requesters; agents and admins only.
        pub internal: Option<bool>,
        /// Files uploaded beforehand (`POST /tickets/{id}/attachments`) by the author.
        pub attachment_ids: Option<AttachmentIds>,
    }
}

request_body! {
    /// `POST /tickets/{id}/assign` body: an agent or admin of the directory, a team, or both
    /// (at least one); what is not named stays as it is.
    pub struct AssignRequest, read as AssignDraft {
        /// An agent or admin.
        pub assignee_id: Option<Uuid>,
        /// A team (`GET /teams`).
        pub team_id: Option<Uuid>,
    }
}

request_body! {
    /// `PATCH /tickets/{id}` body: any of the members.
    pub struct UpdateRequest, read as UpdateDraft {
        /// 1–200 characters after trimming.
        pub title: Option<Title>,
        /// Up to 20,000 characters.
        pub description: Option<Description>,
        /// One of the configured categories.
        pub category: Option<Category>,
        /// Recomputes the SLA due times.
        pub priority: Option<Priority>,
        /// Custom field values by key; `null` unsets one.
        pub fields: Option<FieldValues>,
    }
}

request_body! {
    /// `POST /tickets/{id}/close` body.
    pub struct CloseRequest, read as CloseDraft {
        /// Up to 5,000 characters.
        pub resolution: Option<Resolution>,
    }
}

request_body! {
    /// `POST /tickets/{id}/reopen` body.
    pub struct ReopenRequest, read as ReopenDraft {
        /// Up to 5,000 characters.
        pub reason: Option<ReopenReason>,
    }
}

request_body! {
    /// `POST /tickets/{id}/rating` body: the requester of a closed ticket.
    pub struct RatingRequest, read as RatingDraft {
        /// 1 to 5.
        pub score: Score,
        /// Up to 2,000 characters.
        pub comment: Option<RatingComment>,
    }
}

request_body! {
    /// `POST /tickets/{id}/pending` body.
    pub struct PendingRequest, read as PendingDraft {
        /// Up to 5,000 characters.
        pub reason: Option<PendingReason>,
        /// When the engine resumes the ticket by itself: in the future, at most a year ahead.
        pub until: Option<Instant>,
    }
}

/// `POST /tickets/{id}/resume` body: nothing to say, so an empty object or none.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {}

/// Opens a ticket.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "commands", request_body = CreateTicketRequest,
    responses((status = 201, body = CommandResponse), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_ticket(State(state): State<AppState>, req: CommandRequest) -> Result<Response> {
    let req = req.read(BodyKind::Required).await?;
    let mut form = req.form()?;
    let draft = CreateTicketRequest::read(&mut form, &Context::from(&state));
    let requester_id = draft.requester_id.flatten();
    if requester_id.is_some() {
        req.require_staff("open a ticket for someone else")?;
    }
    let requester = tickets::requester_for(&state.pool, &req.actor, requester_id).await?;
    if requester.is_none() {
        form.fail(
            "requester_id",
            "must name a known requester, agent or admin",
        );
    }
    // A `fields` member that failed its shape is named already; its values are not checked.
    let fields = match &draft.fields {
        Some(given) => check_values(&state, &mut form, given.as_ref(), true).await?,
        None => None,
    };
    form.finish()?;
    let body = draft.complete()?;
    let requester = requester
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a checked requester is missing")))?;
    let ticket = NewTicket {
        title: body.title,
        description: body.description.into_inner(),
        category: body.category.0,
        priority: body.priority,
        channel: body.channel.unwrap_or_default(),
        requester,
        integration: None,
        metadata: None,
        fields: fields.filter(|f| !f.is_empty()),
    };
    req.answer(tickets::open(&state.commands, req.issued(), ticket).await)
}

/// Comments on a ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "commands", request_body = CommentRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn comment_on_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    let comment = CommentRequest::parse(req.body(), &Context::from(&state))?;
    let internal = comment.internal.unwrap_or(false);
    if internal {
        req.require_staff("write internal comments")?;
    }
    let body = comment.body.into_inner();
    let ids = comment.attachment_ids.map(|a| a.0).unwrap_or_default();
    if ids.is_empty() {
        return req
            .answer(tickets::comment(&state.commands, req.issued(), id, body, internal).await);
    }
    let outcome = attachments::comment_with_files(
        &state.commands,
        &state.pool,
        req.issued(),
        id,
        body,
        internal,
        &ids,
    )
    .await;
    match outcome {
        Ok(outcome) => req.answer(Ok(outcome)),
        Err(CommentFilesError::Command(e)) => req.answer(Err(e)),
        Err(CommentFilesError::NotUsable(file)) => {
            Err(ApiError::Unprocessable(vec![FieldError::new(
                "attachment_ids",
                format!("{file} is not an unused upload of yours to this ticket"),
            )]))
        }
    }
}

/// Assigns a ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "commands", request_body = AssignRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn assign_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    req.require_staff("assign tickets")?;
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    let mut form = req.form()?;
    let draft = AssignRequest::read(&mut form, &Context::from(&state));
    let assignee = match draft.assignee_id {
        Some(Some(id)) => {
            let assignee = tickets::resolve_assignee(&state.pool, id).await?;
            if assignee.is_none() {
                form.fail("assignee_id", "must name a known agent or admin");
            }
            assignee
        }
        _ => None,
    };
    let team = match draft.team_id {
        Some(Some(id)) => {
            let team = tickets::resolve_team(&state.pool, id).await?;
            if team.is_none() {
                form.fail("team_id", "must name a known team");
            }
            team
        }
        _ => None,
    };
    if matches!(draft.assignee_id, Some(None)) && matches!(draft.team_id, Some(None)) {
        for field in ["assignee_id", "team_id"] {
            form.fail(field, "give assignee_id, team_id or both");
        }
    }
    form.finish()?;
    req.answer(tickets::assign(&state.commands, req.issued(), id, assignee, team).await)
}

/// Changes title, description, category or priority.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "commands", request_body = UpdateRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    req.require_staff("update tickets")?;
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    let mut form = req.form()?;
    let draft = UpdateRequest::read(&mut form, &Context::from(&state));
    let given = draft.fields.as_ref().and_then(Option::as_ref);
    let fields = match given {
        Some(_) => check_values(&state, &mut form, given, false).await?,
        None => Some(Default::default()),
    };
    form.finish()?;
    let body = draft.complete()?;
    let changes = Changes {
        title: body.title,
        description: body.description.map(Description::into_inner),
        category: body.category.map(|c| c.0),
        priority: body.priority,
        fields: fields.unwrap_or_default(),
    };
    req.answer(tickets::update(&state.commands, req.issued(), id, changes).await)
}

/// Closes a ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/close", tag = "commands", request_body = CloseRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn close_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    let (id, req) = req.on_ticket(&state, id, BodyKind::Optional).await?;
    let resolution = CloseRequest::parse(req.body(), &Context::from(&state))?
        .resolution
        .map(Resolution::into_inner);
    req.answer(tickets::close(&state.commands, req.issued(), id, resolution).await)
}

/// Reopens a closed ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reopen", tag = "commands", request_body = ReopenRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn reopen_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    let (id, req) = req.on_ticket(&state, id, BodyKind::Optional).await?;
    let reason = ReopenRequest::parse(req.body(), &Context::from(&state))?
        .reason
        .map(ReopenReason::into_inner);
    req.answer(tickets::reopen(&state.commands, req.issued(), id, reason).await)
}

/// Rates a closed ticket (its requester only).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/rating", tag = "commands", request_body = RatingRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn rate_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    let rating = RatingRequest::parse(req.body(), &Context::from(&state))?;
    let score = rating.score.get();
    let comment = rating.comment.map(RatingComment::into_inner);
    req.answer(tickets::rate(&state.commands, req.issued(), id, score, comment).await)
}

/// Sets a ticket pending: it waits on its requester, and its SLA clocks pause.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/pending", tag = "commands", request_body = PendingRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn pend_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    req.require_staff("set tickets pending")?;
    let (id, req) = req.on_ticket(&state, id, BodyKind::Optional).await?;
    let mut form = req.form()?;
    let draft = PendingRequest::read(&mut form, &Context::from(&state));
    let until = draft.until.flatten().map(|u| u.0);
    if let Some(Err(message)) =
        until.map(|u| crate::domain::pending::check_until(u, crate::command_service::now()))
    {
        form.fail("until", message);
    }
    form.finish()?;
    let body = draft.complete()?;
    let reason = body.reason.map(PendingReason::into_inner);
    req.answer(tickets::pend(&state.commands, req.issued(), id, reason, until).await)
}

/// Resumes a pending ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/resume", tag = "commands", request_body = ResumeRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn resume_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    req.require_staff("resume tickets")?;
    let (id, req) = req.on_ticket(&state, id, BodyKind::Optional).await?;
    req.form()?.finish()?;
    req.answer(tickets::resume(&state.commands, req.issued(), id).await)
}
