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

use super::body::{BodyKind, Fields, JsonBody};
use super::error::{ApiError, FieldError, Result};
use super::extract::TicketId;
use super::state::AppState;
use crate::application::tickets::{self, Changes, Issued, NewTicket};
use crate::auth::Caller;
use crate::command_service::{CommandContext, CommandError, Idempotency, Outcome};
use crate::domain::values::{
    check_comment_body, check_score, check_text, DESCRIPTION_MAX, NOTE_MAX, RATING_COMMENT_MAX,
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

/// `POST /tickets` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CreateTicketRequest {
    /// 1–200 characters after trimming.
    title: String,
    /// Up to 20,000 characters.
    description: String,
    /// One of the configured categories.
    category: String,
    /// `low`, `medium`, `high` or `urgent`.
    priority: String,
    /// `web`, `email`, `chat`, `api` (default) or `phone`.
    channel: Option<String>,
    /// Agents and admins only: open the ticket for this requester.
    requester_id: Option<Uuid>,
}

/// `POST /tickets/{id}/comments` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CommentRequest {
    /// 1–20,000 characters.
    body: String,
    /// Hidden from requesters; agents and admins only.
    internal: Option<bool>,
}

/// `POST /tickets/{id}/assign` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AssignRequest {
    /// An agent or admin.
    assignee_id: Uuid,
}

/// `PATCH /tickets/{id}` body: any of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UpdateRequest {
    /// 1–200 characters after trimming.
    title: Option<String>,
    /// Up to 20,000 characters.
    description: Option<String>,
    /// One of the configured categories.
    category: Option<String>,
    /// Recomputes the SLA due times.
    priority: Option<String>,
}

/// `POST /tickets/{id}/close` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CloseRequest {
    /// Up to 5,000 characters.
    resolution: Option<String>,
}

/// `POST /tickets/{id}/reopen` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ReopenRequest {
    /// Up to 5,000 characters.
    reason: Option<String>,
}

/// `POST /tickets/{id}/rating` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RatingRequest {
    /// 1 to 5.
    score: i64,
    /// Up to 2,000 characters.
    comment: Option<String>,
}

/// Reads `If-Match`, `Idempotency-Key` and `X-Request-Id`.
///
/// None of them can hold U+0000: HTTP field values cannot, the server refuses such a request
/// with 400 before any handler, and `HeaderValue` cannot be built with one. Values that are not
/// visible ASCII are refused here (422) or, for `X-Request-Id`, replaced by a new id.
pub(crate) fn command_context(
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

pub(crate) fn respond(outcome: Outcome) -> Response {
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
        if !viewer.reads_everything {
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
    fn fields(&self) -> Result<Fields<'_>> {
        Fields::new(&self.body)
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

/// The configured-category rule as a `Fields` parser.
fn category(state: &AppState) -> impl Fn(&str) -> std::result::Result<String, String> + '_ {
    move |c: &str| state.settings.check_category(c).map(|()| c.to_string())
}

fn text(max: usize, field: &'static str) -> impl Fn(&String) -> std::result::Result<(), String> {
    move |v: &String| check_text(field, v, max)
}

/// The value of a field `Fields` has checked; `finish` returned `Ok`, so it is there.
fn checked<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a checked field is missing")))
}

/// Opens a ticket.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "commands", request_body = CreateTicketRequest,
    responses((status = 201, body = CommandResponse), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_ticket(State(state): State<AppState>, req: CommandRequest) -> Result<Response> {
    let req = req.read(BodyKind::Required).await?;
    let mut f = req.fields()?;
    let title = f.parsed("title", true, Title::parse);
    let description = f.string("description", true);
    let description = f.check(
        "description",
        description,
        text(DESCRIPTION_MAX, "description"),
    );
    let category = f.parsed("category", true, category(&state));
    let priority = f.parsed("priority", true, |p| p.parse::<Priority>());
    let channel = f.parsed("channel", false, |c| c.parse::<Channel>());
    let requester_id = f.uuid("requester_id", false);
    if requester_id.is_some() {
        req.require_staff("open a ticket for someone else")?;
    }
    let requester = tickets::resolve_requester(&state.pool, &req.actor, requester_id).await?;
    if requester.is_none() {
        f.fail(
            "requester_id",
            "must name a known requester, agent or admin",
        );
    }
    f.finish()?;
    let (title, description, category, priority, requester) = (
        checked(title)?,
        checked(description)?,
        checked(category)?,
        checked(priority)?,
        checked(requester)?,
    );
    let ticket = NewTicket {
        title,
        description,
        category,
        priority,
        channel: channel.unwrap_or_default(),
        requester,
        integration: None,
        metadata: None,
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
    let mut f = req.fields()?;
    let body = f.string("body", true);
    let body = f.check("body", body, |b| check_comment_body(b));
    let internal = f.boolean("internal", false).unwrap_or(false);
    f.finish()?;
    if internal {
        req.require_staff("write internal comments")?;
    }
    let body = checked(body)?;
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
    let mut f = req.fields()?;
    let assignee = match f.uuid("assignee_id", true) {
        Some(aid) => {
            let assignee = tickets::resolve_assignee(&state.pool, aid).await?;
            if assignee.is_none() {
                f.fail("assignee_id", "must name a known agent or admin");
            }
            assignee
        }
        None => None,
    };
    f.finish()?;
    let assignee = checked(assignee)?;
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
    let mut f = req.fields()?;
    let title = f.parsed("title", false, Title::parse);
    let description = f.string("description", false);
    let description = f.check(
        "description",
        description,
        text(DESCRIPTION_MAX, "description"),
    );
    let category = f.parsed("category", false, category(&state));
    let priority = f.parsed("priority", false, |p| p.parse::<Priority>());
    f.finish()?;
    let changes = Changes {
        title,
        description,
        category,
        priority,
    };
    req.answer(tickets::update(&state.commands, req.issued(), id, changes).await)
}

/// Reads the one optional free-text field of close and reopen.
fn note(req: &Command, field: &'static str) -> Result<Option<String>> {
    let mut f = req.fields()?;
    let value = f.string(field, false);
    let value = f.check(field, value, text(NOTE_MAX, field));
    f.finish()?;
    Ok(value)
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
    let resolution = note(&req, "resolution")?;
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
    let reason = note(&req, "reason")?;
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
    let mut f = req.fields()?;
    let score = f.integer("score", true);
    let score = score.and_then(|s| match check_score(s) {
        Ok(s) => Some(s),
        Err(m) => {
            f.fail("score", m);
            None
        }
    });
    let comment = f.string("comment", false);
    let comment = f.check("comment", comment, text(RATING_COMMENT_MAX, "comment"));
    f.finish()?;
    let score = checked(score)?;
    req.answer(tickets::rate(&state.commands, req.issued(), id, score, comment).await)
}
