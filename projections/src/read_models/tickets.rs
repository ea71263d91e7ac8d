//! The ticket view and list: `ticket_view` (one row per ticket), `ticket_recency` (its
//! `updated_at`, indexed), `ticket_comments` and `ticket_search`.
//!
//! The projection folds each batch in memory, one [`ViewRow`] per ticket it touches, and
//! writes the rows back with one upsert and the new comments with one insert.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use ticket_nats::events::{SlaTarget, TicketCreated};
use ticket_nats::{TicketEvent, Timestamp};
use uuid::Uuid;

use super::cursor::{Cursor, InvalidCursor};
use super::me;
use super::query::Viewer;
use crate::runtime::Projection;
use crate::stored::StoredEvent;

/// The projection's name (its checkpoint key).
pub const NAME: &str = "ticket_view";

const OPEN: &str = "open";
const IN_PROGRESS: &str = "in_progress";
const CLOSED: &str = "closed";

// ---- answers ------------------------------------------------------------------------------

/// A requester or assignee as views show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// User id.
    pub id: Uuid,
    /// Display name as the events recorded it.
    pub name: String,
}

/// A comment's author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// User id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The role they wrote in.
    pub role: String,
}

/// A ticket's SLA as it stands when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    /// When the first response is due.
    pub first_response_due: Timestamp,
    /// When the resolution is due.
    pub resolution_due: Timestamp,
    /// The first-response target was missed (see [`SlaFacts::at`]).
    pub first_response_breached: bool,
    /// The resolution target was missed (see [`SlaFacts::at`]).
    pub resolution_breached: bool,
}

/// The requester's latest rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// 1 to 5.
    pub score: i16,
    /// Their words, if any.
    pub comment: Option<String>,
    /// When they rated.
    pub rated_at: Timestamp,
}

/// One comment of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// The comment's id.
    pub id: Uuid,
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub body: String,
    /// Hidden from requesters.
    pub internal: bool,
    /// When it was written.
    pub created_at: Timestamp,
}

/// `GET /tickets/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketView {
    /// The ticket's id.
    pub id: Uuid,
    /// The short number for humans.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// Priority.
    pub priority: String,
    /// Channel.
    pub channel: String,
    /// Status.
    pub status: String,
    /// Who the ticket is for.
    pub requester: Person,
    /// Who works on it.
    pub assignee: Option<Person>,
    /// Time of creation.
    pub created_at: Timestamp,
    /// Time of the latest event.
    pub updated_at: Timestamp,
    /// Time of the first comment by someone other than the requester.
    pub first_response_at: Option<Timestamp>,
    /// Time of the latest close, while closed.
    pub closed_at: Option<Timestamp>,
    /// Resolution given by the latest close.
    pub resolution: Option<String>,
    /// The latest rating.
    pub rating: Option<Rating>,
    /// Due times and breaches.
    pub sla: Sla,
    /// Comments in order (without internal ones for requesters).
    pub comments: Vec<Comment>,
    /// The ticket's version.
    pub version: i64,
}

/// One item of `GET /tickets` and `GET /me/tickets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketListItem {
    /// The ticket's id.
    pub id: Uuid,
    /// The short number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Priority.
    pub priority: String,
    /// Category.
    pub category: String,
    /// Who the ticket is for.
    pub requester: Person,
    /// Who works on it.
    pub assignee: Option<Person>,
    /// Time of creation.
    pub created_at: Timestamp,
    /// Time of the latest event.
    pub updated_at: Timestamp,
    /// Due times and breaches.
    pub sla: Sla,
    /// `GET /me/tickets` only: something the caller has not read happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<bool>,
}

/// A page of tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPage {
    /// The tickets.
    pub items: Vec<TicketListItem>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What decides whether a ticket's SLA targets are breached at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaFacts {
    /// When the first response is due.
    pub first_response_due: DateTime<Utc>,
    /// When the resolution is due.
    pub resolution_due: DateTime<Utc>,
    /// When the first response came, if it did.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When the ticket was last closed, while it is closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The engine recorded `ticket.sla_breached` for the first response.
    pub first_response_breach_recorded: bool,
    /// The engine recorded `ticket.sla_breached` for the resolution.
    pub resolution_breach_recorded: bool,
}

impl SlaFacts {
    /// The SLA as it stands at `now`. A target is breached when the engine recorded
    /// `ticket.sla_breached` for it, when it was met late, or when its due time has passed
    /// while it is still awaited; the last case is decided here, at query time, so that a view
    /// is right between the engine's timer sweeps. As in the aggregate, the first response is
    /// not awaited while the ticket is closed.
    ///
    /// [`super::stats`] states the same rule in SQL (`FIRST_RESPONSE_BREACHED`,
    /// `RESOLUTION_BREACHED`).
    pub fn at(&self, now: DateTime<Utc>) -> Sla {
        let first_response_breached = self.first_response_breach_recorded
            || match self.first_response_at {
                Some(at) => at > self.first_response_due,
                None => self.closed_at.is_none() && self.first_response_due <= now,
            };
        let resolution_breached = self.resolution_breach_recorded
            || match self.closed_at {
                Some(at) => at > self.resolution_due,
                None => self.resolution_due <= now,
            };
        Sla {
            first_response_due: self.first_response_due.into(),
            resolution_due: self.resolution_due.into(),
            first_response_breached,
            resolution_breached,
        }
    }
}

// ---- the projection -----------------------------------------------------------------------

/// One `ticket_view` row: the projection's state of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub(crate) struct ViewRow {
    ticket_id: Uuid,
    number: i64,
    title: String,
    description: String,
    category: String,
    priority: String,
    channel: String,
    status: String,
    requester_id: Uuid,
    requester_name: String,
    assignee_id: Option<Uuid>,
    assignee_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    resolution: Option<String>,
    rating_score: Option<i16>,
    rating_comment: Option<String>,
    rated_at: Option<DateTime<Utc>>,
    first_response_due: DateTime<Utc>,
    resolution_due: DateTime<Utc>,
    first_response_breach_recorded: bool,
    resolution_breach_recorded: bool,
    version: i64,
    last_position: i64,
}

/// The columns of [`ViewRow`], in its order (generated columns excluded).
const VIEW_COLUMNS: [&str; 26] = [
    "ticket_id",
    "number",
    "title",
    "description",
    "category",
    "priority",
    "channel",
    "status",
    "requester_id",
    "requester_name",
    "assignee_id",
    "assignee_name",
    "created_at",
    "updated_at",
    "first_response_at",
    "closed_at",
    "resolution",
    "rating_score",
    "rating_comment",
    "rated_at",
    "first_response_due",
    "resolution_due",
    "first_response_breach_recorded",
    "resolution_breach_recorded",
    "version",
    "last_position",
];

static SELECT_ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM ticket_view WHERE ticket_id = ANY($1)",
        VIEW_COLUMNS.join(", ")
    )
});

/// Writes a JSON array of rows back, inserting new tickets and replacing changed ones, and
/// their `ticket_recency` rows with them.
static UPSERT_ROWS: LazyLock<String> = LazyLock::new(|| {
    let columns = VIEW_COLUMNS.join(", ");
    let updates = VIEW_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH written AS (
             INSERT INTO ticket_view ({columns})
             SELECT {columns} FROM jsonb_populate_recordset(NULL::ticket_view, $1)
             ON CONFLICT (ticket_id) DO UPDATE SET {updates}
             RETURNING ticket_id, updated_at
         )
         INSERT INTO ticket_recency (ticket_id, updated_at)
         SELECT ticket_id, updated_at FROM written
         ON CONFLICT (ticket_id) DO UPDATE SET updated_at = EXCLUDED.updated_at"
    )
});

/// Writes the searchable text of tickets whose title or description is new or changed.
const UPSERT_SEARCH: &str = "INSERT INTO ticket_search (ticket_id, title, description)
     SELECT ticket_id, title, description
     FROM jsonb_populate_recordset(NULL::ticket_search, $1)
     ON CONFLICT (ticket_id) DO UPDATE SET title = EXCLUDED.title,
                                           description = EXCLUDED.description";

/// One `ticket_search` row.
#[derive(Debug, Serialize)]
struct SearchRow<'a> {
    ticket_id: Uuid,
    title: &'a str,
    description: &'a str,
}

const INSERT_COMMENTS: &str =
    "INSERT INTO ticket_comments (comment_id, ticket_id, author_id, author_name, author_role,
                                  body, internal, created_at, position)
     SELECT comment_id, ticket_id, author_id, author_name, author_role, body, internal,
            created_at, position
     FROM jsonb_populate_recordset(NULL::ticket_comments, $1)
     ON CONFLICT (comment_id) DO NOTHING";

/// One `ticket_comments` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommentRow {
    comment_id: Uuid,
    ticket_id: Uuid,
    author_id: Uuid,
    author_name: String,
    author_role: String,
    body: String,
    internal: bool,
    created_at: DateTime<Utc>,
    position: i64,
}

impl From<CommentRow> for Comment {
    fn from(row: CommentRow) -> Self {
        Self {
            id: row.comment_id,
            author: Author {
                id: row.author_id,
                name: row.author_name,
                role: row.author_role,
            },
            body: row.body,
            internal: row.internal,
            created_at: row.created_at.into(),
        }
    }
}

impl ViewRow {
    fn created(ticket_id: Uuid, e: &TicketCreated, stored: &StoredEvent) -> Self {
        let at = stored.envelope.time.as_datetime();
        Self {
            ticket_id,
            number: e.number,
            title: e.title.clone(),
            description: e.description.clone(),
            category: e.category.clone(),
            priority: e.priority.clone(),
            channel: e.channel.clone(),
            status: OPEN.into(),
            requester_id: e.requester.id,
            requester_name: e.requester.name.clone(),
            assignee_id: None,
            assignee_name: None,
            created_at: at,
            updated_at: at,
            first_response_at: None,
            closed_at: None,
            resolution: None,
            rating_score: None,
            rating_comment: None,
            rated_at: None,
            first_response_due: e.sla.first_response_due.as_datetime(),
            resolution_due: e.sla.resolution_due.as_datetime(),
            first_response_breach_recorded: false,
            resolution_breach_recorded: false,
            version: stored.envelope.seq,
            last_position: stored.position,
        }
    }

    /// Applies an event after `ticket.created`; new comments go to `comments`. The status
    /// rules are the aggregate's (CONTRACT 1).
    fn apply(&mut self, stored: &StoredEvent, comments: &mut Vec<CommentRow>) {
        let at = stored.envelope.time.as_datetime();
        match &stored.event {
            // A second creation cannot be stored (the aggregate refuses it); nothing to do.
            TicketEvent::Created(_) => {}
            TicketEvent::Commented(e) => {
                if e.author.id != self.requester_id && self.first_response_at.is_none() {
                    self.first_response_at = Some(at);
                }
                comments.push(CommentRow {
                    comment_id: e.comment_id,
                    ticket_id: self.ticket_id,
                    author_id: e.author.id,
                    author_name: e.author.name.clone(),
                    author_role: e.author.role.clone(),
                    body: e.body.clone(),
                    internal: e.internal,
                    created_at: at,
                    position: stored.position,
                });
            }
            TicketEvent::Assigned(e) => {
                self.assignee_id = Some(e.assignee.id);
                self.assignee_name = Some(e.assignee.name.clone());
                if self.status == OPEN {
                    self.status = IN_PROGRESS.into();
                }
            }
            TicketEvent::Updated(e) => {
                if let Some(c) = &e.changes.title {
                    self.title = c.to.clone();
                }
                if let Some(c) = &e.changes.description {
                    self.description = c.to.clone();
                }
                if let Some(c) = &e.changes.category {
                    self.category = c.to.clone();
                }
                if let Some(c) = &e.changes.priority {
                    self.priority = c.to.clone();
                }
                if let Some(sla) = &e.sla {
                    self.first_response_due = sla.first_response_due.as_datetime();
                    self.resolution_due = sla.resolution_due.as_datetime();
                }
            }
            TicketEvent::Closed(e) => {
                self.status = CLOSED.into();
                self.closed_at = Some(at);
                self.resolution = e.resolution.clone();
            }
            TicketEvent::Reopened(_) => {
                self.status = if self.assignee_id.is_some() {
                    IN_PROGRESS
                } else {
                    OPEN
                }
                .into();
                // The resolution stays until the next close, as in the aggregate.
                self.closed_at = None;
            }
            TicketEvent::Rated(e) => {
                self.rating_score = Some(i16::from(e.score));
                self.rating_comment = e.comment.clone();
                self.rated_at = Some(at);
            }
            TicketEvent::SlaBreached(e) => match e.target {
                SlaTarget::FirstResponse => self.first_response_breach_recorded = true,
                SlaTarget::Resolution => self.resolution_breach_recorded = true,
            },
        }
        self.updated_at = at;
        self.version = stored.envelope.seq;
        self.last_position = stored.position;
    }

    fn sla_facts(&self) -> SlaFacts {
        SlaFacts {
            first_response_due: self.first_response_due,
            resolution_due: self.resolution_due,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            first_response_breach_recorded: self.first_response_breach_recorded,
            resolution_breach_recorded: self.resolution_breach_recorded,
        }
    }

    fn into_view(self, comments: Vec<CommentRow>, now: DateTime<Utc>) -> TicketView {
        let sla = self.sla_facts().at(now);
        let rating = match (self.rating_score, self.rated_at) {
            (Some(score), Some(rated_at)) => Some(Rating {
                score,
                comment: self.rating_comment,
                rated_at: rated_at.into(),
            }),
            _ => None,
        };
        TicketView {
            id: self.ticket_id,
            number: self.number,
            title: self.title,
            description: self.description,
            category: self.category,
            priority: self.priority,
            channel: self.channel,
            status: self.status,
            requester: Person {
                id: self.requester_id,
                name: self.requester_name,
            },
            assignee: person(self.assignee_id, self.assignee_name),
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
            first_response_at: self.first_response_at.map(Into::into),
            closed_at: self.closed_at.map(Into::into),
            resolution: self.resolution,
            rating,
            sla,
            comments: comments.into_iter().map(Comment::from).collect(),
            version: self.version,
        }
    }
}

fn person(id: Option<Uuid>, name: Option<String>) -> Option<Person> {
    id.map(|id| Person {
        id,
        name: name.unwrap_or_default(),
    })
}

fn ticket_id(stored: &StoredEvent) -> Option<Uuid> {
    let id = Uuid::parse_str(&stored.envelope.subject).ok();
    if id.is_none() {
        tracing::warn!(subject = %stored.envelope.subject, "event of a subject that is not a ticket id");
    }
    id
}

/// Rows kept in memory between steps (a few MB at 10,000).
const ROW_CACHE: usize = 10_000;

/// Keeps `ticket_view` and `ticket_comments`.
///
/// Rows it wrote stay in memory, so that a step reads from `ticket_view` only the tickets it
/// has not seen lately. A row is a function of its ticket's events alone, so a cached row at
/// version `seq - 1` is the stored row, whoever stored it (another instance, a rebuild's swap);
/// a row at any other version is read from the table. A row cached by a step whose
/// transaction then rolled back is ahead of the table, so the retry reads the table.
#[derive(Debug)]
pub struct TicketViewProjection {
    rows: Mutex<LruCache<Uuid, ViewRow>>,
}

impl Default for TicketViewProjection {
    fn default() -> Self {
        Self {
            rows: Mutex::new(LruCache::new(
                NonZeroUsize::new(ROW_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl TicketViewProjection {
    fn cache(&self) -> MutexGuard<'_, LruCache<Uuid, ViewRow>> {
        // A panic elsewhere cannot leave a half-written row: entries are replaced whole.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rows of the tickets `batch` touches, as of just before the batch: from the cache
    /// where it holds the version before the ticket's first event here, else from the table.
    async fn rows_before(
        &self,
        conn: &mut PgConnection,
        batch: &[StoredEvent],
    ) -> Result<HashMap<Uuid, ViewRow>, sqlx::Error> {
        let mut first_seq: HashMap<Uuid, i64> = HashMap::new();
        for stored in batch {
            if let Some(id) = ticket_id(stored) {
                first_seq.entry(id).or_insert(stored.envelope.seq);
            }
        }
        let mut rows = HashMap::with_capacity(first_seq.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.cache();
            for (id, seq) in first_seq {
                match cache.get(&id) {
                    Some(row) if row.version == seq - 1 => {
                        rows.insert(id, row.clone());
                    }
                    _ => missing.push(id),
                }
            }
        }
        metrics::counter!("ticketd_projection_row_cache_misses_total", "projection" => NAME)
            .increment(missing.len() as u64);
        if !missing.is_empty() {
            let stored = sqlx::query_as::<_, ViewRow>(&SELECT_ROWS)
                .bind(&missing)
                .fetch_all(&mut *conn)
                .await?;
            rows.extend(stored.into_iter().map(|row| (row.ticket_id, row)));
        }
        Ok(rows)
    }
}

#[async_trait::async_trait]
impl Projection for TicketViewProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "ticket_view",
            "ticket_recency",
            "ticket_comments",
            "ticket_search",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        batch: &[StoredEvent],
    ) -> Result<(), sqlx::Error> {
        let mut rows = self.rows_before(conn, batch).await?;
        let mut changed_ids = HashSet::new();
        // Tickets whose title or description is new or changed: `ticket_search` gets only these.
        let mut new_text = HashSet::new();
        let mut comments = Vec::new();
        for stored in batch {
            let Some(id) = ticket_id(stored) else {
                continue;
            };
            match (rows.get_mut(&id), &stored.event) {
                // Already applied: a replayed batch changes nothing.
                (Some(row), _) if stored.envelope.seq <= row.version => {}
                (Some(row), event) => {
                    row.apply(stored, &mut comments);
                    changed_ids.insert(id);
                    if matches!(event, TicketEvent::Updated(e)
                        if e.changes.title.is_some() || e.changes.description.is_some())
                    {
                        new_text.insert(id);
                    }
                }
                (None, TicketEvent::Created(e)) => {
                    rows.insert(id, ViewRow::created(id, e, stored));
                    changed_ids.insert(id);
                    new_text.insert(id);
                }
                (None, _) => tracing::warn!(
                    ticket_id = %id,
                    position = stored.position,
                    "event of a ticket whose creation was never applied; skipped"
                ),
            }
        }
        let changed: Vec<&ViewRow> = changed_ids.iter().filter_map(|id| rows.get(id)).collect();
        if !changed.is_empty() {
            sqlx::query(&UPSERT_ROWS)
                .bind(Json(&changed))
                .execute(&mut *conn)
                .await?;
        }
        let search: Vec<SearchRow<'_>> = new_text
            .iter()
            .filter_map(|id| rows.get(id))
            .map(|row| SearchRow {
                ticket_id: row.ticket_id,
                title: &row.title,
                description: &row.description,
            })
            .collect();
        if !search.is_empty() {
            sqlx::query(UPSERT_SEARCH)
                .bind(Json(&search))
                .execute(&mut *conn)
                .await?;
        }
        if !comments.is_empty() {
            sqlx::query(INSERT_COMMENTS)
                .bind(Json(&comments))
                .execute(&mut *conn)
                .await?;
        }
        let mut cache = self.cache();
        for id in changed_ids {
            if let Some(row) = rows.remove(&id) {
                cache.put(id, row);
            }
        }
        Ok(())
    }
}

// ---- GET /tickets/{id} --------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct ViewWithComments {
    #[sqlx(flatten)]
    row: ViewRow,
    comments: Json<Vec<CommentRow>>,
}

static SELECT_VIEW: LazyLock<String> = LazyLock::new(|| {
    // One statement, so that the row and its comments come from one snapshot.
    format!(
        "SELECT {},
                COALESCE((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.position)
                          FROM ticket_comments c
                          WHERE c.ticket_id = v.ticket_id AND ($2 OR NOT c.internal)),
                         '[]'::jsonb) AS comments
         FROM ticket_view v
         WHERE v.ticket_id = $1 AND ($2 OR v.requester_id = $3)",
        VIEW_COLUMNS.map(|c| format!("v.{c}")).join(", ")
    )
});

/// The ticket as `viewer` may see it: `None` when it does not exist or is not theirs to read;
/// requesters get no internal comments.
pub async fn get(
    pool: &PgPool,
    id: Uuid,
    viewer: Viewer,
) -> Result<Option<TicketView>, sqlx::Error> {
    let found = sqlx::query_as::<_, ViewWithComments>(&SELECT_VIEW)
        .bind(id)
        .bind(viewer.reads_everything)
        .bind(viewer.user_id)
        .fetch_optional(pool)
        .await?;
    Ok(found.map(|f| f.row.into_view(f.comments.0, Utc::now())))
}

/// The version of a ticket the view has applied, whoever may read it (`None`: not there yet).
pub async fn version(pool: &PgPool, id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM ticket_view WHERE ticket_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

// ---- GET /tickets -------------------------------------------------------------------------

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
        }
    }

    fn value_of(self, row: &ListRow) -> KeyValue {
        match self {
            Key::Created => KeyValue::Time(row.created_at),
            Key::Updated => KeyValue::Time(row.updated_at),
            Key::Rank => KeyValue::Int(i64::from(row.priority_rank)),
            Key::Number => KeyValue::Int(row.number),
            Key::Id | Key::RecencyId => KeyValue::Id(row.ticket_id),
        }
    }

    fn parse(self, text: &str) -> Option<KeyValue> {
        match self {
            Key::Created | Key::Updated => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| KeyValue::Time(t.with_timezone(&Utc))),
            Key::Rank | Key::Number => text.parse().ok().map(KeyValue::Int),
            Key::Id | Key::RecencyId => Uuid::parse_str(text).ok().map(KeyValue::Id),
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

    pub(crate) fn push_order(self, qb: &mut QueryBuilder<'_, Postgres>) {
        let order = self
            .keys()
            .iter()
            .map(|(key, desc)| format!("{} {}", key.column(), if *desc { "DESC" } else { "ASC" }))
            .collect::<Vec<_>>()
            .join(", ");
        qb.push(" ORDER BY ").push(order);
    }

    fn push_after(self, qb: &mut QueryBuilder<'_, Postgres>, after: &After) {
        qb.push(" AND ");
        push_keyset(qb, self.keys(), &after.0);
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
    pub statuses: Vec<String>,
    /// Any of these priorities.
    pub priorities: Vec<String>,
    /// Any of these categories.
    pub categories: Vec<String>,
    /// Any of these channels.
    pub channels: Vec<String>,
    /// Assigned to this user.
    pub assignee_id: Option<Uuid>,
    /// Requested by this user.
    pub requester_id: Option<Uuid>,
    /// Title or description contains this text (case-insensitive).
    pub q: Option<String>,
    /// Only tickets the viewer requested or is assigned to.
    pub involving: Option<Involvement>,
    /// Only tickets unread (`true`) or read (`false`) by the viewer.
    pub unread: Option<bool>,
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
     v.priority_rank, v.category, v.requester_id, v.requester_name, v.assignee_id, \
     v.assignee_name, v.created_at, v.updated_at, v.first_response_at, v.closed_at, \
     v.first_response_due, v.resolution_due, v.first_response_breach_recorded, \
     v.resolution_breach_recorded";

/// A row of [`LIST_COLUMNS`] (plus `unread` when asked for).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ListRow {
    pub(crate) ticket_id: Uuid,
    pub(crate) number: i64,
    pub(crate) title: String,
    pub(crate) status: String,
    pub(crate) priority: String,
    pub(crate) priority_rank: i16,
    pub(crate) category: String,
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
    #[sqlx(default)]
    pub(crate) unread: Option<bool>,
}

impl ListRow {
    pub(crate) fn sla(&self, now: DateTime<Utc>) -> Sla {
        SlaFacts {
            first_response_due: self.first_response_due,
            resolution_due: self.resolution_due,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            first_response_breach_recorded: self.first_response_breach_recorded,
            resolution_breach_recorded: self.resolution_breach_recorded,
        }
        .at(now)
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
            requester: self.requester(),
            assignee: self.assignee(),
            id: self.ticket_id,
            number: self.number,
            title: self.title,
            status: self.status,
            priority: self.priority,
            category: self.category,
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
            unread: self.unread,
        }
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Appends ` AND …` for every filter, and restricts requesters to their own tickets.
pub(crate) fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, f: &ListFilter, viewer: Viewer) {
    if !viewer.reads_everything {
        qb.push(" AND v.requester_id = ").push_bind(viewer.user_id);
    }
    for (column, values) in [
        ("v.status", &f.statuses),
        ("v.priority", &f.priorities),
        ("v.category", &f.categories),
        ("v.channel", &f.channels),
    ] {
        if !values.is_empty() {
            qb.push(" AND ")
                .push(column)
                .push(" = ANY(")
                .push_bind(values.clone())
                .push(")");
        }
    }
    if let Some(id) = f.assignee_id {
        qb.push(" AND v.assignee_id = ").push_bind(id);
    }
    if let Some(id) = f.requester_id {
        qb.push(" AND v.requester_id = ").push_bind(id);
    }
    if let Some(q) = &f.q {
        // Two trigram indexes on `ticket_search`, one per column, serve the two halves.
        let pattern = like_pattern(q);
        qb.push(
            " AND v.ticket_id IN (SELECT s.ticket_id FROM ticket_search s WHERE s.title ILIKE ",
        )
        .push_bind(pattern.clone())
        .push(" OR s.description ILIKE ")
        .push_bind(pattern)
        .push(")");
    }
    match f.involving {
        None => {}
        Some(Involvement::Requested) => {
            qb.push(" AND v.requester_id = ").push_bind(viewer.user_id);
        }
        Some(Involvement::Assigned) => {
            qb.push(" AND v.assignee_id = ").push_bind(viewer.user_id);
        }
        Some(Involvement::Either) => {
            qb.push(" AND (v.requester_id = ")
                .push_bind(viewer.user_id)
                .push(" OR v.assignee_id = ")
                .push_bind(viewer.user_id)
                .push(")");
        }
    }
    if let Some(unread) = f.unread {
        qb.push(" AND ");
        me::push_unread(qb, viewer);
        qb.push(" = ").push_bind(unread);
    }
}

/// A page of the tickets `viewer` may see, filtered and sorted.
pub async fn list(
    pool: &PgPool,
    query: &ListQuery,
    viewer: Viewer,
) -> Result<TicketPage, sqlx::Error> {
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(LIST_COLUMNS);
    if query.with_unread {
        qb.push(", ");
        me::push_unread(&mut qb, viewer);
        qb.push(" AS unread");
    }
    qb.push(" FROM ticket_view v");
    if query.sort.by_recency() {
        qb.push(" JOIN ticket_recency r ON r.ticket_id = v.ticket_id");
    }
    qb.push(" WHERE true");
    push_filters(&mut qb, &query.filter, viewer);
    if let Some(after) = &query.after {
        query.sort.push_after(&mut qb, after);
    }
    query.sort.push_order(&mut qb);
    // One more than the page: whether it exists says whether there is a next page.
    qb.push(" LIMIT ").push_bind(query.limit + 1);
    let mut rows: Vec<ListRow> = qb.build_query_as().fetch_all(pool).await?;
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
    use ticket_nats::envelope::{Actor, EnvelopeHeader};
    use ticket_nats::events::{
        AuthorRef, RequesterRef, SlaDue, TicketAssigned, TicketClosed, TicketCommented,
        TicketReopened, UserRef,
    };
    use ticket_nats::{Envelope, GENESIS_HASH};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn stored(seq: i64, time: &str, event: TicketEvent) -> StoredEvent {
        let actor = Actor::system();
        let mut envelope = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: Uuid::nil(),
                seq,
                time: time.parse().unwrap(),
                actor: &actor,
                correlation_id: "c",
            },
            &event,
            GENESIS_HASH,
        );
        envelope.position = seq + 100;
        StoredEvent {
            position: seq + 100,
            envelope,
            event,
        }
    }

    fn requester() -> RequesterRef {
        RequesterRef {
            id: Uuid::from_u128(1),
            name: "Rita".into(),
            email: "rita@example.com".into(),
        }
    }

    fn created() -> TicketCreated {
        TicketCreated {
            number: 7,
            title: "VPN".into(),
            description: "drops".into(),
            category: "network".into(),
            priority: "high".into(),
            channel: "api".into(),
            requester: requester(),
            sla: SlaDue {
                first_response_due: "2026-11-23T11:00:00.000Z".parse().unwrap(),
                resolution_due: "2026-11-23T14:00:00.000Z".parse().unwrap(),
            },
        }
    }

    fn comment(author: u128, role: &str) -> TicketEvent {
        TicketEvent::Commented(TicketCommented {
            comment_id: Uuid::from_u128(900 + author),
            author: AuthorRef {
                id: Uuid::from_u128(author),
                name: "someone".into(),
                role: role.into(),
            },
            body: "hello".into(),
            internal: false,
        })
    }

    #[test]
    fn the_fold_tracks_status_times_and_the_first_response() {
        let first = stored(
            1,
            "2026-11-23T10:00:00.000Z",
            TicketEvent::Created(created()),
        );
        let mut row = ViewRow::created(Uuid::nil(), &created(), &first);
        let mut comments = Vec::new();
        row.apply(
            &stored(2, "2026-11-23T10:01:00.000Z", comment(1, "requester")),
            &mut comments,
        );
        assert_eq!(row.first_response_at, None, "the requester's own comment");
        row.apply(
            &stored(3, "2026-11-23T10:02:00.000Z", comment(2, "agent")),
            &mut comments,
        );
        row.apply(
            &stored(
                4,
                "2026-11-23T10:03:00.000Z",
                TicketEvent::Assigned(TicketAssigned {
                    assignee: UserRef {
                        id: Uuid::from_u128(2),
                        name: "Ann".into(),
                    },
                    previous_assignee: None,
                }),
            ),
            &mut comments,
        );
        assert_eq!(row.status, IN_PROGRESS);
        row.apply(
            &stored(
                5,
                "2026-11-23T10:04:00.000Z",
                TicketEvent::Closed(TicketClosed {
                    resolution: Some("fixed".into()),
                }),
            ),
            &mut comments,
        );
        assert_eq!(row.closed_at, Some(t("2026-11-23T10:04:00Z")));
        row.apply(
            &stored(
                6,
                "2026-11-23T10:05:00.000Z",
                TicketEvent::Reopened(TicketReopened { reason: None }),
            ),
            &mut comments,
        );
        assert_eq!(comments.len(), 2);
        assert_eq!(row.first_response_at, Some(t("2026-11-23T10:02:00Z")));
        assert_eq!(row.status, IN_PROGRESS, "reopened with an assignee");
        assert_eq!(row.closed_at, None);
        assert_eq!(row.resolution.as_deref(), Some("fixed"));
        assert_eq!(row.updated_at, t("2026-11-23T10:05:00Z"));
        assert_eq!((row.version, row.last_position), (6, 106));
    }

    #[test]
    fn a_target_is_breached_when_recorded_late_or_overdue() {
        let facts = SlaFacts {
            first_response_due: t("2026-11-23T11:00:00Z"),
            resolution_due: t("2026-11-23T14:00:00Z"),
            first_response_at: None,
            closed_at: None,
            first_response_breach_recorded: false,
            resolution_breach_recorded: false,
        };
        let before = facts.at(t("2026-11-23T10:59:59Z"));
        assert!(!before.first_response_breached && !before.resolution_breached);
        let after = facts.at(t("2026-11-23T11:00:00Z"));
        assert!(after.first_response_breached && !after.resolution_breached);
        let answered_late = SlaFacts {
            first_response_at: Some(t("2026-11-23T11:30:00Z")),
            ..facts
        };
        assert!(
            answered_late
                .at(t("2026-11-23T10:00:00Z"))
                .first_response_breached
        );
        let closed_in_time = SlaFacts {
            first_response_at: Some(t("2026-11-23T10:30:00Z")),
            closed_at: Some(t("2026-11-23T13:00:00Z")),
            ..facts
        };
        let much_later = closed_in_time.at(t("2026-12-01T00:00:00Z"));
        assert!(!much_later.first_response_breached && !much_later.resolution_breached);
        let recorded = SlaFacts {
            resolution_breach_recorded: true,
            ..closed_in_time
        };
        assert!(recorded.at(t("2026-11-23T10:00:00Z")).resolution_breached);
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
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
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
