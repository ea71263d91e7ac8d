//! Queries (CONTRACT 2.5): the read models, with read-your-writes waits (`min_position`,
//! `min_version`) and the applied position in `X-Projection-Position`.
//!
//! Each handler reads its query string field by field, so that a 422 names every invalid or
//! unknown parameter, then asks its read model in `ticket_projections::read_models`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ticket_projections::read_models::board::{self, BoardQuery};
use ticket_projections::read_models::board_groups;
use ticket_projections::read_models::requesters;
use ticket_projections::read_models::stats::{self, StatsQuery};
use ticket_projections::read_models::tickets::{self, Involvement, ListFilter, ListQuery, Sort};
use ticket_projections::read_models::{me, Viewer};
use tokio::time::Instant;
use uuid::Uuid;

use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::params::Params;
use super::response::{answer, with_position};
use super::shared_answers::Scope;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::tags::{Tag, TAG_PATTERN};
use crate::domain::{Channel, Priority, Role, Status};
use crate::{policy, views};

/// The query routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list_tickets))
        .route("/tickets/{id}", get(get_ticket))
        .route("/tickets/{id}/read", post(mark_read))
        .route("/board", get(get_board))
        .route("/me", get(get_me))
        .route("/me/tickets", get(my_tickets))
        .route("/stats", get(get_stats))
        .route("/categories", get(list_categories))
}

/// The read models behind the ticket view, list, board, statistics and per-user queries.
pub(crate) const TICKET_MODELS: &[&str] = &[tickets::NAME];

/// A tag, checked by the rule the command uses.
fn tag(value: &str) -> Result<String, String> {
    Tag::parse(value)
        .map(Tag::into_inner)
        .map_err(|_| format!("tag must match {TAG_PATTERN}"))
}

fn one_of<T: std::str::FromStr<Err: std::fmt::Display>>(value: &str) -> Result<T, String> {
    value.parse::<T>().map_err(|e| e.to_string())
}

/// The list parameters shared by `GET /tickets` and `GET /me/tickets`.
const LIST_PARAMS: [&str; 11] = [
    "status",
    "priority",
    "category",
    "channel",
    "q",
    "sort",
    "limit",
    "cursor",
    "min_position",
    "tag",
    "number",
];

/// Longest `q`.
pub(crate) const Q_MAX: usize = 200;
/// Largest `limit` of a list page.
pub(crate) const LIST_LIMIT_MAX: i64 = 200;
/// Largest `limit_per_column` of the board.
pub(crate) const COLUMN_LIMIT_MAX: i64 = 500;

/// Reads the list parameters into a query (filters other than these are the caller's).
fn list_query(state: &AppState, p: &mut Params) -> ListQuery {
    let filter = ListFilter {
        statuses: p.list_of("status", one_of::<Status>),
        priorities: p.list_of("priority", one_of::<Priority>),
        categories: p.list("category", |c| {
            state.settings.check_category(c).map_err(|e| e.to_string())
        }),
        channels: p.list_of("channel", one_of::<Channel>),
        q: p.parsed("q", |q| {
            if q.chars().count() > Q_MAX {
                Err(format!("q must be at most {Q_MAX} characters"))
            } else {
                Ok(q.to_string())
            }
        }),
        tags: p.list_of("tag", tag),
        number: p.integer("number", 1, i64::MAX),
        ..ListFilter::default()
    };
    let sort = p.parsed("sort", |s| s.parse::<Sort>()).unwrap_or_default();
    let limit = p.integer("limit", 1, LIST_LIMIT_MAX).unwrap_or(50);
    let after = p.parsed("cursor", |c| {
        sort.after(c)
            .map_err(|_| "cursor is not a cursor of this sort order from a previous page".into())
    });
    ListQuery {
        filter,
        sort,
        limit,
        after,
        with_unread: false,
    }
}

/// The family of custom field filters: `field.<key>=value`.
const FIELD_FILTER: &str = "field.";

/// `field.<key>=value` filters as `key=value`; a key that names no field the caller may read
/// fails as unknown (a requester learns nothing of hidden fields, not even by filtering).
async fn field_filters(state: &AppState, caller: &Caller, p: &mut Params) -> Result<Vec<String>> {
    let wanted = p.family(FIELD_FILTER);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let definitions = crate::field_definitions::current_definitions(&state.pool).await?;
    let mut filters = Vec::with_capacity(wanted.len());
    for (key, value) in wanted {
        let readable = definitions
            .get(&key)
            .is_some_and(|d| caller.role != Role::Requester || d.visible_to_requester);
        if readable {
            filters.push(format!("{key}={value}"));
        } else {
            p.fail(&format!("{FIELD_FILTER}{key}"), "is not a defined field");
        }
    }
    Ok(filters)
}

// ---- waiting and answering ----------------------------------------------------------------

pub(crate) fn require_reader_of_everything(caller: &Caller, what: &str) -> Result<()> {
    if policy::reads_every_ticket(caller) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only agents, admins and auditors may read {what}"
        )))
    }
}

/// Waits (until `deadline`) for `models` to apply `min_position`, then answers the position
/// they stand at: the lowest of them, read before the query runs, so that the answer reflects
/// at least that position.
pub(crate) async fn caught_up(
    state: &AppState,
    models: &[&str],
    min_position: Option<i64>,
    deadline: Instant,
) -> Result<i64> {
    if let Some(position) = min_position {
        for model in models {
            let left = deadline.saturating_duration_since(Instant::now());
            if !state
                .projections
                .wait_for(Some(model), position, left)
                .await
            {
                return Err(ApiError::not_visible_yet(format!(
                    "the read models have not caught up with position {position} yet; retry shortly"
                )));
            }
        }
    }
    Ok(models
        .iter()
        .map(|m| state.projections.position_of(m).unwrap_or(0))
        .min()
        .unwrap_or(0))
}

/// Waits (until `deadline`) for the ticket view to show `version` of a ticket. Whether the
/// ticket exists and is the caller's to read is decided first, from the event store, so that a
/// wait never reveals a ticket the caller may not see.
async fn wait_for_version(
    state: &AppState,
    id: Uuid,
    version: i64,
    viewer: Viewer,
    deadline: Instant,
) -> Result<()> {
    match views::requester_of(&state.pool, id).await? {
        Some(requester) if views::may_read(&state.pool, viewer, Some(requester)).await? => {}
        _ => return Err(ApiError::ticket_not_found()),
    }
    loop {
        // The position before the look: any apply after it ends the wait below at once.
        let position = state.projections.position_of(tickets::NAME).unwrap_or(0);
        if tickets::version(&state.pool, id).await?.unwrap_or(0) >= version {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ApiError::not_visible_yet(format!(
                "the read models have not caught up with version {version} of the ticket yet; retry shortly"
            )));
        }
        // Woken by the end of the step that applies past `position`, this instance's or (once
        // this runner hears of it, as its own step finds the checkpoint moved) another's.
        state
            .projections
            .wait_for(Some(tickets::NAME), position + 1, left)
            .await;
    }
}

// ---- handlers -----------------------------------------------------------------------------

/// One ticket, now (from the ticket view) or as it stood at `as_of` (rebuilt from its events).
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "queries",
    params(
        ("id" = Uuid, Path, description = "ticket id"),
        ("min_version" = Option<i64>, Query, description = "wait up to 5 s until the view shows at least this version"),
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read model applied this position"),
        ("as_of" = Option<String>, Query, description = "RFC 3339 instant: the ticket as it stood then"),
    ),
    responses(
        (status = 200, description = "the ticket view (CONTRACT 2.5), with team {id, name} | null: the team it is given to", body = Object,
            headers(("X-Projection-Position" = i64), ("ETag" = String))),
        (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn get_ticket(
    State(state): State<AppState>,
    caller: Caller,
    id: TicketId,
    uri: Uri,
) -> Result<Response> {
    let id = id.id()?;
    let mut p = Params::new(&uri, &["min_version", "min_position", "as_of"])?;
    let min_version = p.integer("min_version", 1, i64::MAX);
    let min_position = p.min_position();
    let as_of = p.time("as_of");
    p.finish()?;
    let viewer = policy::viewer(&caller);
    let deadline = Instant::now() + state.settings.read_wait;
    if let Some(at) = as_of {
        // Rebuilt from the event store, which the read models only follow.
        let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
        let mut view = views::ticket_as_of(&state.pool, id, at, viewer)
            .await?
            .ok_or_else(ApiError::ticket_not_found)?;
        // The state folded at `as_of`, its clocks as the live answer computes them (the
        // configuration in force): so a view as of now is the live view, next response
        // included.
        let services = state.commands.services().await;
        let then = at.as_datetime().min(chrono::Utc::now());
        crate::sla_clocks::fill(&mut view, &services, then);
        return Ok(answer(position, view));
    }
    if let Some(version) = min_version {
        wait_for_version(&state, id, version, viewer, deadline).await?;
    }
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let mut view = tickets::get(&state.pool, id, viewer)
        .await?
        .ok_or_else(ApiError::ticket_not_found)?;
    // Due times by the policy and calendars in force, not those of the last recomputing event.
    let services = state.commands.services().await;
    crate::sla_clocks::fill(&mut view, &services, chrono::Utc::now());
    let etag = HeaderValue::from_str(&format!("\"{}\"", view.version));
    let mut response = answer(position, view);
    if let Ok(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The tickets the caller may see, filtered, sorted and paged by cursor. `field.<key>=value`
/// (any number of them) keeps the tickets whose custom field `<key>` holds `value` (text, a
/// select option, a date, a user id, or a number as JSON writes it).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "queries",
    params(
        ("status" = Option<String>, Query, description = "open, in_progress, pending, closed (comma-separated for several)"),
        ("priority" = Option<String>, Query, description = "low, medium, high, urgent (comma-separated)"),
        ("category" = Option<String>, Query, description = "configured categories (comma-separated)"),
        ("channel" = Option<String>, Query, description = "web, email, chat, api, phone (comma-separated)"),
        ("assignee_id" = Option<Uuid>, Query, description = "assigned to this user"),
        ("team_id" = Option<Uuid>, Query, description = "given to this team"),
        ("requester_id" = Option<Uuid>, Query, description = "requested by this user"),
        ("q" = Option<String>, Query, description = "text in the title or description"),
        ("tag" = Option<String>, Query, description = "tickets carrying every one of these tags (comma-separated; each of a-z, 0-9, _ and -, 1 to 40)"),
        ("number" = Option<i64>, Query, description = "the ticket with this short number"),
        ("sort" = Option<String>, Query, description = "created_at, -created_at (default), updated_at, -updated_at, priority, -priority, number"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read model applied this position"),
    ),
    responses(
        (status = 200, description = "{items, next_cursor}; each item with team {id, name} | null", body = Object,
            headers(("X-Projection-Position" = i64))),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn list_tickets(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response> {
    let mut allowed = LIST_PARAMS.to_vec();
    allowed.extend(["assignee_id", "team_id", "requester_id"]);
    allowed.push(FIELD_FILTER);
    let mut p = Params::new(&uri, &allowed)?;
    let mut query = list_query(&state, &mut p);
    query.filter.assignee_id = p.uuid("assignee_id");
    query.filter.team_id = p.uuid("team_id");
    query.filter.requester_id = p.uuid("requester_id");
    query.filter.field_values = field_filters(&state, &caller, &mut p).await?;
    let min_position = p.min_position();
    p.finish()?;
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let mut page = tickets::list(&state.pool, &query, policy::viewer(&caller)).await?;
    let services = state.commands.services().await;
    crate::sla_clocks::fill_page(&mut page, &services, chrono::Utc::now());
    Ok(answer(position, page))
}

/// The Kanban board: one column per status, urgent first, then oldest first.
#[utoipa::path(get, path = "/api/v1/board", tag = "queries",
    params(
        ("assignee_id" = Option<Uuid>, Query, description = "assigned to this user"),
        ("team_id" = Option<Uuid>, Query, description = "given to this team"),
        ("category" = Option<String>, Query, description = "one configured category"),
        ("tag" = Option<String>, Query, description = "only tickets carrying this tag", pattern = "^[a-z0-9_-]{1,40}$"),
        ("limit_per_column" = Option<i64>, Query, description = "1 to 500, default 50"),
        ("group_by" = Option<String>, Query, description = "field.<key> of a select field: adds group_by {by, groups: [{value, columns}]} beside the columns, the same columns under the same filters once per option in the definition's order, then once per value no longer an option, then once (value null) for tickets without a value"),
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read model applied this position"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag of an answer already held: 304 while it is still the answer"),
    ),
    responses(
        (status = 200, description = "{columns: [{status, count, cards}]}, and with group_by, group_by {by, groups: [{value, columns}]}", body = Object,
            headers(("X-Projection-Position" = i64), ("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "the answer is the one named in If-None-Match",
            headers(("X-Projection-Position" = i64), ("ETag" = String), ("Cache-Control" = String))),
        (status = 403), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn get_board(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response> {
    require_reader_of_everything(&caller, "the board")?;
    let mut p = Params::new(
        &uri,
        &[
            "assignee_id",
            "team_id",
            "category",
            "limit_per_column",
            "min_position",
            "tag",
            "group_by",
        ],
    )?;
    let group_by = match p.one("group_by") {
        Some(by) => select_field(&state, &by).await?.or_else(|| {
            p.fail(
                "group_by",
                "must be field.<key> of a select field (see GET /fields)",
            );
            None
        }),
        None => None,
    };
    let assignee_id = p.uuid("assignee_id");
    let team_id = p.uuid("team_id");
    let tag = p.parsed("tag", tag);
    let category = p.parsed("category", |c| {
        state
            .settings
            .check_category(c)
            .map(|()| c.to_string())
            .map_err(|e| e.to_string())
    });
    let limit_per_column = p
        .integer("limit_per_column", 1, COLUMN_LIMIT_MAX)
        .unwrap_or(50);
    let min_position = p.min_position();
    p.finish()?;
    let query = BoardQuery {
        statuses: Status::ALL.to_vec(),
        assignee_id,
        team_id,
        category,
        tag,
        limit_per_column,
    };
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let viewer = policy::viewer(&caller);
    let question = format!(
        "{:?} {:?} {:?} {:?} {} {:?}",
        query.assignee_id,
        query.team_id,
        query.category,
        query.tag,
        query.limit_per_column,
        group_by
    );
    let compute = || async {
        Ok(match &group_by {
            Some((key, options)) => {
                let (board, groups) =
                    board_groups::grouped_board(&state.pool, &query, viewer, key, options).await?;
                BoardAnswer {
                    board,
                    group_by: Some(groups),
                }
            }
            None => BoardAnswer {
                board: board::board(&state.pool, &query, viewer).await?,
                group_by: None,
            },
        })
    };
    state
        .answers
        .answer(
            "board",
            question,
            Scope::from(viewer),
            position,
            &headers,
            compute,
        )
        .await
}

/// The caller's tickets by status, and how many are unread.
#[utoipa::path(get, path = "/api/v1/me", tag = "queries",
    params(("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read models applied this position")),
    responses(
        (status = 200, description = "{requested, assigned, unread}", body = Object,
            headers(("X-Projection-Position" = i64))),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn get_me(State(state): State<AppState>, caller: Caller, uri: Uri) -> Result<Response> {
    let mut p = Params::new(&uri, &["min_position"])?;
    let min_position = p.min_position();
    p.finish()?;
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let summary = me::summary(&state.pool, policy::viewer(&caller)).await?;
    Ok(answer(position, summary))
}

/// The tickets the caller requested or is assigned to, each saying whether it is unread.
#[utoipa::path(get, path = "/api/v1/me/tickets", tag = "queries",
    params(
        ("role" = Option<String>, Query, description = "requested or assigned (default: both)"),
        ("unread" = Option<bool>, Query, description = "only unread (true) or read (false) tickets"),
        ("status" = Option<String>, Query, description = "open, in_progress, pending, closed (comma-separated)"),
        ("priority" = Option<String>, Query, description = "comma-separated"),
        ("category" = Option<String>, Query, description = "comma-separated"),
        ("channel" = Option<String>, Query, description = "comma-separated"),
        ("q" = Option<String>, Query, description = "text in the title or description"),
        ("tag" = Option<String>, Query, description = "tickets carrying every one of these tags (comma-separated; each of a-z, 0-9, _ and -, 1 to 40)"),
        ("number" = Option<i64>, Query, description = "the ticket with this short number"),
        ("sort" = Option<String>, Query, description = "as for GET /tickets"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read models applied this position"),
    ),
    responses(
        (status = 200, description = "{items (each with unread and team {id, name} | null), next_cursor}", body = Object,
            headers(("X-Projection-Position" = i64))),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn my_tickets(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response> {
    let mut allowed = LIST_PARAMS.to_vec();
    allowed.extend(["role", "unread"]);
    let mut p = Params::new(&uri, &allowed)?;
    let mut query = list_query(&state, &mut p);
    query.filter.involving = Some(
        p.parsed("role", |r| match r {
            "requested" => Ok(Involvement::Requested),
            "assigned" => Ok(Involvement::Assigned),
            _ => Err("role must be requested or assigned".to_string()),
        })
        .unwrap_or(Involvement::Either),
    );
    query.filter.unread = p.boolean("unread");
    query.with_unread = true;
    let min_position = p.min_position();
    p.finish()?;
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let mut page = tickets::list(&state.pool, &query, policy::viewer(&caller)).await?;
    let services = state.commands.services().await;
    crate::sla_clocks::fill_page(&mut page, &services, chrono::Utc::now());
    Ok(answer(position, page))
}

/// Marks a ticket read for the caller, up to the latest event the ticket view shows.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/read", tag = "queries",
    params(
        ("id" = Uuid, Path, description = "ticket id"),
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read models applied this position"),
    ),
    responses(
        (status = 204, description = "marked read", headers(("X-Projection-Position" = i64))),
        (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    id: TicketId,
    uri: Uri,
) -> Result<Response> {
    let id = id.id()?;
    let mut p = Params::new(&uri, &["min_position"])?;
    let min_position = p.min_position();
    p.finish()?;
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    if !me::mark_read(&state.pool, id, policy::viewer(&caller)).await? {
        return Err(ApiError::ticket_not_found());
    }
    Ok(with_position(
        position,
        StatusCode::NO_CONTENT.into_response(),
    ))
}

/// Statistics over the tickets created in `[from, to)`.
#[utoipa::path(get, path = "/api/v1/stats", tag = "queries",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive (default: all time)"),
        ("to" = Option<String>, Query, description = "RFC 3339, exclusive (default: all time)"),
        ("tag" = Option<String>, Query, description = "only tickets carrying this tag (the requester and channel figures stay over every ticket)", pattern = "^[a-z0-9_-]{1,40}$"),
        ("group_by" = Option<String>, Query, description = "field.<key> of a select field: adds group_by {by, groups: [{value, total, by_status}]}, one group per option then one (value null) for tickets without a value"),
        ("min_position" = Option<i64>, Query, description = "wait up to 5 s until the read model applied this position"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag of an answer already held: 304 while it is still the answer"),
    ),
    responses(
        (status = 200, description = "{tickets, first_response, resolution, sla, ratings, agents, teams: [{id, name, open, closed, avg_resolution_seconds, avg_rating}] (every team, zero included, by name)} as below, with channels, requesters and (with group_by) group_by beside; durations in wall-clock and business seconds (the ticket's calendar, pauses left out); percentiles within 1 % of the exact ones",
            body = ticket_projections::read_models::stats::Stats, headers(("X-Projection-Position" = i64), ("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "the answer is the one named in If-None-Match",
            headers(("X-Projection-Position" = i64), ("ETag" = String), ("Cache-Control" = String))),
        (status = 403), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn get_stats(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response> {
    require_reader_of_everything(&caller, "statistics")?;
    let mut p = Params::new(&uri, &["from", "to", "min_position", "tag", "group_by"])?;
    let tag = p.parsed("tag", tag);
    let group_by = match p.one("group_by") {
        Some(by) => select_field(&state, &by).await?.or_else(|| {
            p.fail(
                "group_by",
                "must be field.<key> of a select field (see GET /fields)",
            );
            None
        }),
        None => None,
    };
    let from = p.time("from");
    let to = p.time("to");
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            p.fail("to", "to must not be before from");
        }
    }
    let min_position = p.min_position();
    p.finish()?;
    let names = |all: &[&str]| all.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let query = StatsQuery {
        from: from.map(|t| t.as_datetime()),
        to: to.map(|t| t.as_datetime()),
        statuses: names(&Status::ALL.map(|s| s.as_str())),
        priorities: names(&Priority::ALL.map(|p| p.as_str())),
        categories: state.settings.categories.clone(),
        channels: names(&Channel::ALL.map(|c| c.as_str())),
        tag,
    };
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let question = format!(
        "{:?} {:?} {:?} {:?}",
        query.from, query.to, query.tag, group_by
    );
    let scope = Scope::from(policy::viewer(&caller));
    let compute = || async {
        let (stats, people) = stats::stats(&state.pool, &query).await?;
        let group_by = match &group_by {
            Some((key, options)) => {
                Some(stats::field_groups(&state.pool, &query, key, options).await?)
            }
            None => None,
        };
        Ok(StatsAnswer {
            stats,
            people,
            group_by,
        })
    };
    state
        .answers
        .answer("stats", question, scope, position, &headers, compute)
        .await
}

/// `GET /board`: the columns and, with `group_by`, the same columns per value beside them.
#[derive(serde::Serialize)]
struct BoardAnswer {
    #[serde(flatten)]
    board: board::Board,
    /// With `group_by=field.<key>` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    group_by: Option<board_groups::BoardGroups>,
}

/// `GET /stats`: the ticket statistics and, beside them, the channel and requester ones.
#[derive(serde::Serialize)]
struct StatsAnswer {
    #[serde(flatten)]
    stats: stats::Stats,
    #[serde(flatten)]
    people: requesters::PeopleStats,
    /// With `group_by=field.<key>` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    group_by: Option<stats::FieldGroups>,
}

/// The key and options of the `select` field `field.<key>` names, if it does.
async fn select_field(state: &AppState, by: &str) -> Result<Option<(String, Vec<String>)>> {
    let Some(key) = by.strip_prefix(FIELD_FILTER) else {
        return Ok(None);
    };
    let definitions = crate::field_definitions::current_definitions(&state.pool).await?;
    Ok(definitions
        .get(key)
        .filter(|d| d.kind == crate::domain::fields::FieldType::Select)
        .map(|d| (d.key.clone(), d.options.clone())))
}

/// The configured categories (`TICKETD_CATEGORIES`), in their configured order, so that clients
/// such as the web app offer exactly the ones the commands accept.
#[utoipa::path(get, path = "/api/v1/categories", tag = "queries",
    responses((status = 200, description = "{items: [category]}", body = Object)),
    security(("bearer" = [])))]
pub async fn list_categories(
    State(state): State<AppState>,
    _caller: Caller,
    uri: Uri,
) -> Result<Response> {
    // Unknown parameters are refused as on every other query, rather than silently ignored.
    Params::new(&uri, &[])?.finish()?;
    Ok(axum::Json(serde_json::json!({ "items": state.settings.categories })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str, allowed: &[&str]) -> Params {
        let uri: Uri = format!("/x?{query}").parse().unwrap();
        Params::new(&uri, allowed).unwrap()
    }

    fn fields(p: Params) -> Vec<String> {
        match p.finish() {
            Err(ApiError::Unprocessable(errors)) => errors.into_iter().map(|e| e.field).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn unknown_parameters_are_each_named_once() {
        let p = params("limit=5&bogus=1&bogus=2&other=", &["limit"]);
        assert_eq!(fields(p), ["bogus", "other"]);
    }

    #[test]
    fn lists_split_on_commas_and_repeat_and_check_each_value() {
        let mut p = params(
            "status=open,closed&status=in_progress&status=nope",
            &["status"],
        );
        let statuses = p.list_of("status", one_of::<Status>);
        assert_eq!(statuses, ["open", "closed", "in_progress"]);
        assert_eq!(fields(p), ["status"]);
    }

    #[test]
    fn scalars_are_bounded_and_given_once() {
        let allowed = ["limit", "min_position", "unread", "q", "as_of"];
        let mut p = params(
            "limit=0&min_position=-1&unread=yes&q=a&q=b&as_of=yesterday",
            &allowed,
        );
        assert_eq!(p.integer("limit", 1, 200), None);
        assert_eq!(p.min_position(), None);
        assert_eq!(p.boolean("unread"), None);
        assert_eq!(p.one("q"), None);
        assert_eq!(p.time("as_of"), None);
        assert_eq!(fields(p), ["limit", "min_position", "unread", "q", "as_of"]);
        let mut p = params(
            "limit=200&unread=false&q=%20&as_of=2026-11-23T10:00:00%2B01:00",
            &allowed,
        );
        assert_eq!(p.integer("limit", 1, 200), Some(200));
        assert_eq!(p.boolean("unread"), Some(false));
        assert_eq!(p.one("q"), None, "blank is absent");
        assert_eq!(
            p.time("as_of").map(|t| t.to_string()).as_deref(),
            Some("2026-11-23T09:00:00.000Z")
        );
        assert!(fields(p).is_empty());
    }
}
