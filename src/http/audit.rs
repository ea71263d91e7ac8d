//! Audit queries straight from the event store (CONTRACT 2.5): a ticket's history, its hash-chain
//! verification, and the global event feed.
//!
//! These read the `events` table, not a read model, so their `X-Projection-Position` is the
//! store's head position: everything up to it is visible to them.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use sqlx::PgPool;
use ticket_nats::{Envelope, FieldEvent, TicketEvent, UserEvent};
use ticket_projections::stored::{head_position, read_envelopes_after, read_ticket_rows, RawEvent};
use ticket_projections::verify::verify_chain;
use tokio::time::Instant;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::params::Params;
use super::response::answer;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::Role;
use crate::{policy, views};

/// `limit` of `GET /events` when not given.
pub const DEFAULT_PAGE: i64 = 100;
/// Largest `limit` of `GET /events`.
pub const MAX_PAGE: i64 = 1000;

/// The audit routes (under `/api/v1`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}/history", get(history))
        .route("/tickets/{id}/verify", get(verify))
        .route("/events", get(events))
}

/// `GET /tickets/{id}/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Its positioned events in sequence order (CloudEvents envelopes, CONTRACT 4).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Envelope>,
}

/// `GET /tickets/{id}/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// The ticket.
    pub ticket_id: Uuid,
    /// How many stored events were checked.
    pub events: usize,
    /// Whether the hash chain holds.
    pub valid: bool,
    /// The first sequence where the chain breaks; null when valid.
    pub first_invalid_sequence: Option<i64>,
    /// The stored hash of the ticket's last event.
    pub head_hash: Option<String>,
}

/// `GET /events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Events in position order.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Envelope>,
    /// Pass as `after` for the next page: the last position returned, or `after` when empty.
    pub next_after: i64,
}

/// Waits for the store's head to reach `min_position`, if asked.
async fn wait_min_position(state: &AppState, min_position: Option<i64>) -> Result<()> {
    match min_position {
        Some(position)
            if !state
                .projections
                .wait_for_head(position, state.settings.read_wait)
                .await =>
        {
            Err(ApiError::not_visible_yet(format!(
                "position {position} is not visible yet; retry shortly"
            )))
        }
        _ => Ok(()),
    }
}

/// Answers `body` with `X-Projection-Position` = the store's head.
async fn with_head(pool: &PgPool, body: impl Serialize) -> Result<Response> {
    Ok(answer(head_position(pool).await?, body))
}

fn auditor_or_admin(caller: &Caller, what: &str) -> Result<()> {
    if matches!(caller.role, Role::Auditor | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only auditors and admins may {what}"
        )))
    }
}

/// The requester named by a ticket's `ticket.created` event.
fn requester_of(rows: &[RawEvent]) -> Option<&str> {
    rows.first()
        .filter(|r| r.sequence == 1 && r.event_type == "ticket.created")
        .and_then(|r| r.payload.get("requester"))
        .and_then(|r| r.get("id"))
        .and_then(|id| id.as_str())
}

/// How many of the ticket's first events are positioned (the prefix consumers may see).
fn positioned_prefix(rows: &[RawEvent]) -> usize {
    rows.iter()
        .enumerate()
        .take_while(|(i, r)| r.position.is_some() && r.sequence == *i as i64 + 1)
        .count()
}

/// A ticket's events, each envelope as stored, in sequence order.
///
/// Shows events once they have their position. `min_version` waits (up to 5 s) until the events
/// up to that version are positioned. Requesters see only their own tickets, without internal
/// comments.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/history", tag = "audit",
    params(
        ("id" = Uuid, Path, description = "ticket id"),
        ("min_version" = Option<i64>, Query, description = "wait until the ticket's events up to this version are visible"),
        ("min_position" = Option<i64>, Query, description = "wait until the store has sequenced this position"),
    ),
    responses(
        (status = 200, body = History, headers(("X-Projection-Position" = i64, description = "the store's head position"))),
        (status = 404, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
        (status = 503, body = super::error::Problem),
    ),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    id: TicketId,
    uri: Uri,
) -> Result<Response> {
    let id = id.id()?;
    let mut p = Params::new(&uri, &["min_version", "min_position"])?;
    let min_version = p.integer("min_version", 0, i64::MAX);
    let min_position = p.min_position();
    p.finish()?;

    let mut rows = read_ticket_rows(&state.pool, id).await?;
    if rows.is_empty() {
        return Err(ApiError::ticket_not_found());
    }
    // Checked before any waiting, so that waiting reveals nothing about others' tickets.
    let viewer = policy::viewer(&caller);
    let requester = requester_of(&rows).and_then(|id| Uuid::parse_str(id).ok());
    if !views::may_read(&state.pool, viewer, requester).await? {
        return Err(ApiError::ticket_not_found());
    }
    if let Some(version) = min_version {
        let deadline = Instant::now() + state.settings.read_wait;
        let mut head = state.projections.subscribe_head();
        while (positioned_prefix(&rows) as i64) < version {
            // Seen before the look: a head that moves after it ends the wait below at once.
            head.borrow_and_update();
            rows = read_ticket_rows(&state.pool, id).await?;
            if positioned_prefix(&rows) as i64 >= version {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ApiError::not_visible_yet(format!(
                    "version {version} of the ticket is not visible yet; retry shortly"
                )));
            }
            // Woken by the sequencer's batch (in-process, or its notification from another
            // instance); the runner's own poll covers a notification lost on a reconnect.
            if tokio::time::timeout(left, head.changed())
                .await
                .is_ok_and(|changed| changed.is_err())
            {
                return Err(ApiError::not_visible_yet(
                    "the engine is stopping; retry shortly".to_string(),
                ));
            }
        }
    }
    wait_min_position(&state, min_position).await?;

    let visible = positioned_prefix(&rows);
    // A requester's history leaves out the custom fields hidden from requesters.
    let shown_fields: Option<Vec<String>> = match viewer.only_requester() {
        Some(_) => Some(
            crate::field_definitions::current_definitions(&state.pool)
                .await?
                .into_values()
                .filter(|d| d.visible_to_requester)
                .map(|d| d.key)
                .collect(),
        ),
        None => None,
    };
    let mut events = Vec::with_capacity(visible);
    for row in &rows[..visible] {
        let envelope = row.envelope().map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context(format!(
                "stored event {}:{} cannot be read",
                row.aggregate_id, row.sequence
            )))
        })?;
        if !policy::may_read_event(viewer, &envelope) {
            continue;
        }
        let envelope = match &shown_fields {
            Some(shown) => {
                match policy::without_hidden_fields(&envelope, |k| shown.iter().any(|s| s == k)) {
                    Some(shown) => shown.into_owned(),
                    None => continue,
                }
            }
            None => envelope,
        };
        events.push(envelope);
    }
    with_head(
        &state.pool,
        History {
            ticket_id: id,
            events,
        },
    )
    .await
}

/// Recomputes a ticket's hash chain and says whether any stored event was altered, removed or
/// reordered (auditors and admins).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/verify", tag = "audit",
    params(
        ("id" = Uuid, Path, description = "ticket id"),
        ("min_position" = Option<i64>, Query, description = "wait until the store has sequenced this position"),
    ),
    responses(
        (status = 200, body = Verification, headers(("X-Projection-Position" = i64, description = "the store's head position"))),
        (status = 403, body = super::error::Problem),
        (status = 404, body = super::error::Problem),
    ),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    id: TicketId,
    uri: Uri,
) -> Result<Response> {
    auditor_or_admin(&caller, "verify tickets")?;
    let id = id.id()?;
    let mut p = Params::new(&uri, &["min_position"])?;
    let min_position = p.min_position();
    p.finish()?;
    wait_min_position(&state, min_position).await?;
    let rows = read_ticket_rows(&state.pool, id).await?;
    if rows.is_empty() {
        return Err(ApiError::ticket_not_found());
    }
    let report = verify_chain(&id.to_string(), &rows);
    with_head(
        &state.pool,
        Verification {
            ticket_id: id,
            events: report.events,
            valid: report.valid,
            first_invalid_sequence: report.first_invalid_sequence,
            head_hash: report.head_hash,
        },
    )
    .await
}

/// The global event feed in position order (auditors and admins). Paging with `next_after`
/// sees every committed event exactly once, even while writers run.
#[utoipa::path(get, path = "/api/v1/events", tag = "audit",
    params(
        ("after" = Option<i64>, Query, description = "return events after this position (default 0)"),
        ("limit" = Option<i64>, Query, description = "1 to 1000 (default 100)"),
        ("type" = Option<String>, Query, description = "only these event types (repeat or separate with commas)"),
        ("min_position" = Option<i64>, Query, description = "wait until the store has sequenced this position"),
    ),
    responses(
        (status = 200, body = EventPage, headers(("X-Projection-Position" = i64, description = "the store's head position"))),
        (status = 403, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
    ),
    security(("bearer" = [])))]
pub async fn events(State(state): State<AppState>, caller: Caller, uri: Uri) -> Result<Response> {
    auditor_or_admin(&caller, "read the event feed")?;
    let mut p = Params::new(&uri, &["after", "limit", "type", "min_position"])?;
    let after = p.integer("after", 0, i64::MAX).unwrap_or(0);
    let limit = p.integer("limit", 1, MAX_PAGE).unwrap_or(DEFAULT_PAGE);
    let min_position = p.min_position();
    let types = p.list("type", |t| {
        if TicketEvent::TYPES.contains(&t)
            || UserEvent::TYPES.contains(&t)
            || FieldEvent::TYPES.contains(&t)
        {
            Ok(())
        } else {
            Err(format!(
                "type must be one of {}, {}, {}",
                TicketEvent::TYPES.join(", "),
                UserEvent::TYPES.join(", "),
                FieldEvent::TYPES.join(", ")
            ))
        }
    });
    p.finish()?;
    wait_min_position(&state, min_position).await?;
    let filter = (!types.is_empty()).then_some(types.as_slice());
    let events = read_envelopes_after(&state.pool, after, limit, filter).await?;
    let next_after = events.last().map_or(after, |e| e.position);
    with_head(&state.pool, EventPage { events, next_after }).await
}
