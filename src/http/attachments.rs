//! Attachments (CONTRACT 10): `POST /tickets/{id}/attachments` streams a multipart file into
//! the store; `GET /attachments/{id}` streams it back (ranges too) to whoever may read the
//! comment listing it, always as a download.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use object_store::{GetOptions, GetRange};
use serde::Serialize;
use uuid::Uuid;

use super::error::{ApiError, FieldError, Result};
use super::extract::TicketId;
use super::integrations::IntegrationCaller;
use super::members::{Context, FromJson, MemberError};
use super::state::AppState;
use crate::application::attachments::{self, Declared};
use crate::attachments::records::{self, Record};
use crate::attachments::upload::UploadError;
use crate::attachments::{names, Attachments};
use crate::auth::Caller;
use crate::domain::Role;
use crate::{policy, views};

/// Room for the multipart framing around the file (boundaries, part headers).
const FRAMING: u64 = 64 * 1024;

/// The attachment routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/tickets/{id}/attachments",
            // The file's own limit is checked while it streams in, not the JSON bodies' 64 KiB.
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/intake/attachments",
            post(intake_upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/attachments/{id}", get(download))
}

/// `attachment_ids` of a comment or an intake: stored files, not yet on a comment, uploaded by
/// its author (to its ticket) or its integration, at most 20.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentIds(pub Vec<Uuid>);

/// Most files on one comment.
pub const MAX_FILES_PER_COMMENT: usize = 20;

impl FromJson for AttachmentIds {
    fn from_json(
        value: &serde_json::Value,
        _: &Context<'_>,
    ) -> std::result::Result<Self, MemberError> {
        let ids = value
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or(MemberError::Type("an array of attachment ids"))?;
        if ids.len() > MAX_FILES_PER_COMMENT {
            return Err(MemberError::Type("at most 20 attachment ids"));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != ids.len() {
            return Err(MemberError::Type("a list of distinct attachment ids"));
        }
        Ok(Self(ids))
    }
}

impl utoipa::PartialSchema for AttachmentIds {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
        };
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
            )
            .max_items(Some(MAX_FILES_PER_COMMENT))
            .unique_items(true)
            .description(Some(
                "ids of stored files not yet on a comment, uploaded by the comment's author to its ticket (or, for an intake, by the integration)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for AttachmentIds {
    fn name() -> std::borrow::Cow<'static, str> {
        "AttachmentIds".into()
    }
}

/// A stored file (`201`), as a comment's `attachment_ids` may then name it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentInfo {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

impl From<Record> for AttachmentInfo {
    fn from(r: Record) -> Self {
        Self {
            id: r.id,
            filename: r.filename,
            content_type: r.content_type,
            size: r.size,
            sha256: r.sha256,
        }
    }
}

/// Whoever may comment on the ticket (not auditors; a requester on their own tickets only).
async fn require_commenter(state: &AppState, caller: &Caller, ticket: Uuid) -> Result<()> {
    if caller.role == Role::Auditor {
        return Err(ApiError::Forbidden("auditors issue no commands".into()));
    }
    match views::ticket_requester(&state.pool, ticket).await? {
        Some(requester) if policy::may_read_ticket(policy::viewer(caller), requester) => Ok(()),
        _ => Err(ApiError::ticket_not_found()),
    }
}

/// Uploads a file for a comment on the ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/attachments", tag = "commands",
    params(("id" = Uuid, Path, description = "ticket id")),
    request_body(content_type = "multipart/form-data", description = "the file in a part named `file`"),
    responses((status = 201, body = AttachmentInfo), (status = 400), (status = 403), (status = 404),
        (status = 413), (status = 415), (status = 422)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    id: TicketId,
    req: Request,
) -> Result<Response> {
    let ticket = id.id()?;
    require_commenter(&state, &caller, ticket).await?;
    receive(&state, Some(ticket), caller.id, req).await
}

/// Uploads a file for an intake (`POST /intake/tickets` or `/intake/messages` then lists it in
/// `attachment_ids`): on no ticket until then, usable only by this integration, once.
#[utoipa::path(post, path = "/api/v1/intake/attachments", tag = "intake",
    request_body(content_type = "multipart/form-data", description = "the file in a part named `file`"),
    responses((status = 201, body = AttachmentInfo), (status = 400),
        (status = 401, description = "no valid integration key", body = super::error::Problem),
        (status = 413), (status = 415), (status = 422)),
    security(("integration_key" = [])))]
pub async fn intake_upload(
    State(state): State<AppState>,
    caller: IntegrationCaller,
    req: Request,
) -> Result<Response> {
    caller.confirm(&state).await?;
    receive(&state, None, caller.integration.id, req).await
}

/// Streams the multipart body's `file` part into the store, for `ticket` (`None`: for an
/// intake), as `uploader`'s: 201 with what a comment then lists.
async fn receive(
    state: &AppState,
    ticket: Option<Uuid>,
    uploader: Uuid,
    req: Request,
) -> Result<Response> {
    let max = state.attachments.max_bytes;
    let too_large = || ApiError::PayloadTooLarge {
        limit: usize::try_from(max).unwrap_or(usize::MAX),
    };
    // A declared length past the limit is refused before a byte of the body is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max.saturating_add(FRAMING)) {
        return Err(too_large());
    }
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::UnsupportedMediaType(e.body_text()))?;
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        })?;
        let Some(field) = field else {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "file",
                "is required: a part named file",
            )]));
        };
        if field.name() != Some("file") {
            continue;
        }
        let declared = Declared {
            filename: field.file_name().map(str::to_string),
            content_type: field.content_type().map(str::to_string),
        };
        let stored = attachments::store(
            &state.pool,
            &state.attachments,
            ticket,
            uploader,
            declared,
            field,
        )
        .await;
        return match stored {
            Ok(record) => {
                Ok((StatusCode::CREATED, Json(AttachmentInfo::from(record))).into_response())
            }
            Err(UploadError::TooLarge { .. }) => Err(too_large()),
            Err(UploadError::Cut(why)) => {
                Err(ApiError::BadRequest(format!("the upload was cut: {why}")))
            }
            Err(UploadError::Store(e)) => Err(ApiError::Internal(e)),
        };
    }
}

/// Downloads a file, to whoever may read the comment listing it.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "queries",
    params(("id" = Uuid, Path, description = "attachment id"),
        ("Range" = Option<String>, Header, description = "one byte range, e.g. bytes=0-1023")),
    responses((status = 200, description = "the file, as a download", content_type = "application/octet-stream"),
        (status = 206, description = "the requested range", content_type = "application/octet-stream"),
        (status = 404), (status = 416)),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let not_found = || ApiError::NotFound("attachment not found".into());
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let record = records::find(&state.pool, id)
        .await?
        .ok_or_else(not_found)?;
    let ticket = record.ticket_id.ok_or_else(not_found)?;
    let internal = records::listing_comment_internal(&state.pool, ticket, id)
        .await?
        .ok_or_else(not_found)?;
    let viewer = policy::viewer(&caller);
    let requester = views::requester_of(&state.pool, ticket).await?;
    if !policy::may_read_ticket(viewer, requester) || !policy::may_read_comment(viewer, internal) {
        return Err(not_found());
    }
    let size = u64::try_from(record.size).unwrap_or(0);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(spec) => match parse_range(spec, size) {
            RangeSpec::Whole => None,
            RangeSpec::Part(start, end) => Some((start, end)),
            RangeSpec::Unsatisfiable => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(response);
            }
        },
    };
    let options = GetOptions {
        range: range.map(|(start, end)| GetRange::Bounded(start..end + 1)),
        ..GetOptions::default()
    };
    let got = state
        .attachments
        .store()
        .get_opts(&Attachments::location(id), options)
        .await
        .map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("cannot read the attachment"))
        })?;
    let stream = got
        .into_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).ok();
    if let Some(v) = value(&record.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = value(&names::content_disposition(&record.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Opened by mistake in a tab, the file still runs nothing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Some(v) = value(&format!("\"{}\"", record.sha256)) {
        h.insert(header::ETAG, v);
    }
    match range {
        None => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        }
        Some((start, end)) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
            if let Some(v) = value(&format!("bytes {start}-{end}/{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
    }
    Ok(response)
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// The whole file: no usable range (several ranges, another unit, a malformed header are
    /// answered with the whole file, as RFC 9110 allows).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the file: 416.
    Unsatisfiable,
}

fn parse_range(spec: &str, size: u64) -> RangeSpec {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return RangeSpec::Whole;
    };
    if set.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeSpec::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => {
            RangeSpec::Part(size.saturating_sub(n), size - 1)
        }
        (true, _, Some(_)) => RangeSpec::Unsatisfiable,
        (false, Some(start), _) if start >= size => RangeSpec::Unsatisfiable,
        (false, Some(start), None) if last.trim().is_empty() => RangeSpec::Part(start, size - 1),
        (false, Some(start), Some(end)) if end >= start => {
            RangeSpec::Part(start, end.min(size - 1))
        }
        _ => RangeSpec::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_range, RangeSpec};

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=95-200", 100), RangeSpec::Part(95, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Whole);
        assert_eq!(parse_range("bytes=9-1", 100), RangeSpec::Whole);
    }
}
