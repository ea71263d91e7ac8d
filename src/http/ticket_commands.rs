//! Ticket commands (CONTRACT 2.3): parse and check the request, resolve users, run the command.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, FieldError, Result};
use super::extract::TicketId;
use super::form::{request_body, Form};
use super::members::{Category, Context};
use super::state::AppState;
use crate::application::tickets::{self, Changes, Issued, NewTicket};
use crate::auth::Caller;
use crate::command_service::{CommandContext, CommandError, Idempotency, Outcome};
use crate::domain::values::{
    CommentBody, Description, RatingComment, ReopenReason, Resolution, Score,
};
use crate::domain::{Actor, Channel, Priority, Role, TicketError, Title};
use crate::{policy, views};

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
}

/// Every successful command's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandResponse {
    /// The ticket.
    pub id: Uuid,
    /// Its short number.
    pub number: i64,
    /// Its version after the command (also in `ETag`).
    pub version: i64,
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
    }
}

request_body! {
    /// `POST /tickets/{id}/comments` body: internal comments are for agents and admins.
    pub struct CommentRequest, read as CommentDraft {
        /// 1–20,000 characters.
        pub body: CommentBody,
        /// Hidden from requesters; agents and admins only.
        pub internal: Option<bool>,
    }
}

request_body! {
    /// `POST /tickets/{id}/assign` body: an agent or admin of the directory.
    pub struct AssignRequest, read as AssignDraft {
        /// An agent or admin.
        pub assignee_id: Uuid,
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

/// Reads `If-Match`, `Idempotency-Key` and `X-Request-Id`.
///
/// None of them can hold U+0000: HTTP field values cannot, the server refuses such a request
/// with 400 before any handler, and `HeaderValue` cannot be built with one. Values that are not
/// visible ASCII are refused here (422) or, for `X-Request-Id`, replaced by a new id.
fn command_context(
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &JsonBody,
) -> Result<CommandContext> {
    let mut errors = Vec::new();
    let expected_version = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => {
            let parsed = v
                .to_str()
                .ok()
                .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|s| s.parse::<i64>().ok());
            if parsed.is_none() {
                errors.push(FieldError::new(
                    "If-Match",
                    "must be a version in quotes, e.g. \"3\"",
                ));
            }
            parsed
        }
    };
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.chars().count()))
        {
            Some(key) => {
                let canonical = serde_json_canonicalizer::to_vec(&body.value).unwrap_or_default();
                let mut hasher = Sha256::new();
                hasher.update(method.as_str().as_bytes());
                hasher.update(b" ");
                hasher.update(uri.path().as_bytes());
                hasher.update(b"\n");
                hasher.update(&canonical);
                Some(Idempotency {
                    key: key.to_string(),
                    digest: hex::encode(hasher.finalize()),
                })
            }
            None => {
                errors.push(FieldError::new(
                    "Idempotency-Key",
                    "must be 1 to 255 visible characters",
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable(errors));
    }
    let correlation_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    Ok(CommandContext {
        correlation_id,
        expected_version,
        idempotency,
    })
}

fn respond(outcome: Outcome) -> Response {
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let etag = HeaderValue::from_str(&format!("\"{}\"", outcome.version))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let mut response = (
        status,
        Json(CommandResponse {
            id: outcome.ticket_id,
            number: outcome.number,
            version: outcome.version,
        }),
    )
        .into_response();
    response.headers_mut().insert(header::ETAG, etag);
    if outcome.created {
        if let Ok(location) =
            HeaderValue::from_str(&format!("/api/v1/tickets/{}", outcome.ticket_id))
        {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Rejected(TicketError::NotFound) => ApiError::ticket_not_found(),
            CommandError::Rejected(TicketError::Forbidden(m)) => ApiError::Forbidden(m),
            CommandError::Rejected(TicketError::Conflict(m)) => ApiError::Conflict(m),
            CommandError::VersionMismatch { current } => ApiError::PreconditionFailed {
                expected: -1,
                current,
            },
            CommandError::IdempotencyMismatch => ApiError::invalid(
                "Idempotency-Key",
                "was already used with a different request",
            ),
            CommandError::Contention => ApiError::Unavailable {
                detail: "the ticket is being changed by many writers at once; retry".into(),
                retry_after_secs: 1,
            },
            CommandError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unreachable");
                ApiError::Unavailable {
                    detail: "the database is unreachable; retry shortly".into(),
                    retry_after_secs: 2,
                }
            }
            CommandError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// A command request whose caller is authenticated (401) and may issue commands (403), its
/// body and headers not read yet: authorization is decided before any of them (CONTRACT 2.4),
/// so that a caller who may not see a ticket gets the same 404 whatever it sends.
pub struct CommandRequest {
    caller: Caller,
    request: Request,
}

impl FromRequest<AppState> for CommandRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state).await?;
        if caller.role == Role::Auditor {
            return Err(ApiError::Forbidden("auditors issue no commands".into()));
        }
        Ok(Self {
            caller,
            request: Request::from_parts(parts, body),
        })
    }
}

fn require_staff(caller: &Caller, what: &str) -> Result<()> {
    if caller.role.is_staff() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only agents and admins may {what}"
        )))
    }
}

impl CommandRequest {
    fn require_staff(&self, what: &str) -> Result<()> {
        require_staff(&self.caller, what)
    }

    /// Reads the request of a command on ticket `id`, once the caller may see the ticket:
    /// a requester gets 404 for a ticket that is not theirs, before anything it sent counts.
    /// Staff see every ticket; one that does not exist is their 404 when the command runs.
    async fn on_ticket(
        self,
        state: &AppState,
        id: TicketId,
        kind: BodyKind,
    ) -> Result<(Uuid, Command)> {
        let id = id.id()?;
        let viewer = policy::viewer(&self.caller);
        // Staff read every ticket: no need to look its requester up.
        if viewer.only_requester().is_some() {
            let requester = views::requester_of(&state.pool, id).await?;
            if !policy::may_read_ticket(viewer, requester) {
                return Err(ApiError::ticket_not_found());
            }
        }
        Ok((id, self.read(kind).await?))
    }

    /// Reads the body (400, 413, 415) and then the headers (422).
    async fn read(self, kind: BodyKind) -> Result<Command> {
        let (method, uri, headers) = (
            self.request.method().clone(),
            self.request.uri().clone(),
            self.request.headers().clone(),
        );
        let body = JsonBody::read(self.request, kind).await?;
        let ctx = command_context(&headers, &method, &uri, &body)?;
        Ok(Command {
            actor: self.caller.actor(),
            caller: self.caller,
            ctx,
            body,
        })
    }
}

/// A command request read whole: the caller, the conditions and keys of its headers, its JSON
/// body.
pub struct Command {
    caller: Caller,
    /// The caller as the events will name them.
    actor: Actor,
    ctx: CommandContext,
    body: JsonBody,
}

impl Command {
    fn form(&self) -> Result<Form<'_>> {
        Form::new(&self.body)
    }

    fn require_staff(&self, what: &str) -> Result<()> {
        require_staff(&self.caller, what)
    }

    /// Who issues the command, for the application layer.
    fn issued(&self) -> Issued<'_> {
        Issued {
            by: &self.actor,
            ctx: &self.ctx,
        }
    }

    /// The answer to a command's outcome: 200 or 201 with its `ETag`, or its error; a version
    /// mismatch names the version `If-Match` expected.
    fn answer(&self, outcome: std::result::Result<Outcome, CommandError>) -> Result<Response> {
        outcome
            .map(respond)
            .map_err(|e| match (e, self.ctx.expected_version) {
                (CommandError::VersionMismatch { current }, Some(expected)) => {
                    ApiError::PreconditionFailed { expected, current }
                }
                (e, _) => ApiError::from(e),
            })
    }
}

/// What reading a member needs from the engine.
fn context(state: &AppState) -> Context<'_> {
    Context {
        settings: &state.settings,
    }
}

/// Opens a ticket.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "commands", request_body = CreateTicketRequest,
    responses((status = 201, body = CommandResponse), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_ticket(State(state): State<AppState>, req: CommandRequest) -> Result<Response> {
    let req = req.read(BodyKind::Required).await?;
    let mut form = req.form()?;
    let draft = CreateTicketRequest::read(&mut form, &context(&state));
    let requester_id = draft.requester_id.flatten();
    if requester_id.is_some() {
        req.require_staff("open a ticket for someone else")?;
    }
    let requester = tickets::resolve_requester(&state.pool, &req.actor, requester_id).await?;
    if requester.is_none() {
        form.fail(
            "requester_id",
            "must name a known requester, agent or admin",
        );
    }
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
    let mut form = req.form()?;
    let draft = CommentRequest::read(&mut form, &context(&state));
    form.finish()?;
    let comment = draft.complete()?;
    let internal = comment.internal.unwrap_or(false);
    if internal {
        req.require_staff("write internal comments")?;
    }
    let body = comment.body.into_inner();
    req.answer(tickets::comment(&state.commands, req.issued(), id, body, internal).await)
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
    let draft = AssignRequest::read(&mut form, &context(&state));
    let assignee = match draft.assignee_id {
        Some(id) => {
            let assignee = tickets::resolve_assignee(&state.pool, id).await?;
            if assignee.is_none() {
                form.fail("assignee_id", "must name a known agent or admin");
            }
            assignee
        }
        None => None,
    };
    form.finish()?;
    let assignee = assignee
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a checked assignee is missing")))?;
    req.answer(tickets::assign(&state.commands, req.issued(), id, assignee).await)
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
    let draft = UpdateRequest::read(&mut form, &context(&state));
    form.finish()?;
    let body = draft.complete()?;
    let changes = Changes {
        title: body.title,
        description: body.description.map(Description::into_inner),
        category: body.category.map(|c| c.0),
        priority: body.priority,
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
    let mut form = req.form()?;
    let draft = CloseRequest::read(&mut form, &context(&state));
    form.finish()?;
    let resolution = draft.complete()?.resolution.map(Resolution::into_inner);
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
    let mut form = req.form()?;
    let draft = ReopenRequest::read(&mut form, &context(&state));
    form.finish()?;
    let reason = draft.complete()?.reason.map(ReopenReason::into_inner);
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
    let mut form = req.form()?;
    let draft = RatingRequest::read(&mut form, &context(&state));
    form.finish()?;
    let rating = draft.complete()?;
    let score = rating.score.get();
    let comment = rating.comment.map(RatingComment::into_inner);
    req.answer(tickets::rate(&state.commands, req.issued(), id, score, comment).await)
}
