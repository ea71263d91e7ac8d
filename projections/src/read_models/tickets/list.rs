//! `GET /tickets` and `GET /me/tickets`: filtered, sorted, keyset-paginated lists (and the
//! filters and columns the board shares).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use ticket_nats::{Channel, Priority, Status};
use uuid::Uuid;

use super::dto::*;
use super::search::{self, push_search, Scan};
use crate::read_models::me;
use crate::read_models::query::{MergedInto, Viewer};

mod sort;
use sort::RowKey;
pub use sort::{After, Sort};

/// Which of the viewer's tickets `GET /me/tickets` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Involvement {
    /// Tickets they requested.
    Requested,
    /// Tickets assigned to them.
    Assigned,
    /// Both.
    Either,
}

/// Filters of the list; empty lists and `None` filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Any of these statuses.
    pub statuses: Vec<Status>,
    /// Any of these priorities.
    pub priorities: Vec<Priority>,
    /// Any of these categories.
    pub categories: Vec<String>,
    /// Any of these channels.
    pub channels: Vec<Channel>,
    /// Assigned to this user.
    pub assignee_id: Option<Uuid>,
    /// Given to this team.
    pub team_id: Option<Uuid>,
    /// Requested by this user.
    pub requester_id: Option<Uuid>,
    /// Title or description contains this text (case-insensitive).
    pub q: Option<String>,
    /// Only tickets the viewer requested or is assigned to.
    pub involving: Option<Involvement>,
    /// Only tickets unread (`true`) or read (`false`) by the viewer.
    pub unread: Option<bool>,
    /// Only tickets carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only the ticket with this short number (the web app finds a ticket to link by it).
    pub number: Option<i64>,
    /// Only tickets whose custom fields hold every one of these, each `key=value` (see
    /// `filter_text`).
    pub field_values: Vec<String>,
}

/// `GET /tickets` and `GET /me/tickets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// What to list.
    pub filter: ListFilter,
    /// In which order.
    pub sort: Sort,
    /// Page size (the caller checks the bounds).
    pub limit: i64,
    /// Where the page starts (from [`Sort::after`] of the same sort).
    pub after: Option<After>,
    /// Say for each item whether the viewer has read it.
    pub with_unread: bool,
}

/// The columns of a list item, of a board card and of a sort key.
pub(crate) const LIST_COLUMNS: &str = "v.ticket_id, v.number, v.title, v.status, v.priority, \
     v.priority_rank, v.category, v.channel, v.requester_id, v.requester_name, v.assignee_id, \
     v.assignee_name, v.created_at, v.updated_at, v.first_response_at, v.closed_at, \
     v.first_response_due, v.resolution_due, v.first_response_breach_recorded, \
     v.resolution_breach_recorded, v.pending_since, v.paused_seconds, v.tags, v.team_id, \
     v.team_name, v.pauses, v.pending_until, v.next_response_since, \
     v.first_response_warning_recorded, v.resolution_warning_recorded, \
     v.next_response_warning_recorded, v.next_response_breach_recorded";

/// A row of [`LIST_COLUMNS`] (plus `unread` when asked for).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ListRow {
    pub(crate) ticket_id: Uuid,
    pub(crate) number: i64,
    pub(crate) title: String,
    #[sqlx(try_from = "String")]
    pub(crate) status: Status,
    #[sqlx(try_from = "String")]
    pub(crate) priority: Priority,
    pub(crate) priority_rank: i16,
    pub(crate) category: String,
    #[sqlx(try_from = "String")]
    pub(crate) channel: Channel,
    pub(crate) requester_id: Uuid,
    pub(crate) requester_name: String,
    pub(crate) assignee_id: Option<Uuid>,
    pub(crate) assignee_name: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) first_response_at: Option<DateTime<Utc>>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
    pub(crate) first_response_due: DateTime<Utc>,
    pub(crate) resolution_due: DateTime<Utc>,
    pub(crate) first_response_breach_recorded: bool,
    pub(crate) resolution_breach_recorded: bool,
    pub(crate) pending_since: Option<DateTime<Utc>>,
    pub(crate) paused_seconds: i64,
    pub(crate) tags: Vec<String>,
    pub(crate) team_id: Option<Uuid>,
    pub(crate) team_name: Option<String>,
    pub(crate) pauses: sqlx::types::Json<Vec<[DateTime<Utc>; 2]>>,
    pub(crate) pending_until: Option<DateTime<Utc>>,
    pub(crate) next_response_since: Option<DateTime<Utc>>,
    pub(crate) first_response_warning_recorded: bool,
    pub(crate) resolution_warning_recorded: bool,
    pub(crate) next_response_warning_recorded: bool,
    pub(crate) next_response_breach_recorded: bool,
    #[sqlx(default)]
    pub(crate) unread: Option<bool>,
}

impl ListRow {
    pub(crate) fn sla(&self, now: DateTime<Utc>) -> Sla {
        self.sla_facts().at(now)
    }

    fn sla_facts(&self) -> SlaFacts {
        SlaFacts {
            first_response_due: self.first_response_due,
            resolution_due: self.resolution_due,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            first_response_breach_recorded: self.first_response_breach_recorded,
            resolution_breach_recorded: self.resolution_breach_recorded,
            pending_since: self.pending_since,
            paused_seconds: self.paused_seconds,
        }
    }

    /// What the engine computes the SLA clocks from (see [`SlaClockFacts`]).
    fn clock_facts(&self) -> SlaClockFacts {
        SlaClockFacts {
            facts: self.sla_facts(),
            priority: self.priority,
            created_at: self.created_at,
            pauses: self.pauses.0.clone(),
            pending_until: self.pending_until,
            next_response_since: self.next_response_since,
            next_response_breach_recorded: self.next_response_breach_recorded,
            first_response_warning_recorded: self.first_response_warning_recorded,
            resolution_warning_recorded: self.resolution_warning_recorded,
            next_response_warning_recorded: self.next_response_warning_recorded,
        }
    }

    fn key(&self) -> RowKey {
        RowKey {
            created_at: self.created_at,
            updated_at: self.updated_at,
            priority_rank: self.priority_rank,
            number: self.number,
            ticket_id: self.ticket_id,
        }
    }

    pub(crate) fn requester(&self) -> Person {
        Person {
            id: self.requester_id,
            name: self.requester_name.clone(),
        }
    }

    pub(crate) fn assignee(&self) -> Option<Person> {
        person(self.assignee_id, self.assignee_name.clone())
    }

    fn into_item(self, now: DateTime<Utc>) -> TicketListItem {
        TicketListItem {
            sla: self.sla(now),
            clock: Some(self.clock_facts()),
            requester: self.requester(),
            assignee: self.assignee(),
            team: team(self.team_id, self.team_name),
            id: self.ticket_id,
            number: self.number,
            title: self.title,
            status: self.status,
            priority: self.priority,
            category: self.category,
            channel: self.channel,
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
            tags: self.tags,
            unread: self.unread,
        }
    }
}

/// Appends ` AND …` for every filter, and restricts requesters to their own tickets; the
/// people named as requesters through `merged` where it read them.
pub(crate) fn push_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    f: &ListFilter,
    viewer: Viewer,
    merged: &MergedInto,
) {
    if let Some(requester) = viewer.only_requester() {
        qb.push(" AND ");
        merged.push_requested_by(qb, requester);
    }
    fn names<T: ToString>(values: &[T]) -> Vec<String> {
        values.iter().map(T::to_string).collect()
    }
    for (column, values) in [
        ("v.status", names(&f.statuses)),
        ("v.priority", names(&f.priorities)),
        ("v.category", f.categories.clone()),
        ("v.channel", names(&f.channels)),
    ] {
        match values.as_slice() {
            [] => {}
            // `= ANY` of one value would hide the equality from the planner, which then cannot
            // read the `(column, created_at, ticket_id)` index in the order of the page.
            [value] => {
                qb.push(" AND ")
                    .push(column)
                    .push(" = ")
                    .push_bind(value.clone());
            }
            _ => {
                qb.push(" AND ")
                    .push(column)
                    .push(" = ANY(")
                    .push_bind(values.clone())
                    .push(")");
            }
        }
    }
    if let Some(id) = f.assignee_id {
        qb.push(" AND v.assignee_id = ").push_bind(id);
    }
    if let Some(id) = f.team_id {
        qb.push(" AND v.team_id = ").push_bind(id);
    }
    if let Some(id) = f.requester_id {
        qb.push(" AND ");
        merged.push_requested_by(qb, id);
    }
    if let Some(q) = &f.q {
        qb.push(" AND v.ticket_id IN (SELECT s.ticket_id FROM ticket_search s WHERE ");
        push_search(qb, q);
        qb.push(")");
    }
    match f.involving {
        None => {}
        // A requester reads their own tickets only, which is what either involvement selects
        // then; said again, it would be an `OR` no index serves in the page's order.
        Some(Involvement::Requested | Involvement::Either) if viewer.only_requester().is_some() => {
        }
        Some(Involvement::Requested) => {
            qb.push(" AND ");
            merged.push_requested_by(qb, viewer.user_id);
        }
        Some(Involvement::Assigned) => {
            qb.push(" AND v.assignee_id = ").push_bind(viewer.user_id);
        }
        Some(Involvement::Either) => {
            qb.push(" AND (");
            merged.push_requested_by(qb, viewer.user_id);
            qb.push(" OR v.assignee_id = ")
                .push_bind(viewer.user_id)
                .push(")");
        }
    }
    if let Some(unread) = f.unread {
        qb.push(" AND ");
        me::push_unread(qb, viewer);
        qb.push(" = ").push_bind(unread);
    }
    if let Some(number) = f.number {
        qb.push(" AND v.number = ").push_bind(number);
    }
    if !f.tags.is_empty() {
        // Containment, which the GIN index on `tags` serves.
        qb.push(" AND v.tags @> ")
            .push_bind(f.tags.clone())
            .push("::text[]");
    }
    if !f.field_values.is_empty() {
        // Containment, which the GIN index on `field_values` serves.
        qb.push(" AND v.field_values @> ")
            .push_bind(f.field_values.clone())
            .push("::text[]");
    }
}

/// A page of the tickets `viewer` may see, filtered and sorted.
pub async fn list(
    pool: &PgPool,
    query: &ListQuery,
    viewer: Viewer,
) -> Result<TicketPage, sqlx::Error> {
    // A search in creation order reads its matches' keys from `ticket_search` and orders them
    // there, so that only a page of `ticket_view` rows is read however many tickets match (a
    // rare word at 1,000,000 tickets matches thousands).
    let search = query
        .filter
        .q
        .as_deref()
        .filter(|_| query.sort.drives_search());
    // Only the text restricts the tickets: the share of the newest that match says how to
    // find the page. Another filter (or a requester's own tickets) may select few tickets,
    // which the planner then reads first by their own index.
    let text_alone = viewer.reads_everything
        && query.filter
            == ListFilter {
                q: query.filter.q.clone(),
                ..ListFilter::default()
            };
    let requested = matches!(
        query.filter.involving,
        Some(Involvement::Requested | Involvement::Either)
    );
    let named: Vec<Uuid> = viewer
        .only_requester()
        .into_iter()
        .chain(query.filter.requester_id)
        .chain(requested.then_some(viewer.user_id))
        .collect();
    let merged = MergedInto::read(pool, &named).await?;
    let mut rows = match search {
        Some(q) if text_alone => {
            let mut probed = search::PROBES[0];
            loop {
                let rows = fetch(
                    pool,
                    query,
                    viewer,
                    &merged,
                    Some((q, Scan::Newest(probed))),
                )
                .await?;
                match search::after_probe_of(pool, rows.len(), query.limit + 1, probed).await? {
                    None => break rows,
                    Some(Scan::Newest(larger)) => probed = larger,
                    Some(scan) => {
                        break fetch(pool, query, viewer, &merged, Some((q, scan))).await?
                    }
                }
            }
        }
        Some(q) => fetch(pool, query, viewer, &merged, Some((q, Scan::Planned))).await?,
        None => fetch(pool, query, viewer, &merged, None).await?,
    };
    let limit = usize::try_from(query.limit).unwrap_or(0);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| query.sort.cursor_of(&row.key()))
    } else {
        None
    };
    let now = Utc::now();
    Ok(TicketPage {
        items: rows.into_iter().map(|row| row.into_item(now)).collect(),
        next_cursor,
    })
}

/// The rows of the page and one more (whether it exists says whether there is a next page);
/// `search`: the text of a search in creation order and where its matches are read from.
pub(super) async fn fetch(
    pool: &PgPool,
    query: &ListQuery,
    viewer: Viewer,
    merged: &MergedInto,
    search: Option<(&str, Scan)>,
) -> Result<Vec<ListRow>, sqlx::Error> {
    let mut qb = QueryBuilder::new("");
    match search {
        None if either_in_creation_order(query, viewer) => {
            push_either_merged(&mut qb, query, viewer, merged);
        }
        None => push_page(&mut qb, query, viewer, merged, &query.filter, Branch::Whole),
        Some(search) => push_searched_page(&mut qb, query, viewer, merged, search),
    }
    // A search is planned with its text (an unnamed statement): a plan made once for any
    // pattern cannot tell whether the trigram indexes or the creation order serve it.
    let persistent = query.filter.q.is_none();
    qb.build_query_as()
        .persistent(persistent)
        .fetch_all(pool)
        .await
}

/// Whether the page lists the tickets the viewer requested or is assigned to, for a viewer who
/// reads others' tickets too, in a creation order and without a search: what
/// [`push_either_merged`] answers.
fn either_in_creation_order(query: &ListQuery, viewer: Viewer) -> bool {
    query.filter.involving == Some(Involvement::Either)
        && viewer.only_requester().is_none()
        && query.filter.q.is_none()
        && query.sort.drives_search()
}

/// Which tickets of the viewer's a [`push_page`] selects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Branch {
    /// Those of the filter.
    Whole,
    /// Those assigned to them they did not request (the requested ones are the other branch).
    AssignedNotRequested,
}

/// The viewer's requested tickets and those assigned to them, each read in the page's order
/// through its own index under the limit and merged. Said as one `OR`, no index serves the
/// order: an agent's page walked the creation order testing every ticket (2,713 pages of
/// `ticket_view` at 1,000,000 tickets for 51 rows).
fn push_either_merged(
    qb: &mut QueryBuilder<'_, Postgres>,
    query: &ListQuery,
    viewer: Viewer,
    merged: &MergedInto,
) {
    let mut requested = query.filter.clone();
    requested.involving = Some(Involvement::Requested);
    let mut assigned = query.filter.clone();
    assigned.involving = Some(Involvement::Assigned);
    qb.push("SELECT * FROM ((");
    push_page(qb, query, viewer, merged, &requested, Branch::Whole);
    qb.push(") UNION ALL (");
    push_page(
        qb,
        query,
        viewer,
        merged,
        &assigned,
        Branch::AssignedNotRequested,
    );
    qb.push(")) v");
    query.sort.push_order(qb, false);
    push_page_limit(qb, query);
}

/// The columns of a list item (and whether the viewer has read it when asked) and the tables
/// they come from.
fn push_columns(qb: &mut QueryBuilder<'_, Postgres>, query: &ListQuery, viewer: Viewer) {
    qb.push("SELECT ");
    qb.push(LIST_COLUMNS);
    if query.with_unread {
        qb.push(", ");
        me::push_unread(qb, viewer);
        qb.push(" AS unread");
    }
    qb.push(" FROM ticket_view v");
    if query.sort.by_recency() {
        qb.push(" JOIN ticket_recency r ON r.ticket_id = v.ticket_id");
    }
}

/// A page of the tickets `filter` selects, without a search.
fn push_page(
    qb: &mut QueryBuilder<'_, Postgres>,
    query: &ListQuery,
    viewer: Viewer,
    merged: &MergedInto,
    filter: &ListFilter,
    branch: Branch,
) {
    push_columns(qb, query, viewer);
    qb.push(" WHERE true");
    push_filters(qb, filter, viewer, merged);
    if branch == Branch::AssignedNotRequested {
        qb.push(" AND NOT (");
        merged.push_requested_by(qb, viewer.user_id);
        qb.push(")");
    }
    push_keyset_order(qb, query, false);
    push_page_limit(qb, query);
}

/// Where the page starts and its order, on `ticket_search`'s columns when `searched`.
fn push_keyset_order(qb: &mut QueryBuilder<'_, Postgres>, query: &ListQuery, searched: bool) {
    if let Some(after) = &query.after {
        query.sort.push_after(qb, after, searched);
    }
    query.sort.push_order(qb, searched);
}

/// The page's rows and one more (whether it exists says whether there is a next page).
fn push_page_limit(qb: &mut QueryBuilder<'_, Postgres>, query: &ListQuery) {
    qb.push(" LIMIT ").push_bind(query.limit + 1);
}

/// A page of the tickets matching the text of a search in creation order, read as `scan` says.
fn push_searched_page(
    qb: &mut QueryBuilder<'_, Postgres>,
    query: &ListQuery,
    viewer: Viewer,
    merged: &MergedInto,
    (q, scan): (&str, Scan),
) {
    push_columns(qb, query, viewer);
    match scan {
        Scan::Planned => {
            qb.push(" JOIN ticket_search s ON s.ticket_id = v.ticket_id WHERE ");
            push_search(qb, q);
        }
        Scan::Newest(_) | Scan::Walk => {
            qb.push(
                " JOIN (SELECT s.ticket_id, s.created_at, s.lower_title, \
                 s.lower_description FROM ticket_search s WHERE true",
            );
            push_keyset_order(qb, query, true);
            if let Scan::Newest(n) = scan {
                qb.push(" LIMIT ").push_bind(n);
            } else {
                // Fenced, as the matches are below: joined as it is, the walk was
                // planned from the planner's guess at how often the text occurs (a
                // fixed 0.02 % for a pattern), and a word in one ticket of 100 at
                // 1,000,000 tickets had all its 9,304 matches and their rows read and
                // sorted (155 ms) where walking tests about 4,600 tickets.
                qb.push(" OFFSET 0");
            }
            qb.push(") s ON s.ticket_id = v.ticket_id WHERE ");
            push_search(qb, q);
        }
        Scan::Matches => {
            // Sorted apart (`OFFSET 0` keeps the planner from merging it into the
            // outer query), so that the planner lists the matches through the trigram
            // indexes instead of walking the creation order, and reads `ticket_view`
            // rows in the page's order until the page is full.
            qb.push(" JOIN (SELECT s.ticket_id, s.created_at FROM ticket_search s WHERE ");
            push_search(qb, q);
            push_keyset_order(qb, query, true);
            qb.push(" OFFSET 0) s ON s.ticket_id = v.ticket_id WHERE true");
        }
    }
    let filter = ListFilter {
        q: None,
        ..query.filter.clone()
    };
    push_filters(qb, &filter, viewer, merged);
    push_keyset_order(qb, query, true);
    push_page_limit(qb, query);
}
