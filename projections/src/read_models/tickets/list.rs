//! `GET /tickets` and `GET /me/tickets`: filtered, sorted, keyset-paginated lists (and the
//! filters and columns the board shares).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use ticket_nats::{Channel, Priority, Status};
use uuid::Uuid;

use super::dto::*;
use super::search::{self, push_search, Scan};
use crate::read_models::cursor::{Cursor, InvalidCursor};
use crate::read_models::me;
use crate::read_models::query::{MergedInto, Viewer};

/// Sort orders of the list. Every order ends with the ticket id, so that keys are unique and
/// keyset pagination neither skips nor repeats a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// `created_at`: oldest first.
    CreatedAt,
    /// `-created_at` (the default): newest first.
    #[default]
    CreatedAtDesc,
    /// `updated_at`: least recently changed first.
    UpdatedAt,
    /// `-updated_at`: most recently changed first.
    UpdatedAtDesc,
    /// `priority`: low first, then oldest first.
    Priority,
    /// `-priority`: urgent first, then oldest first (as on the board).
    PriorityDesc,
    /// `number`: ascending.
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Created,
    Updated,
    Rank,
    Number,
    Id,
    /// The id as `ticket_recency` holds it: the tie-breaker of the `updated_at` orders, so
    /// that a keyset compares columns of one index.
    RecencyId,
    /// `created_at` and the id as `ticket_search` holds them: the creation orders of a search,
    /// so that the matches are ordered before any `ticket_view` row is read (see [`list`]).
    SearchCreated,
    /// See [`Key::SearchCreated`].
    SearchId,
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::Created => "v.created_at",
            // `ticket_recency`'s copy, which carries the index (see `Sort::by_recency`).
            Key::Updated => "r.updated_at",
            Key::Rank => "v.priority_rank",
            Key::Number => "v.number",
            Key::Id => "v.ticket_id",
            Key::RecencyId => "r.ticket_id",
            Key::SearchCreated => "s.created_at",
            Key::SearchId => "s.ticket_id",
        }
    }

    /// The same key read from `ticket_search` where it holds it.
    fn on_search(self) -> Self {
        match self {
            Key::Created => Key::SearchCreated,
            Key::Id => Key::SearchId,
            other => other,
        }
    }

    fn value_of(self, row: &ListRow) -> KeyValue {
        match self {
            Key::Created | Key::SearchCreated => KeyValue::Time(row.created_at),
            Key::Updated => KeyValue::Time(row.updated_at),
            Key::Rank => KeyValue::Int(i64::from(row.priority_rank)),
            Key::Number => KeyValue::Int(row.number),
            Key::Id | Key::RecencyId | Key::SearchId => KeyValue::Id(row.ticket_id),
        }
    }

    fn parse(self, text: &str) -> Option<KeyValue> {
        match self {
            Key::Created | Key::Updated | Key::SearchCreated => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| KeyValue::Time(t.with_timezone(&Utc))),
            Key::Rank | Key::Number => text.parse().ok().map(KeyValue::Int),
            Key::Id | Key::RecencyId | Key::SearchId => {
                Uuid::parse_str(text).ok().map(KeyValue::Id)
            }
        }
    }
}

/// One value of a sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyValue {
    Time(DateTime<Utc>),
    Int(i64),
    Id(Uuid),
}

impl KeyValue {
    fn text(self) -> String {
        match self {
            // Microseconds: Postgres's precision, so that a key survives the round trip.
            KeyValue::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            KeyValue::Int(n) => n.to_string(),
            KeyValue::Id(id) => id.to_string(),
        }
    }

    fn push(self, qb: &mut QueryBuilder<'_, Postgres>) {
        match self {
            KeyValue::Time(t) => qb.push_bind(t),
            KeyValue::Int(n) => qb.push_bind(n),
            KeyValue::Id(id) => qb.push_bind(id),
        };
    }
}

/// Where a page starts: after the row with this sort key (a checked cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After(Vec<KeyValue>);

impl Sort {
    /// Every order, as `sort` names them.
    pub const ALL: [Sort; 7] = [
        Sort::CreatedAt,
        Sort::CreatedAtDesc,
        Sort::UpdatedAt,
        Sort::UpdatedAtDesc,
        Sort::Priority,
        Sort::PriorityDesc,
        Sort::Number,
    ];

    /// The name of the order in `sort=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::CreatedAt => "created_at",
            Sort::CreatedAtDesc => "-created_at",
            Sort::UpdatedAt => "updated_at",
            Sort::UpdatedAtDesc => "-updated_at",
            Sort::Priority => "priority",
            Sort::PriorityDesc => "-priority",
            Sort::Number => "number",
        }
    }

    /// Whether the order is by `updated_at`, whose index is on `ticket_recency` (so that a
    /// comment, which changes only that of the indexed columns, updates `ticket_view` in place).
    fn by_recency(self) -> bool {
        matches!(self, Sort::UpdatedAt | Sort::UpdatedAtDesc)
    }

    /// The sort key: columns and whether each is descending.
    fn keys(self) -> &'static [(Key, bool)] {
        match self {
            Sort::CreatedAt => &[(Key::Created, false), (Key::Id, false)],
            Sort::CreatedAtDesc => &[(Key::Created, true), (Key::Id, true)],
            Sort::UpdatedAt => &[(Key::Updated, false), (Key::RecencyId, false)],
            Sort::UpdatedAtDesc => &[(Key::Updated, true), (Key::RecencyId, true)],
            Sort::Priority => &[(Key::Rank, false), (Key::Created, false), (Key::Id, false)],
            Sort::PriorityDesc => &[(Key::Rank, true), (Key::Created, false), (Key::Id, false)],
            Sort::Number => &[(Key::Number, false), (Key::Id, false)],
        }
    }

    /// Reads a cursor of this order.
    pub fn after(self, cursor: &str) -> Result<After, InvalidCursor> {
        let cursor = Cursor::decode(cursor)?;
        let keys = self.keys();
        if cursor.sort != self.as_str() || cursor.key.len() != keys.len() {
            return Err(InvalidCursor);
        }
        keys.iter()
            .zip(&cursor.key)
            .map(|((key, _), text)| key.parse(text).ok_or(InvalidCursor))
            .collect::<Result<_, _>>()
            .map(After)
    }

    fn cursor_of(self, row: &ListRow) -> String {
        Cursor {
            sort: self.as_str().to_string(),
            key: self
                .keys()
                .iter()
                .map(|(key, _)| key.value_of(row).text())
                .collect(),
        }
        .encode()
    }

    /// Whether a search in this order is driven by `ticket_search`: the creation orders, whose
    /// key that table holds too.
    fn drives_search(self) -> bool {
        matches!(self, Sort::CreatedAt | Sort::CreatedAtDesc)
    }

    /// The sort key's columns, on `ticket_search` when `searched` and the order allows it.
    fn keys_on(self, searched: bool) -> Vec<(Key, bool)> {
        let on_search = searched && self.drives_search();
        self.keys()
            .iter()
            .map(|&(key, desc)| (if on_search { key.on_search() } else { key }, desc))
            .collect()
    }

    fn push_order(self, qb: &mut QueryBuilder<'_, Postgres>, searched: bool) {
        let order = self
            .keys_on(searched)
            .iter()
            .map(|(key, desc)| format!("{} {}", key.column(), if *desc { "DESC" } else { "ASC" }))
            .collect::<Vec<_>>()
            .join(", ");
        qb.push(" ORDER BY ").push(order);
    }

    fn push_after(self, qb: &mut QueryBuilder<'_, Postgres>, after: &After, searched: bool) {
        qb.push(" AND ");
        push_keyset(qb, &self.keys_on(searched), &after.0);
    }
}

/// `key > value` in the sort's order. A key in one direction is a row comparison, which an
/// index serves; a mixed one expands to `k1 > v1 OR (k1 = v1 AND rest)`.
fn push_keyset(qb: &mut QueryBuilder<'_, Postgres>, keys: &[(Key, bool)], values: &[KeyValue]) {
    let Some(((first, desc), (value, _))) = keys.first().zip(values.split_first()) else {
        qb.push("true");
        return;
    };
    let op = if *desc { " < " } else { " > " };
    if keys.iter().all(|(_, d)| d == desc) {
        let columns = keys.iter().map(|(k, _)| k.column()).collect::<Vec<_>>();
        qb.push("(")
            .push(columns.join(", "))
            .push(")")
            .push(op)
            .push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            v.push(qb);
        }
        qb.push(")");
        return;
    }
    qb.push("(").push(first.column()).push(op);
    value.push(qb);
    qb.push(" OR (").push(first.column()).push(" = ");
    value.push(qb);
    qb.push(" AND ");
    push_keyset(qb, &keys[1..], &values[1..]);
    qb.push("))");
}

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
        rows.last().map(|row| query.sort.cursor_of(row))
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
    qb.push(" LIMIT ").push_bind(query.limit + 1);
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
    push_keyset_order_limit(qb, query, false);
}

/// Where the page starts, its order and its size.
fn push_keyset_order_limit(qb: &mut QueryBuilder<'_, Postgres>, query: &ListQuery, searched: bool) {
    if let Some(after) = &query.after {
        query.sort.push_after(qb, after, searched);
    }
    query.sort.push_order(qb, searched);
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
            if let Some(after) = &query.after {
                query.sort.push_after(qb, after, true);
            }
            query.sort.push_order(qb, true);
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
            if let Some(after) = &query.after {
                query.sort.push_after(qb, after, true);
            }
            query.sort.push_order(qb, true);
            qb.push(" OFFSET 0) s ON s.ticket_id = v.ticket_id WHERE true");
        }
    }
    let filter = ListFilter {
        q: None,
        ..query.filter.clone()
    };
    push_filters(qb, &filter, viewer, merged);
    push_keyset_order_limit(qb, query, true);
}

impl FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|sort| sort.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("sort must be one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cursors_belong_to_their_sort_order() {
        let key = Cursor {
            sort: "-created_at".into(),
            key: vec![
                "2026-11-23T10:00:00.000001Z".into(),
                Uuid::nil().to_string(),
            ],
        }
        .encode();
        assert_eq!(
            Sort::CreatedAtDesc.after(&key),
            Ok(After(vec![
                KeyValue::Time(t("2026-11-23T10:00:00.000001Z")),
                KeyValue::Id(Uuid::nil())
            ]))
        );
        assert_eq!(Sort::UpdatedAtDesc.after(&key), Err(InvalidCursor));
        assert_eq!(Sort::Number.after(&key), Err(InvalidCursor));
        let bad = Cursor {
            sort: "number".into(),
            key: vec!["seven".into(), Uuid::nil().to_string()],
        }
        .encode();
        assert_eq!(Sort::Number.after(&bad), Err(InvalidCursor));
    }

    #[test]
    fn sort_names_round_trip() {
        for sort in Sort::ALL {
            assert_eq!(sort.as_str().parse::<Sort>(), Ok(sort));
        }
        assert!("-number".parse::<Sort>().is_err());
    }

    #[test]
    fn a_mixed_keyset_expands_and_a_uniform_one_compares_rows() {
        let mut qb = QueryBuilder::<Postgres>::new("");
        let values = [
            KeyValue::Int(4),
            KeyValue::Time(t("2026-11-23T10:00:00Z")),
            KeyValue::Id(Uuid::nil()),
        ];
        push_keyset(&mut qb, Sort::PriorityDesc.keys(), &values);
        assert_eq!(
            qb.sql(),
            "(v.priority_rank < $1 OR (v.priority_rank = $2 AND (v.created_at, v.ticket_id) > ($3, $4)))"
        );
    }
}
