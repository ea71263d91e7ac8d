//! A ticket command's request, from the caller to the answer: who may issue it (before the
//! body counts), the body and the `If-Match` / `Idempotency-Key` / `X-Request-Id` headers read
//! into a command, and its outcome as `200`/`201` with `ETag` or as a problem document.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, FieldError, Result};
use super::extract::TicketId;
use super::form::Form;
use super::state::AppState;
use crate::application::tickets::Issued;
use crate::auth::Caller;
use crate::command_service::{CommandContext, CommandError, Idempotency, Outcome};
use crate::domain::{Issuer, Role, TicketError};
use crate::{policy, views};

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
    pub fn require_staff(&self, what: &str) -> Result<()> {
        require_staff(&self.caller, what)
    }

    /// Reads the request of a command on ticket `id`, once the caller may see the ticket:
    /// a requester gets 404 for a ticket that is not theirs, before anything it sent counts.
    /// Staff see every ticket; one that does not exist is their 404 when the command runs.
    pub async fn on_ticket(
        self,
        state: &AppState,
        id: TicketId,
        kind: BodyKind,
    ) -> Result<(Uuid, Command)> {
        let id = id.id()?;
        let viewer = policy::viewer(&self.caller);
        let mut stands_for = Vec::new();
        // Staff read every ticket: no need to look its requester up.
        if viewer.only_requester().is_some() {
            let requester = views::requester_of(&state.pool, id).await?;
            if !views::may_read(&state.pool, viewer, requester).await? {
                return Err(ApiError::ticket_not_found());
            }
            // A ticket of a user merged into the caller: the aggregate is told they are one.
            stands_for.extend(requester.filter(|r| *r != viewer.user_id));
        }
        let mut command = self.read(kind).await?;
        command.actor.stands_for = stands_for;
        Ok((id, command))
    }

    /// Reads the body (400, 413, 415) and then the headers (422).
    pub async fn read(self, kind: BodyKind) -> Result<Command> {
        let (method, uri, headers) = (
            self.request.method().clone(),
            self.request.uri().clone(),
            self.request.headers().clone(),
        );
        let body = JsonBody::read(self.request, kind).await?;
        let ctx = command_context(&headers, &method, &uri, &body)?;
        Ok(Command {
            actor: self.caller.issuer(),
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
    pub actor: Issuer,
    ctx: CommandContext,
    body: JsonBody,
}

impl Command {
    pub fn form(&self) -> Result<Form<'_>> {
        Form::new(&self.body)
    }

    /// The JSON body.
    pub fn body(&self) -> &JsonBody {
        &self.body
    }

    pub fn require_staff(&self, what: &str) -> Result<()> {
        require_staff(&self.caller, what)
    }

    /// Who issues the command, for the application layer.
    pub fn issued(&self) -> Issued<'_> {
        Issued {
            by: &self.actor,
            ctx: &self.ctx,
        }
    }

    /// The answer to a command's outcome: 200 or 201 with its `ETag`, or its error; a version
    /// mismatch names the version `If-Match` expected.
    pub fn answer(&self, outcome: std::result::Result<Outcome, CommandError>) -> Result<Response> {
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
