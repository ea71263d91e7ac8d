//! The HTTP API: routes, request parsing, problem documents.

pub mod attachments;
pub mod audit;
pub mod bearer;
pub mod body;
pub mod calendar_bodies;
pub mod calendars;
pub mod command_request;
pub mod credentials;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod fields;
pub mod form;
pub mod health;
pub mod intake;
pub mod integrations;
pub mod limiter;
pub mod links;
pub mod login;
pub mod members;
pub mod notification_channels;
pub mod openapi;
pub mod params;
pub mod passwords;
pub mod ratelimit;
pub mod response;
pub mod rule_bodies;
pub mod rules;
pub mod sessions;
pub mod shared_answers;
pub mod sla_policies;
pub mod state;
pub mod tags;
pub mod team_routes;
pub mod ticket_commands;
pub mod ticket_queries;
pub mod timing;
pub mod user_import;
pub mod user_routes;
pub mod webhook_bodies;
pub mod webhooks;
pub mod ws;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Result};
pub use response::{answer, with_position};

pub use state::AppState;

/// The whole application: `/api/v1` plus the operations endpoints at the root.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .merge(ticket_commands::router())
        .merge(tags::router())
        .merge(fields::router())
        .merge(attachments::router())
        .merge(links::router())
        .merge(audit::router())
        .merge(ticket_queries::router())
        .merge(login::router())
        .merge(sessions::router())
        .merge(passwords::router())
        .merge(user_routes::router())
        .merge(team_routes::router())
        .merge(user_import::router())
        .merge(integrations::router())
        .merge(intake::router())
        .merge(webhooks::router())
        .merge(rules::router())
        .merge(notification_channels::router())
        .merge(calendars::router())
        .merge(sla_policies::router())
        .merge(ws::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ));
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(openapi::router())
        .merge(dashboard::router())
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .layer(axum::middleware::map_response(
            error::problem_for_every_error,
        ))
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            (state.settings.request_timeout, state.settings.read_wait),
            timing::deadline,
        ))
        // Outside the timeout, so that a request cut by it is measured with its 503.
        .layer(axum::middleware::from_fn(timing::track))
        .layer(CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
