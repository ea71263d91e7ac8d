//! `POST /intake/tickets` and `POST /intake/messages` (CONTRACT 7): tickets and follow-up
//! messages from integrations, authenticated by their `tdk_` keys.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{AnyOf, Schema};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::attachments::AttachmentIds;
use super::body::{BodyKind, JsonBody};
use super::command_request::{command_context, respond};
use super::error::{ApiError, FieldError, Result};
use super::form::request_body;
use super::integrations::{unknown_key, IntegrationCaller};
use super::members::{
    Category, ContactEmail, Context, ExternalId, FromJson, MemberError, Metadata, Phone, Text,
    UserName,
};
use super::state::AppState;
use crate::application::intake::{
    self, IntakeAnswer, IntakeError, IntakeTicket, MessageAnswer, Sender,
};
use crate::application::people::Contact;
use crate::command_service::CommandContext;
use crate::domain::values::{CommentBody, Description};
use crate::domain::{Priority, Title};
use crate::integrations::Integration;
use crate::store::user_stream::Recorder;
use crate::users;

/// The intake routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/intake/tickets", post(intake_ticket))
        .route("/intake/messages", post(intake_message))
}

request_body! {
    /// The person an intake names.
    pub struct IntakePerson, read as IntakePersonDraft {
        /// 1–200 characters after trimming (kept only when the person is new).
        pub name: UserName,
        /// `local@domain`; at least one of `email` and `phone`.
        pub email: Option<ContactEmail>,
        /// A phone number, national ones in `DEFAULT_PHONE_REGION`.
        pub phone: Option<Phone>,
    }
}

/// Who asks in an intake: a person with an e-mail or a phone (or both).
#[derive(Debug)]
pub struct Requester(IntakePerson);

impl FromJson for Requester {
    fn from_json(value: &Value, ctx: &Context<'_>) -> Result<Self, MemberError> {
        // A contact sent but invalid is reported as invalid, not as missing.
        let has = |contact: &str| value.get(contact).is_some_and(|v| !v.is_null());
        let neither = value.is_object() && !has("email") && !has("phone");
        let person = IntakePerson::from_json(value, ctx);
        if !neither {
            return person.map(Requester);
        }
        let mut errors = match person {
            Err(MemberError::Inner(errors)) => errors,
            _ => Vec::new(),
        };
        errors.push(FieldError::new("", "must have an email or a phone"));
        Err(MemberError::Inner(errors))
    }
}

impl PartialSchema for Requester {
    /// The person's schema, once with `email` required and once with `phone`.
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(person)) = IntakePerson::schema() else {
            return IntakePerson::schema();
        };
        let with = |contact: &str| {
            let mut person = person.clone();
            person.required.push(contact.to_string());
            Schema::Object(person)
        };
        let mut either = AnyOf::new();
        either.items = vec![with("email").into(), with("phone").into()];
        either.description = Some("found by e-mail, then phone, else added".into());
        Schema::AnyOf(either).into()
    }
}

impl ToSchema for Requester {
    fn name() -> Cow<'static, str> {
        "Requester".into()
    }
}

request_body! {
    /// `POST /intake/tickets` body.
    pub struct IntakeTicketRequest, read as IntakeTicketDraft {
        /// Who asks: found by e-mail, then phone, else added.
        pub requester: Requester,
        /// 1–200 characters after trimming.
        pub title: Title,
        /// Up to 20,000 characters.
        pub description: Description,
        /// One of the configured categories (default: the integration's, else `other`).
        pub category: Option<Category>,
        /// Default: the integration's, else `medium`.
        pub priority: Option<Priority>,
        /// The integration's own id for the ticket (1–255 characters): a repeat returns the
        /// first ticket (200) and applies nothing.
        pub external_id: Option<ExternalId>,
        /// A flat object of strings, at most 20 keys.
        pub metadata: Option<Metadata>,
        /// Files this integration uploaded (`POST /intake/attachments`), each listed once: on a
        /// public comment by the requester recorded with the creation.
        pub attachment_ids: Option<AttachmentIds>,
    }
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

fn intake_error(error: IntakeError) -> ApiError {
    match error {
        IntakeError::Revoked => unknown_key(),
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
        IntakeError::Invalid(e) => {
            ApiError::Unprocessable(vec![FieldError::new("body", e.to_string())])
        }
        e @ IntakeError::FileNotUsable(_) => {
            ApiError::Unprocessable(vec![FieldError::new("attachment_ids", e.to_string())])
        }
    }
}

/// The body of an intake request, and the command context its headers give (idempotency,
/// correlation id), as for every command.
async fn read_command(request: Request) -> Result<(JsonBody, CommandContext)> {
    let (method, uri, headers) = (
        request.method().clone(),
        request.uri().clone(),
        request.headers().clone(),
    );
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let ctx = command_context(&headers, &method, &uri, &body)?;
    Ok((body, ctx))
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
    caller: IntegrationCaller,
    request: Request,
) -> Result<Response> {
    // The key is confirmed by the statement that records the intake; an intake refused
    // before it is confirmed here, so that a revoked key gets a 401 whatever it sent.
    let (body, ctx) = match read_command(request).await {
        Ok(read) => read,
        Err(error) => return Err(caller.refuse(&state, error).await),
    };
    let parsed = IntakeTicketRequest::parse(&body, &Context::from(&state));
    let IntakeTicketRequest {
        requester: Requester(person),
        title,
        description,
        category,
        priority,
        external_id,
        metadata,
        attachment_ids,
    } = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return Err(caller.refuse(&state, error).await),
    };
    let intake = IntakeTicket {
        requester: Contact {
            name: person.name.0,
            email: person.email.map(|e| e.0),
            phone: person.phone.map(|p| p.0),
        },
        title,
        description: description.into_inner(),
        category: category.map(|c| c.0),
        priority,
        external_id: external_id.map(|e| e.0),
        metadata: metadata.map(|m| m.0),
        attachment_ids: attachment_ids.map(|a| a.0).unwrap_or_default(),
    };
    let integration = &caller.integration;
    let recorder = recorder(&state, integration, &ctx);
    let answer = intake::open_ticket(&state.commands, &recorder, integration, intake, &ctx).await;
    if matches!(answer, Err(IntakeError::Revoked)) {
        state.integration_keys.forget(integration.id);
    }
    Ok(ticket_answer(answer.map_err(intake_error)?))
}

/// Who changes the directory on an intake's behalf: the integration.
fn recorder(state: &AppState, integration: &Integration, ctx: &CommandContext) -> Recorder {
    Recorder {
        source: state.settings.source.clone(),
        actor: ticket_nats::Actor {
            id: integration.id.to_string(),
            name: integration.name.clone(),
            role: "integration".into(),
        },
        correlation_id: ctx.correlation_id.clone(),
    }
}

/// 201 with a new ticket, 200 with the first one for a repeated `external_id`.
fn ticket_answer(answer: IntakeAnswer) -> Response {
    let status = if answer.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(IntakeTicketResponse {
            id: answer.ticket_id,
            number: answer.number,
            requester_id: answer.requester_id,
            requester_created: answer.requester_created,
        }),
    )
        .into_response()
}

request_body! {
    /// The sender of a message, found like an intake's requester: the ticket's requester and
    /// staff comment; anyone else gets a ticket of their own. Without an e-mail or a phone, the
    /// ticket's requester.
    pub struct MessageSender, read as MessageSenderDraft {
        /// `local@domain`.
        pub email: Option<ContactEmail>,
        /// A phone number.
        pub phone: Option<Phone>,
        /// 1–200 characters after trimming.
        pub name: Option<UserName>,
    }
}

request_body! {
    /// `POST /intake/messages` body.
    pub struct IntakeMessageRequest, read as IntakeMessageDraft {
        /// The ticket, by the integration's id for it (an id naming none of its tickets: 404).
        pub external_id: Text,
        /// Who wrote (default: the ticket's requester).
        pub from: Option<MessageSender>,
        /// 1–20,000 characters.
        pub body: CommentBody,
        /// Files this integration uploaded (`POST /intake/attachments`), each listed once, on
        /// the comment.
        pub attachment_ids: Option<AttachmentIds>,
    }
}

/// A follow-up message on an integration's ticket: a comment by its sender (the requester, or
/// staff) with 200; a closed ticket is reopened first (reason "new message"). A sender who is
/// neither gets a ticket of their own: 201, as `POST /intake/tickets` answers.
#[utoipa::path(post, path = "/api/v1/intake/messages", tag = "intake", request_body = IntakeMessageRequest,
    responses(
        (status = 200, body = super::command_request::CommandResponse),
        (status = 201, description = "the sender is neither the ticket's requester nor staff: a ticket of their own", body = IntakeTicketResponse),
        (status = 401, description = "no valid integration key", body = super::error::Problem),
        (status = 404, description = "no ticket of this integration has this external_id", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("integration_key" = [])))]
pub async fn intake_message(
    State(state): State<AppState>,
    caller: IntegrationCaller,
    request: Request,
) -> Result<Response> {
    let (body, ctx) = match read_command(request).await {
        Ok(read) => read,
        Err(error) => return Err(caller.refuse(&state, error).await),
    };
    let IntakeMessageRequest {
        external_id: Text(external_id),
        from,
        body: text,
        attachment_ids,
    } = match IntakeMessageRequest::parse(&body, &Context::from(&state)) {
        Ok(parsed) => parsed,
        Err(error) => return Err(caller.refuse(&state, error).await),
    };
    caller.confirm(&state).await?;
    let integration = &caller.integration;
    let from = from.map(|sender| Sender {
        name: sender.name.map(|n| n.0),
        email: sender.email.map(|e| e.0),
        phone: sender.phone.map(|p| p.0),
    });
    let answer = intake::message(
        &state.commands,
        &recorder(&state, integration, &ctx),
        integration,
        &external_id,
        from,
        text.into_inner(),
        &attachment_ids.map(|a| a.0).unwrap_or_default(),
        &ctx,
    )
    .await
    .map_err(intake_error)?;
    Ok(match answer {
        MessageAnswer::Commented(outcome) => respond(outcome),
        MessageAnswer::Opened(opened) => ticket_answer(opened),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::settings::Settings;

    /// Each failing field of `body` read as `T`, with its message.
    fn failures<T>(
        read: fn(&JsonBody, &Context<'_>) -> Result<T>,
        body: Value,
    ) -> Vec<(String, String)> {
        let settings = Settings::for_database("postgres://x/y", &"s".repeat(32));
        let ctx = Context {
            settings: &settings,
        };
        match read(&JsonBody::from_value(body), &ctx) {
            Err(ApiError::Unprocessable(errors)) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            Err(other) => panic!("expected a 422, got {other:?}"),
            Ok(_) => Vec::new(),
        }
    }

    fn named(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect()
    }

    #[test]
    fn a_requester_reports_inside_itself_and_needs_a_contact() {
        let body = json!({
            "requester": {"name": " ", "email": "no-at", "phone": "12", "fax": "1"},
            "title": "t", "description": "", "metadata": {"a": 1}, "external_id": "",
        });
        assert_eq!(
            failures(IntakeTicketRequest::parse, body),
            named(&[
                ("requester.name", "name must not be empty"),
                ("requester.email", "email must be an address with one @ and text on both sides"),
                ("requester.phone", "phone must be a valid phone number of its country (international, or national in the default region)"),
                ("requester.fax", "is not a known field"),
                ("external_id", "external_id must be 1–255 characters"),
                ("metadata.a", "must be a string (metadata is flat)"),
            ])
        );
        let body =
            json!({"requester": {"name": "G", "email": null}, "title": "t", "description": ""});
        assert_eq!(
            failures(IntakeTicketRequest::parse, body),
            named(&[("requester", "must have an email or a phone")])
        );
        let body = json!({"requester": "G", "description": ""});
        assert_eq!(
            failures(IntakeTicketRequest::parse, body),
            named(&[("requester", "must be an object"), ("title", "is required")])
        );
        let many: serde_json::Map<String, Value> =
            (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
        let body = json!({"requester": {"name": "G", "phone": "+5511912345678"}, "title": "t", "description": "", "metadata": many});
        assert_eq!(
            failures(IntakeTicketRequest::parse, body),
            named(&[("metadata", "must have at most 20 keys")])
        );
    }

    #[test]
    fn a_sender_is_checked_for_what_it_says() {
        let body = json!({"external_id": "x", "from": {"phone": "abc", "x": 1}, "body": " "});
        assert_eq!(
            failures(IntakeMessageRequest::parse, body),
            named(&[
                ("from.phone", "phone must be a valid phone number of its country (international, or national in the default region)"),
                ("from.x", "is not a known field"),
                ("body", "body must not be empty"),
            ])
        );
        let body = json!({"external_id": "x", "from": {"email": "A@B"}, "body": "hi"});
        assert!(failures(IntakeMessageRequest::parse, body).is_empty());
    }
}
