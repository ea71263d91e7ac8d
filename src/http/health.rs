//! Operations endpoints at the server root: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use ticket_projections::backlog::{backlog, Backlog};
use ticket_projections::runtime::ProjectionStatus;

use super::state::AppState;

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

/// 200 when Postgres answers, migrations are applied, no projector is stalled on an event, no
/// background task is caught in a crash loop and positions are not held back past the limit
/// (each cause of a 503 is named in `reasons`); reports each projector's lag and the state of
/// NATS with the relay's position and lag (both counting events committed but not yet
/// positioned), the position backlog, the stalled projectors with the event and the error, and
/// each supervised task's state and restart count (`tasks`), and each mail channel's state
/// with mail out's backlog (`email`; a failing channel is reported, never a cause of 503).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let migrations =
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&state.pool)
            .await;
    let expected = crate::db::MIGRATOR.iter().count() as i64;
    let (mut status, postgres, migrated) = match migrations {
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
    let positions = Positions::read(&state).await;
    let mut reasons = Vec::new();
    if let Some(reason) = &positions.held {
        status = StatusCode::SERVICE_UNAVAILABLE;
        reasons.push(reason.clone());
    }
    // A projector stuck on one event (CONTRACT 6) stops its read models for every reader:
    // the instance is not ready until it moves again.
    let stalled = state.projections.stalled();
    for stall in &stalled {
        status = StatusCode::SERVICE_UNAVAILABLE;
        reasons.push(format!(
            "projection {} is stalled on event {}: {}",
            stall.projection, stall.event_id, stall.error
        ));
    }
    // A background task that keeps dying means something the engine promises (positions,
    // read models, pushes) has stopped moving, although every request still answers.
    let crash_looping = state.tasks.crash_looping();
    for task in &crash_looping {
        status = StatusCode::SERVICE_UNAVAILABLE;
        reasons.push(format!("background task {task} keeps crashing"));
    }
    // NATS is reported, never required: an outage only delays the copies on the stream.
    let nats = match &state.nats {
        Some(nats) => nats.report(&state.pool, positions.unpositioned()).await,
        None => crate::relay::NatsReport::disabled(),
    };
    // Webhooks are reported, never required: a receiver's outage only grows its backlog.
    let webhooks = json!({
        "leader": state.webhooks.leading(),
        "endpoints": crate::webhooks::store::backlogs(&state.pool).await.ok(),
    });
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
            "reasons": reasons,
            "postgres": postgres,
            "migrations_applied": migrated,
            // Each projector's applied position and lag behind the head (informational: a
            // lagging read model still answers, and queries can wait with `min_position`).
            "head_position": state.projections.head(),
            "projections": positions.projections,
            "positions": positions.body(),
            "nats": nats,
            "email": crate::email::report(&state.email, &state.pool).await,
            "webhooks": webhooks,
            "stalled_projections": stalled,
            "tasks": {
                "crash_looping": crash_looping,
                "items": state.tasks.report(),
            },
        })),
    )
}

/// The position backlog as `/readyz` and `/metrics` report it.
struct Positions {
    backlog: Option<Backlog>,
    limit_seconds: f64,
    /// Why positions count as held back, when they do.
    held: Option<String>,
    /// Each projector's progress, its lag counting unpositioned events.
    projections: Vec<ProjectionStatus>,
}

impl Positions {
    /// Reads the backlog and sets its gauges (and the projectors' lag gauges, which count it).
    async fn read(state: &AppState) -> Self {
        let limit_seconds = state.settings.positions_hold_limit.as_secs_f64();
        let backlog = match backlog(&state.pool).await {
            Ok(backlog) => Some(backlog),
            Err(error) => {
                tracing::warn!(%error, "cannot read the position backlog");
                None
            }
        };
        let held = backlog.as_ref().and_then(|b| b.held_past(limit_seconds));
        let unpositioned = backlog.as_ref().map_or(0, |b| b.unpositioned);
        let mut projections = state.projections.status();
        for projection in &mut projections {
            projection.lag += unpositioned;
            metrics::gauge!("ticketd_projection_lag", "projection" => projection.name)
                .set(projection.lag as f64);
        }
        if let Some(b) = &backlog {
            metrics::gauge!("ticketd_events_unpositioned").set(b.unpositioned as f64);
            metrics::gauge!("ticketd_events_unpositioned_oldest_seconds")
                .set(b.oldest_unpositioned_seconds);
            metrics::gauge!("ticketd_event_writer_oldest_seconds").set(b.oldest_writer_seconds);
            metrics::gauge!("ticketd_positions_held").set(if held.is_some() { 1.0 } else { 0.0 });
            // The oldest holder as two plain gauges (a pid label would leave a stale series
            // behind for every holder there ever was); 0 when nothing holds positions back.
            let holder = b.holders.first();
            metrics::gauge!("ticketd_positions_holder_pid")
                .set(holder.map_or(0.0, |h| f64::from(h.pid)));
            metrics::gauge!("ticketd_positions_holder_age_seconds")
                .set(holder.map_or(0.0, |h| h.age_seconds));
        }
        Self {
            backlog,
            limit_seconds,
            held,
            projections,
        }
    }

    fn unpositioned(&self) -> i64 {
        self.backlog.as_ref().map_or(0, |b| b.unpositioned)
    }

    fn body(&self) -> serde_json::Value {
        match &self.backlog {
            Some(b) => json!({
                "unpositioned": b.unpositioned,
                "oldest_unpositioned_seconds": b.oldest_unpositioned_seconds,
                "oldest_writer_seconds": b.oldest_writer_seconds,
                "held": self.held.is_some(),
                "limit_seconds": self.limit_seconds,
                "sequencer_pid": b.sequencer_pid,
                "holders": b.holders,
            }),
            None => serde_json::Value::Null,
        }
    }
}

/// Prometheus text exposition. The position backlog and the lags that count it are read at
/// each scrape, so that every instance reports them whichever one sequences.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let positions = Positions::read(&state).await;
    if let Some(nats) = &state.nats {
        nats.report(&state.pool, positions.unpositioned()).await;
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::telemetry::metrics_handle().render(),
    )
}
