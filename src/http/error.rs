//! Every error the API answers with, as an RFC 9457 problem document.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::db::is_unreachable;

/// One failing field of a 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name (dotted for nested members; `body` for the document itself).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A failing field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// On 422: every failing field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl Problem {
    /// The problem document for an error answered outside the handlers (axum's own
    /// rejections, an unknown method): `detail` is what the answer said, or the status's reason.
    pub fn for_status(status: StatusCode, detail: &str) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        let kind = title.to_ascii_lowercase().replace([' ', '\''], "-");
        let detail = detail.trim();
        Self {
            kind: format!("https://ticketd.dev/problems/{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: if detail.is_empty() {
                title.to_ascii_lowercase()
            } else {
                detail.to_string()
            },
            errors: None,
        }
    }
}

impl IntoResponse for Problem {
    /// The document as an answer: its status, `Content-Type: application/problem+json`.
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Every error answer is a problem document: an error response that is not JSON (axum's 405
/// for an unknown method, a rejection of one of its extractors, in plain text or empty) gets
/// one here, its status and headers (`Allow`) kept and its text as the detail.
pub async fn problem_for_every_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Problem documents, and JSON a handler chose to answer with (`/readyz`'s 503 report).
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if shaped {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Rejection texts are one short line; a longer body is cut rather than buffered whole.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let problem = Problem::for_status(status, &String::from_utf8_lossy(&text));
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource, or one the caller may not know of.
    #[error("{0}")]
    NotFound(String),
    /// 409: a business rule forbids it in the current state.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names a version the ticket has moved on from.
    #[error("the ticket is at version {current}, not {expected}")]
    PreconditionFailed {
        /// The version the caller expected.
        expected: i64,
        /// The ticket's version now.
        current: i64,
    },
    /// 415: a body that is not JSON where JSON is expected.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 413: the body is over the limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 422: well-formed JSON of the wrong shape or with values out of bounds.
    #[error("{} invalid field(s)", .0.len())]
    Unprocessable(Vec<FieldError>),
    /// 429: the caller exceeded its rate.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a request will be accepted again.
        retry_after_secs: u64,
    },
    /// 503: a dependency is unreachable or the read models have not caught up yet.
    #[error("{detail}")]
    Unavailable {
        /// What is unavailable.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// 500: a bug or an unexpected failure; logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Handlers' result type.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// A 422 naming one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unprocessable(vec![FieldError::new(field, message)])
    }

    /// A 503 asking to retry in a second: what a read asked to wait for is not visible yet.
    pub fn not_visible_yet(detail: String) -> Self {
        Self::Unavailable {
            detail,
            retry_after_secs: 1,
        }
    }

    /// A 404 for a ticket that does not exist or that the caller may not see.
    pub fn ticket_not_found() -> Self {
        Self::NotFound("ticket not found".into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "malformed-json",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::PreconditionFailed { .. } => "version-mismatch",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Unprocessable(_) => "validation",
            Self::TooManyRequests { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            // Internal details stay in the log.
            Self::Internal(_) => "an unexpected error occurred; it has been logged".to_string(),
            Self::Unprocessable(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        Problem {
            kind: format!("https://ticketd.dev/problems/{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Self::Unprocessable(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs }
            | Self::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = self.problem().into_response();
        let headers = response.headers_mut();
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthorized(reason) => Self::Unauthorized(reason),
            AuthError::Unavailable(error) => Self::from(error),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if is_unreachable(&error) {
            tracing::warn!(error = %error, "database unreachable");
            return Self::Unavailable {
                detail: "the database is unreachable; retry shortly".into(),
                retry_after_secs: 2,
            };
        }
        Self::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_error_answered_as_plain_text_becomes_a_problem_document_with_its_headers() {
        let plain = (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET,HEAD")],
            "",
        )
            .into_response();
        let shaped = problem_for_every_error(plain).await;
        assert_eq!(shaped.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(shaped.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(
            shaped.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(shaped.into_body(), 4096)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 405);
        assert_eq!(
            problem["type"],
            "https://ticketd.dev/problems/method-not-allowed"
        );
        assert_eq!(problem["detail"], "method not allowed");
        let ok = problem_for_every_error(StatusCode::OK.into_response()).await;
        assert!(ok.headers().get(header::CONTENT_TYPE).is_none());
        let report = (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "not_ready"})),
        )
            .into_response();
        let kept = problem_for_every_error(report).await;
        assert_eq!(kept.headers()[header::CONTENT_TYPE], "application/json");
    }
}
