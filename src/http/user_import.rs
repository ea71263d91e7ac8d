//! `POST /users/import` (CONTRACT 11): admins create or update users from a `text/csv` body of
//! up to 10 MiB, all or nothing; `?dry_run=true` only reports.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, Uri};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Result};
use super::params::Params;
use super::state::AppState;
use super::user_routes::recorder;
use crate::application::import_users::{self, Refused, MAX_BYTES};
use crate::auth::Caller;
use crate::domain::Role;

/// The import route, with its own body limit.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/users/import",
        post(import_users).layer(DefaultBodyLimit::max(MAX_BYTES)),
    )
}

/// A line that could not be imported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportLineError {
    /// The line in the file (1: the header).
    pub line: u64,
    /// The column (`email`, `name`, `role`, `phone`), `header`, or `line` for the line as a whole.
    pub field: String,
    /// Why.
    pub message: String,
}

/// What an import did: with any error, nothing was applied (and the counts are 0).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Users added (or, dry, that would be).
    pub created: usize,
    /// Users changed (or, dry, that would be).
    pub updated: usize,
    /// Every line that failed.
    pub errors: Vec<ImportLineError>,
}

/// Creates or updates users from CSV (`email,name,role[,phone]`, header on line 1), matched by
/// normalized e-mail, in one transaction. Cells are stored as text, never evaluated.
#[utoipa::path(post, path = "/api/v1/users/import", tag = "users",
    params(("dry_run" = Option<bool>, Query, description = "only report what would be done")),
    request_body(content = String, content_type = "text/csv", description = "email,name,role[,phone]; at most 10 MiB and 50,000 rows, lines of at most 4 KiB"),
    responses(
        (status = 200, body = ImportReport),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 413, description = "over 10 MiB", body = super::error::Problem),
        (status = 415, description = "the body is not text/csv", body = super::error::Problem),
        (status = 422, description = "an invalid query parameter, or over 50,000 rows", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn import_users(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    request: Request,
) -> Result<Json<ImportReport>> {
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden("only admins may import users".into()));
    }
    let mut p = Params::new(&uri, &["dry_run"])?;
    let dry_run = p
        .parsed("dry_run", |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".into()),
        })
        .unwrap_or(false);
    p.finish()?;
    let csv = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/csv"));
    if !csv {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be CSV, sent with Content-Type: text/csv".into(),
        ));
    }
    let recorder = recorder(&state, &caller, request.headers());
    let bytes = Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: MAX_BYTES }
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {rejection}"))
            }
        })?;
    let applied = import_users::import(
        &state.pool,
        &recorder,
        &bytes,
        state.settings.default_phone_region,
        dry_run,
    )
    .await?
    .map_err(|refused| match refused {
        Refused::TooLarge => ApiError::PayloadTooLarge { limit: MAX_BYTES },
        Refused::TooManyRows => ApiError::invalid("body", refused.to_string()),
    })?;
    Ok(Json(ImportReport {
        created: applied.created,
        updated: applied.updated,
        errors: applied
            .errors
            .into_iter()
            .map(|e| ImportLineError {
                line: e.line,
                field: e.field,
                message: e.message,
            })
            .collect(),
    }))
}
