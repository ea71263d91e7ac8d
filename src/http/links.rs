//! Links and merges (CONTRACT 10): `POST /tickets/{id}/links`, `DELETE
//! /tickets/{id}/links/{other}`, `POST /tickets/{id}/merge`.

use std::borrow::Cow;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, post};
use axum::Router;
use serde_json::Value;
use ticket_nats::events::LinkKind;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::body::BodyKind;
use super::command_request::{CommandRequest, CommandResponse};
use super::error::{ApiError, Result};
use super::extract::{TicketAndOther, TicketId};
use super::form::request_body;
use super::members::{string, Context, FromJson, MemberError};
use crate::application::links;
use crate::domain::values::ValueError;

/// The link and merge routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}/links", post(link_ticket))
        .route("/tickets/{id}/links/{other}", delete(unlink_ticket))
        .route("/tickets/{id}/merge", post(merge_ticket))
}

use super::state::AppState;

/// `related`, `duplicate_of`, `parent_of` or `child_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind(pub LinkKind);

impl FromJson for Kind {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let name = string(value)?;
        LinkKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .map(Kind)
            .ok_or_else(|| {
                MemberError::Value(ValueError::NotOneOf {
                    what: "kind",
                    names: LinkKind::ALL.map(LinkKind::as_str).join(", "),
                })
            })
    }
}

impl PartialSchema for Kind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(LinkKind::ALL.map(LinkKind::as_str)))
            .description(Some(
                "how the other ticket relates to this one; it records the inverse \
                 (parent_of ↔ child_of; related and duplicate_of as related)",
            ))
            .into()
    }
}

impl ToSchema for Kind {
    fn name() -> Cow<'static, str> {
        "LinkKind".into()
    }
}

request_body! {
    /// `POST /tickets/{id}/links` body.
    pub struct LinkRequest, read as LinkDraft {
        /// How the other ticket relates to this one.
        pub kind: Kind,
        /// The other ticket (one the caller may see).
        pub ticket_id: Uuid,
    }
}

request_body! {
    /// `POST /tickets/{id}/merge` body: agents and admins.
    pub struct MergeRequest, read as MergeDraft {
        /// The ticket this one is merged into.
        pub into: Uuid,
    }
}

/// Links a ticket to another; both record it (`ticket.linked`), the other with the inverse kind.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/links", tag = "commands", request_body = LinkRequest,
    params(("id" = Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn link_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    let body = LinkRequest::parse(req.body(), &Context::from(&state))?;
    if body.ticket_id == id {
        return Err(ApiError::invalid(
            "ticket_id",
            "must name another ticket than this one",
        ));
    }
    let outcome = links::link(
        &state.commands,
        req.issued(),
        id,
        body.kind.0,
        body.ticket_id,
    )
    .await;
    req.answer(outcome)
}

/// Removes the link between two tickets; both record it (`ticket.unlinked`). No link: 200, no
/// event.
#[utoipa::path(delete, path = "/api/v1/tickets/{id}/links/{other}", tag = "commands",
    params(("id" = Uuid, Path, description = "ticket id"), ("other" = Uuid, Path, description = "the linked ticket")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn unlink_ticket(
    State(state): State<AppState>,
    ids: TicketAndOther,
    req: CommandRequest,
) -> Result<Response> {
    let TicketAndOther(id, other) = ids;
    let (id, req) = req.on_ticket(&state, id, BodyKind::Optional).await?;
    let other = other.ok_or_else(ApiError::ticket_not_found)?;
    req.answer(links::unlink(&state.commands, req.issued(), id, other).await)
}

/// Merges a ticket into another: it records `ticket.merged` and is closed; the target records
/// `ticket.merged_from` and the merged ticket's comments as one internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/merge", tag = "commands", request_body = MergeRequest,
    params(("id" = Uuid, Path, description = "the ticket to merge")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn merge_ticket(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    req.require_staff("merge tickets")?;
    let body = MergeRequest::parse(req.body(), &Context::from(&state))?;
    req.answer(links::merge(&state.commands, req.issued(), id, body.into).await)
}
