//! Operations endpoints at the server root: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 when Postgres answers, migrations are applied and no background task is caught in a
/// crash loop; reports each projector's lag, the state of NATS with the relay's position and
/// lag, and each supervised task's state and restart count (`tasks`).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let migrations =
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&state.pool)
            .await;
    let expected = sqlx::migrate!("./migrations").iter().count() as i64;
    let (status, postgres, migrated) = match migrations {
        Ok(applied) => (
            if applied >= expected {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            "up",
            applied >= expected,
        ),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "down", false),
    };
    // A background task that keeps dying means something the engine promises (positions,
    // read models, pushes) has stopped moving, although every request still answers.
    let crash_looping = state.tasks.crash_looping();
    let status = if crash_looping.is_empty() {
        status
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // NATS is reported, never required: an outage only delays the copies on the stream.
    let nats = match &state.nats {
        Some(nats) => nats.report(&state.pool).await,
        None => crate::relay::NatsReport::disabled(),
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
            "postgres": postgres,
            "migrations_applied": migrated,
            // Each projector's applied position and lag behind the head (informational: a
            // lagging read model still answers, and queries can wait with `min_position`).
            "head_position": state.projections.head(),
            "projections": state.projections.status(),
            "nats": nats,
            "tasks": {
                "crash_looping": crash_looping,
                "items": state.tasks.report(),
            },
        })),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::startup::metrics_handle().render(),
    )
}
