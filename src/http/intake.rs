//! `POST /intake/tickets` and `POST /intake/messages` (CONTRACT 7): tickets and follow-up
//! messages from integrations, authenticated by their `tdk_` keys.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, Fields, JsonBody};
use super::command_request::{command_context, respond};
use super::error::{ApiError, Result};
use super::integrations::IntegrationCaller;
use super::state::AppState;
use crate::application::intake::{self, IntakeError, IntakeTicket};
use crate::application::people::Contact;
use crate::domain::values::{CommentBody, Description};
use crate::domain::{Priority, Title};
use crate::store::user_stream::Recorder;
use crate::users;

/// Most metadata keys on a ticket.
pub const METADATA_KEYS_MAX: usize = 20;
/// Longest metadata key.
pub const METADATA_KEY_MAX: usize = 100;
/// Longest metadata value.
pub const METADATA_VALUE_MAX: usize = 2_000;
/// Longest `external_id`.
pub const EXTERNAL_ID_MAX: usize = 255;
/// Longest message body.
pub const MESSAGE_MAX: usize = 20_000;

/// The intake routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/intake/tickets", post(intake_ticket))
        .route("/intake/messages", post(intake_message))
}

/// The person an intake names.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct IntakePerson {
    /// 1–200 characters after trimming (kept only when the person is new).
    name: String,
    /// `local@domain`; at least one of `email` and `phone`.
    email: Option<String>,
    /// A phone number, national ones in `DEFAULT_PHONE_REGION`.
    phone: Option<String>,
}

/// `POST /intake/tickets` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct IntakeTicketRequest {
    /// Who asks: found by e-mail, then phone, else added.
    requester: IntakePerson,
    /// 1–200 characters after trimming.
    title: String,
    /// Up to 20,000 characters.
    description: String,
    /// One of the configured categories (default: the integration's, else `other`).
    category: Option<String>,
    /// Default: the integration's, else `medium`.
    priority: Option<String>,
    /// The integration's own id for the ticket (1–255 characters): a repeat returns the first
    /// ticket (200) and applies nothing.
    external_id: Option<String>,
    /// A flat object of strings, at most 20 keys.
    #[schema(value_type = Option<Object>)]
    metadata: Option<BTreeMap<String, String>>,
}

/// `POST /intake/tickets` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeTicketResponse {
    /// The ticket.
    pub id: Uuid,
    /// Its number.
    pub number: i64,
    /// Its requester.
    pub requester_id: Uuid,
    /// This intake added the requester to the directory.
    pub requester_created: bool,
}

/// Reads `email` and `phone` (normalized) from an object's fields.
fn contacts(f: &mut Fields<'_>, state: &AppState) -> (Option<String>, Option<String>) {
    let region = state.settings.default_phone_region;
    let email = f.parsed("email", false, users::normalize_email);
    let phone = f.parsed("phone", false, |p| users::normalize_phone(p, region));
    (email, phone)
}

/// Reads `metadata`: a flat object of strings, at most 20 keys.
fn metadata(f: &mut Fields<'_>) -> Option<BTreeMap<String, String>> {
    let value = f.raw("metadata", false)?;
    let Value::Object(map) = value else {
        f.fail("metadata", "must be an object of strings");
        return None;
    };
    if map.len() > METADATA_KEYS_MAX {
        f.fail(
            "metadata",
            format!("must have at most {METADATA_KEYS_MAX} keys"),
        );
        return None;
    }
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (key, value) in map {
        let field = format!("metadata.{key}");
        if key.is_empty() || key.chars().count() > METADATA_KEY_MAX {
            f.fail(
                &field,
                format!("keys must be 1–{METADATA_KEY_MAX} characters"),
            );
            ok = false;
            continue;
        }
        match value {
            Value::String(text) if text.chars().count() <= METADATA_VALUE_MAX => {
                out.insert(key.clone(), text.clone());
            }
            Value::String(_) => {
                f.fail(
                    &field,
                    format!("must be at most {METADATA_VALUE_MAX} characters"),
                );
                ok = false;
            }
            _ => {
                f.fail(&field, "must be a string (metadata is flat)");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn intake_error(error: IntakeError) -> ApiError {
    match error {
        IntakeError::UnknownExternalId => {
            ApiError::NotFound("no ticket of this integration has this external_id".into())
        }
        IntakeError::Command(e) => ApiError::from(e),
        IntakeError::People(users::CreateUserError::Database(e)) | IntakeError::Database(e) => {
            ApiError::from(e)
        }
        // Lost the race for a new person's contact again and again: the caller may retry.
        IntakeError::People(
            e @ (users::CreateUserError::EmailTaken | users::CreateUserError::PhoneTaken),
        ) => ApiError::Conflict(format!("{e}; retry the intake")),
        IntakeError::People(e) => ApiError::Internal(anyhow::Error::new(e)),
    }
}

/// Opens a ticket from an integration: 201 for a new ticket, 200 with the first ticket for a
/// repeated `external_id`.
#[utoipa::path(post, path = "/api/v1/intake/tickets", tag = "intake", request_body = IntakeTicketRequest,
    responses(
        (status = 201, body = IntakeTicketResponse),
        (status = 200, description = "the external_id was seen: the first ticket", body = IntakeTicketResponse),
        (status = 401, description = "no valid integration key", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("integration_key" = [])))]
pub async fn intake_ticket(
    State(state): State<AppState>,
    IntegrationCaller(integration): IntegrationCaller,
    request: Request,
) -> Result<Response> {
    let (method, uri, headers) = (
        request.method().clone(),
        request.uri().clone(),
        request.headers().clone(),
    );
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let ctx = command_context(&headers, &method, &uri, &body)?;
    let mut f = Fields::new(&body)?;
    let requester = match f.object("requester", true) {
        Some(mut r) => {
            let name = r.parsed("name", true, users::check_name);
            let (email, phone) = contacts(&mut r, &state);
            let neither = !requester_has(&body, "email") && !requester_has(&body, "phone");
            f.merge("requester", r);
            if neither {
                f.fail("requester", "must have an email or a phone");
            }
            name.map(|name| Contact { name, email, phone })
        }
        None => None,
    };
    let title = f.parsed("title", true, Title::parse);
    let description = f.string("description", true);
    let description = f.check("description", description, |d| {
        Description::parse(d).map(|_| ())
    });
    let category = f.parsed("category", false, |c| {
        state.settings.check_category(c).map(|()| c.to_string())
    });
    let priority = f.parsed("priority", false, |p| p.parse::<Priority>());
    let external_id = f.string("external_id", false);
    let external_id = f.check("external_id", external_id, |e| {
        let len = e.chars().count();
        if (1..=EXTERNAL_ID_MAX).contains(&len) {
            Ok(())
        } else {
            Err(format!(
                "external_id must be 1–{EXTERNAL_ID_MAX} characters"
            ))
        }
    });
    let metadata = metadata(&mut f);
    f.finish()?;
    let (Some(requester), Some(title), Some(description)) = (requester, title, description) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "checked fields missing"
        )));
    };
    let recorder = Recorder {
        source: state.settings.source.clone(),
        actor: ticket_nats::Actor {
            id: integration.id.to_string(),
            name: integration.name.clone(),
            role: "integration".into(),
        },
        correlation_id: ctx.correlation_id.clone(),
    };
    let intake = IntakeTicket {
        requester,
        title,
        description,
        category,
        priority,
        external_id,
        metadata,
    };
    let answer = intake::open_ticket(&state.commands, &recorder, &integration, intake, &ctx)
        .await
        .map_err(intake_error)?;
    let status = if answer.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(IntakeTicketResponse {
            id: answer.ticket_id,
            number: answer.number,
            requester_id: answer.requester_id,
            requester_created: answer.requester_created,
        }),
    )
        .into_response())
}

/// Whether the body's `requester` object holds a non-null `member` (an invalid value still
/// counts: it is reported as invalid, not as missing).
fn requester_has(body: &JsonBody, member: &str) -> bool {
    body.value
        .get("requester")
        .and_then(|r| r.get(member))
        .is_some_and(|v| !v.is_null())
}

/// The sender of a message.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct MessageSender {
    /// `local@domain`.
    email: Option<String>,
    /// A phone number.
    phone: Option<String>,
    /// 1–200 characters after trimming.
    name: Option<String>,
}

/// `POST /intake/messages` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct IntakeMessageRequest {
    /// The ticket, by the integration's id for it.
    external_id: String,
    /// Who wrote (the ticket's requester speaks through the integration).
    from: Option<MessageSender>,
    /// 1–20,000 characters.
    body: String,
}

/// A follow-up message on an integration's ticket: a comment by its requester; a closed ticket
/// is reopened first (reason "new message").
#[utoipa::path(post, path = "/api/v1/intake/messages", tag = "intake", request_body = IntakeMessageRequest,
    responses(
        (status = 200, body = super::command_request::CommandResponse),
        (status = 401, description = "no valid integration key", body = super::error::Problem),
        (status = 404, description = "no ticket of this integration has this external_id", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("integration_key" = [])))]
pub async fn intake_message(
    State(state): State<AppState>,
    IntegrationCaller(integration): IntegrationCaller,
    request: Request,
) -> Result<Response> {
    let (method, uri, headers) = (
        request.method().clone(),
        request.uri().clone(),
        request.headers().clone(),
    );
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let ctx = command_context(&headers, &method, &uri, &body)?;
    let mut f = Fields::new(&body)?;
    let external_id = f.string("external_id", true);
    if let Some(mut from) = f.object("from", false) {
        // Checked for what it says; the author is the ticket's requester.
        let _ = contacts(&mut from, &state);
        let _ = from.parsed("name", false, users::check_name);
        f.merge("from", from);
    }
    let text = f.string("body", true);
    let text = f.check("body", text, |b| CommentBody::parse(b).map(|_| ()));
    f.finish()?;
    let (Some(external_id), Some(text)) = (external_id, text) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "checked fields missing"
        )));
    };
    let outcome = intake::message(&state.commands, &integration, &external_id, text, &ctx)
        .await
        .map_err(intake_error)?;
    Ok(respond(outcome))
}
