//! Tags (CONTRACT 10): `PUT /tickets/{id}/tags` replaces a ticket's set, `GET /tags` says how
//! many tickets carry each tag.

use std::borrow::Cow;
use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use serde_json::Value;
use ticket_projections::read_models::tickets;
use tokio::time::Instant;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::body::BodyKind;
use super::command_request::{CommandRequest, CommandResponse};
use super::error::{FieldError, Result};
use super::extract::TicketId;
use super::form::request_body;
use super::members::{Context, FromJson, MemberError};
use super::params::Params;
use super::response::answer;
use super::state::AppState;
use super::ticket_queries::{caught_up, require_reader_of_everything, TICKET_MODELS};
use crate::application::tickets as use_cases;
use crate::auth::Caller;
use crate::domain::tags::{Tag, TAGS_MAX, TAG_MAX, TAG_PATTERN};

/// The tag routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}/tags", put(put_tags))
        .route("/tags", get(list_tags))
}

/// A ticket's whole new set of tags: at most 20, each checked; repeats collapse. Each failing
/// entry is named by its index: `tags.3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags(pub BTreeSet<Tag>);

impl FromJson for Tags {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let items = value
            .as_array()
            .ok_or(MemberError::Type("an array of strings"))?;
        if items.len() > TAGS_MAX {
            let message = format!("must hold at most {TAGS_MAX} tags");
            return Err(MemberError::Inner(vec![FieldError::new("", message)]));
        }
        let mut errors = Vec::new();
        let mut tags = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(Tag::parse) {
                Some(Ok(tag)) => {
                    tags.insert(tag);
                }
                Some(Err(_)) => errors.push(FieldError::new(
                    i.to_string(),
                    format!("must be 1–{TAG_MAX} characters of a-z, 0-9, _ and -"),
                )),
                None => errors.push(FieldError::new(i.to_string(), "must be a string")),
            }
        }
        if errors.is_empty() {
            Ok(Tags(tags))
        } else {
            Err(MemberError::Inner(errors))
        }
    }
}

impl PartialSchema for Tags {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(TAG_MAX))
                    .pattern(Some(TAG_PATTERN)),
            )
            .max_items(Some(TAGS_MAX))
            .description(Some(
                "the ticket's whole new set of tags (repeats collapse); [] removes every tag",
            ))
            .into()
    }
}

impl ToSchema for Tags {
    fn name() -> Cow<'static, str> {
        "Tags".into()
    }
}

request_body! {
    /// `PUT /tickets/{id}/tags` body: agents and admins.
    pub struct TagsRequest, read as TagsDraft {
        /// The whole new set.
        pub tags: Tags,
    }
}

/// Replaces a ticket's tags; records `ticket.tagged` with what was added and removed.
#[utoipa::path(put, path = "/api/v1/tickets/{id}/tags", tag = "commands", request_body = TagsRequest,
    params(("id" = uuid::Uuid, Path, description = "ticket id")),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put_tags(
    State(state): State<AppState>,
    id: TicketId,
    req: CommandRequest,
) -> Result<Response> {
    // Visibility first: a requester asking about another's ticket gets 404, as if it did not
    // exist; on their own ticket, 403.
    let (id, req) = req.on_ticket(&state, id, BodyKind::Required).await?;
    req.require_staff("tag tickets")?;
    let body = TagsRequest::parse(req.body(), &Context::from(&state))?;
    req.answer(use_cases::tag(&state.commands, req.issued(), id, body.tags.0, false).await)
}

/// One entry of `GET /tags`.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TagCount {
    /// The tag.
    pub tag: String,
    /// How many tickets carry it.
    pub count: i64,
}

/// `GET /tags`.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TagList {
    /// Every tag some ticket carries, most used first.
    pub items: Vec<TagCount>,
}

/// Every tag in use with how many tickets carry it (agents, admins, auditors).
#[utoipa::path(get, path = "/api/v1/tags", tag = "queries",
    params(
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read model applied this position"),
    ),
    responses(
        (status = 200, body = TagList, headers(("X-Projection-Position" = i64))),
        (status = 403), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn list_tags(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response> {
    require_reader_of_everything(&caller, "tags")?;
    let mut p = Params::new(&uri, &["min_position"])?;
    let min_position = p.min_position();
    p.finish()?;
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let items = tickets::tag_counts(&state.pool)
        .await?
        .into_iter()
        .map(|t| TagCount {
            tag: t.tag,
            count: t.count,
        })
        .collect();
    Ok(answer(position, TagList { items }))
}
