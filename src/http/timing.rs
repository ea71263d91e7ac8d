//! Request latency by route, and the request timeout.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Histogram: HTTP request latency by method, route template and status.
pub const METRIC_REQUEST_DURATION: &str = "ticketd_http_request_duration_seconds";

/// Middleware: records every request's latency under its matched route template
/// (`/api/v1/tickets/{id}`), so that the series stay few whatever ids clients send; requests
/// that match no route share one label.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    metrics::histogram!(
        METRIC_REQUEST_DURATION,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Middleware: answers 503 with `Retry-After` when a request runs longer than the configured
/// timeout (`TICKETD_REQUEST_TIMEOUT_MS`).
///
/// A WebSocket lives on after its upgrade answer and is never cut. A query that waits for the
/// read models (`min_position`, `min_version`) gets that wait's own bound (5 s) on top, so that
/// the timeout never shortens the wait the contract promises.
pub async fn deadline(
    State((limit, read_wait)): State<(Duration, Duration)>,
    req: Request,
    next: Next,
) -> Response {
    if req.headers().contains_key(header::UPGRADE) {
        return next.run(req).await;
    }
    let limit = if waits_for_read_models(req.uri().query()) {
        limit + read_wait
    } else {
        limit
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%method, %path, timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::Unavailable {
                detail: format!(
                    "the request did not complete within {} ms; retry shortly",
                    limit.as_millis()
                ),
                retry_after_secs: 1,
            }
            .into_response()
        }
    }
}

/// Whether the query string asks to wait for the read models.
fn waits_for_read_models(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            name == "min_position" || name == "min_version"
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_model_waits_extend_the_deadline() {
        assert!(waits_for_read_models(Some("min_position=3")));
        assert!(waits_for_read_models(Some("as_of=x&min_version=2")));
        assert!(!waits_for_read_models(Some("limit=3&xmin_position=1")));
        assert!(!waits_for_read_models(None));
    }
}
