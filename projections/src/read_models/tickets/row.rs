//! A ticket's `ticket_view` row and how each event changes it, its comments' rows, and what
//! the statistics and the users' tables count of it: the ticket view projection's model
//! ([`super::projector`] keeps the tables, [`super::batch`] folds a batch of events into rows).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use ticket_nats::events::{SlaTarget, TicketCreated};
use ticket_nats::{Channel, Priority, Status, TicketEvent};
use uuid::Uuid;

use super::business::{BusinessSpan, BusinessTime};
use super::dto::*;
use super::mine::{Actors, MyTicket};
use super::requester_chain::Opened;
use super::tally::TicketFacts;
use crate::stored::StoredEvent;

pub(super) mod copy;

/// The projection's name (its checkpoint key).
pub const NAME: &str = "ticket_view";

/// One `ticket_view` row: the projection's state of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub(crate) struct ViewRow {
    ticket_id: Uuid,
    number: i64,
    title: String,
    description: String,
    category: String,
    #[sqlx(try_from = "String")]
    priority: Priority,
    #[sqlx(try_from = "String")]
    channel: Channel,
    #[sqlx(try_from = "String")]
    status: Status,
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
    metadata: Option<sqlx::types::Json<BTreeMap<String, String>>>,
    #[serde(flatten)]
    #[sqlx(flatten)]
    actors: Actors,
    /// The team the ticket is given to.
    #[serde(default)]
    team_id: Option<Uuid>,
    /// Its name as the event that gave the ticket to it recorded it.
    #[serde(default)]
    team_name: Option<String>,
    pending_since: Option<DateTime<Utc>>,
    pending_until: Option<DateTime<Utc>>,
    paused_seconds: i64,
    first_response_warning_recorded: bool,
    resolution_warning_recorded: bool,
    /// Sorted, without repeats.
    tags: Vec<String>,
    /// In the order they were made; one per other ticket.
    links: Json<Vec<Link>>,
    merged_into: Option<Uuid>,
    /// Custom field values by key.
    fields: Json<BTreeMap<String, serde_json::Value>>,
    /// `key=value` of each custom field value, which the list filter matches (see `set_fields`).
    field_values: Vec<String>,
    /// Every pause that ended, `[start, end]`, in order: the business-time clock leaves them out.
    #[serde(default)]
    pauses: Json<Vec<[DateTime<Utc>; 2]>>,
    /// The requester's comment that started the next-response clock, while it runs.
    #[serde(default)]
    next_response_since: Option<DateTime<Utc>>,
    #[serde(default)]
    next_response_warning_recorded: bool,
    #[serde(default)]
    next_response_breach_recorded: bool,
    /// Business milliseconds from creation to the first response, once there is one.
    first_response_business_ms: Option<i64>,
    /// Business milliseconds from creation to the latest close, while closed.
    resolution_business_ms: Option<i64>,
}

/// The columns of [`ViewRow`], in its order (generated columns excluded).
pub(super) const VIEW_COLUMNS: [&str; 51] = [
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
    "metadata",
    "last_actor_id",
    "last_actor_position",
    "other_actor_position",
    "public_actor_id",
    "public_actor_position",
    "public_other_position",
    "team_id",
    "team_name",
    "pending_since",
    "pending_until",
    "paused_seconds",
    "first_response_warning_recorded",
    "resolution_warning_recorded",
    "tags",
    "links",
    "merged_into",
    "fields",
    "field_values",
    "pauses",
    "first_response_business_ms",
    "resolution_business_ms",
    "next_response_since",
    "next_response_warning_recorded",
    "next_response_breach_recorded",
];

pub(super) static SELECT_ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM ticket_view WHERE ticket_id = ANY($1)",
        VIEW_COLUMNS.join(", ")
    )
});

/// One `ticket_search` row.
#[derive(Debug, Serialize)]
pub(super) struct SearchRow<'a> {
    pub(super) ticket_id: Uuid,
    pub(super) title: &'a str,
    pub(super) description: &'a str,
    pub(super) created_at: DateTime<Utc>,
}

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
    /// Absent in rows read from before the column existed.
    #[serde(default)]
    attachments: Vec<ticket_nats::events::AttachmentRef>,
}

impl CommentRow {
    pub(super) fn comment_id(&self) -> Uuid {
        self.comment_id
    }
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
            attachments: row.attachments,
        }
    }
}

impl ViewRow {
    pub(super) fn created(ticket_id: Uuid, e: &TicketCreated, stored: &StoredEvent) -> Self {
        let at = stored.envelope.time.as_datetime();
        Self {
            ticket_id,
            number: e.number,
            title: e.title.clone(),
            description: e.description.clone(),
            category: e.category.clone(),
            priority: e.priority,
            channel: e.channel,
            status: Status::Open,
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
            metadata: e.metadata.clone().map(sqlx::types::Json),
            actors: Actors::default().after(stored),
            team_id: None,
            team_name: None,
            pending_since: None,
            pending_until: None,
            paused_seconds: 0,
            first_response_warning_recorded: false,
            resolution_warning_recorded: false,
            tags: Vec::new(),
            links: Json(Vec::new()),
            merged_into: None,
            fields: Json(BTreeMap::new()),
            field_values: Vec::new(),
            pauses: Json(Vec::new()),
            first_response_business_ms: None,
            resolution_business_ms: None,
            next_response_since: None,
            next_response_warning_recorded: false,
            next_response_breach_recorded: false,
        }
        .with_fields(e.fields.clone().unwrap_or_default())
    }

    pub(super) fn ticket_id(&self) -> Uuid {
        self.ticket_id
    }

    /// The ticket's version: the `seq` of its latest event applied.
    pub(super) fn version(&self) -> i64 {
        self.version
    }

    /// The ticket as its requester's chain records it.
    pub(super) fn opened(&self) -> Opened {
        (self.ticket_id, self.requester_id, self.created_at)
    }

    /// The ticket's `ticket_search` row.
    pub(super) fn search_row(&self) -> SearchRow<'_> {
        SearchRow {
            ticket_id: self.ticket_id,
            title: &self.title,
            description: &self.description,
            created_at: self.created_at,
        }
    }

    fn with_fields(mut self, fields: BTreeMap<String, serde_json::Value>) -> Self {
        self.set_fields(fields);
        self
    }

    fn set_fields(&mut self, fields: BTreeMap<String, serde_json::Value>) {
        self.field_values = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", filter_text(v)))
            .collect();
        self.fields = Json(fields);
    }

    /// Applies an event after `ticket.created`; new comments go to `comments`. The status
    /// rules are the aggregate's (CONTRACT 1).
    pub(super) fn apply(&mut self, stored: &StoredEvent, comments: &mut Vec<CommentRow>) {
        let at = stored.envelope.time.as_datetime();
        match &stored.event {
            // A second creation cannot be stored (the aggregate refuses it); nothing to do.
            TicketEvent::Created(_) => {}
            TicketEvent::Commented(e) => {
                // A requester-role author here is the requester, or a user merged into them
                // (CONTRACT 7): the same person, not a response.
                let by_requester = e.author.id == self.requester_id || e.author.role == "requester";
                if !by_requester && self.first_response_at.is_none() {
                    self.first_response_at = Some(at);
                }
                // The aggregate's next-response clock: started by the requester's public
                // comment unless one runs, stopped by a public staff reply.
                if !e.internal {
                    if !by_requester {
                        self.next_response_since = None;
                    } else if self.next_response_since.is_none() {
                        self.next_response_since = Some(at);
                        self.next_response_warning_recorded = false;
                        self.next_response_breach_recorded = false;
                    }
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
                    attachments: e.attachments.clone(),
                });
            }
            TicketEvent::Assigned(e) => {
                if let Some(team) = &e.team {
                    self.team_id = Some(team.id);
                    self.team_name = Some(team.name.clone());
                }
                self.assignee_id = e.assignee.as_ref().map(|a| a.id);
                self.assignee_name = e.assignee.as_ref().map(|a| a.name.clone());
                // A ticket with a team and no one in it yet stays open.
                if self.status == Status::Open && self.assignee_id.is_some() {
                    self.status = Status::InProgress;
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
                    self.priority = c.to;
                    // Counted again on the new priority's calendar (`count_business`): a
                    // ticket's calendar is its priority's, from its creation (CONTRACT 9).
                    self.first_response_business_ms = None;
                    self.resolution_business_ms = None;
                }
                if !e.changes.custom.is_empty() {
                    let mut fields = self.fields.0.clone();
                    for (key, c) in e.changes.custom_by_key() {
                        if c.to.is_null() {
                            fields.remove(key);
                        } else {
                            fields.insert(key.to_string(), c.to.clone());
                        }
                    }
                    self.set_fields(fields);
                }
                if let Some(sla) = &e.sla {
                    self.first_response_due = sla.first_response_due.as_datetime();
                    self.resolution_due = sla.resolution_due.as_datetime();
                }
            }
            TicketEvent::Closed(e) => {
                self.end_pause(at);
                self.next_response_since = None;
                self.status = Status::Closed;
                self.closed_at = Some(at);
                // Counted again for this close (`count_business`).
                self.resolution_business_ms = None;
                self.resolution = e.resolution.clone();
            }
            TicketEvent::Reopened(_) => {
                self.status = if self.assignee_id.is_some() {
                    Status::InProgress
                } else {
                    Status::Open
                };
                // The resolution stays until the next close, as in the aggregate.
                self.closed_at = None;
                self.resolution_business_ms = None;
            }
            TicketEvent::Rated(e) => {
                self.rating_score = Some(i16::from(e.score));
                self.rating_comment = e.comment.clone();
                self.rated_at = Some(at);
            }
            TicketEvent::SlaBreached(e) => match e.target {
                SlaTarget::FirstResponse => self.first_response_breach_recorded = true,
                SlaTarget::Resolution => self.resolution_breach_recorded = true,
                SlaTarget::NextResponse => self.next_response_breach_recorded = true,
            },
            TicketEvent::SlaWarning(e) => match e.target {
                SlaTarget::FirstResponse => self.first_response_warning_recorded = true,
                SlaTarget::Resolution => self.resolution_warning_recorded = true,
                SlaTarget::NextResponse => self.next_response_warning_recorded = true,
            },
            TicketEvent::Pending(e) => {
                self.status = Status::Pending;
                self.pending_since = Some(at);
                self.pending_until = e.until.map(|u| u.as_datetime());
            }
            TicketEvent::Resumed(e) => {
                self.end_pause(at);
                self.status = if self.assignee_id.is_some() {
                    Status::InProgress
                } else {
                    Status::Open
                };
                if let Some(sla) = &e.sla {
                    self.first_response_due = sla.first_response_due.as_datetime();
                    self.resolution_due = sla.resolution_due.as_datetime();
                }
            }
            TicketEvent::Tagged(e) => {
                self.tags.retain(|t| !e.removed.contains(t));
                self.tags.extend(e.added.iter().cloned());
                self.tags.sort_unstable();
                self.tags.dedup();
            }
            TicketEvent::Linked(e) => {
                let link = Link {
                    kind: e.kind,
                    ticket_id: e.ticket_id,
                };
                match self.links.0.iter_mut().find(|l| l.ticket_id == e.ticket_id) {
                    Some(existing) => *existing = link,
                    None => self.links.0.push(link),
                }
            }
            TicketEvent::Unlinked(e) => self.links.0.retain(|l| l.ticket_id != e.ticket_id),
            TicketEvent::Merged(e) => self.merged_into = Some(e.into),
            // Its note arrives as the `ticket.commented` after it; the history names the source.
            TicketEvent::MergedFrom(_) => {}
        }
        self.updated_at = at;
        self.version = stored.envelope.seq;
        self.last_position = stored.position;
        self.actors = self.actors.after(stored);
    }

    /// The rows of `my_tickets` this ticket makes: its requester's and its assignee's.
    pub(super) fn mine(&self) -> Vec<MyTicket> {
        let row = |user_id: Uuid| MyTicket {
            user_id,
            ticket_id: self.ticket_id,
            requested: user_id == self.requester_id,
            assigned: self.assignee_id == Some(user_id),
            status: self.status,
            created_at: self.created_at,
            seen: self.actors.seen_by(user_id),
            seen_public: self.actors.public_seen_by(user_id),
        };
        let mut rows = vec![row(self.requester_id)];
        if let Some(assignee) = self.assignee_id.filter(|a| *a != self.requester_id) {
            rows.push(row(assignee));
        }
        rows
    }

    /// Ends the pause in force at `at`, as the aggregate does: its length joins
    /// `paused_seconds` and moves the due times later (`ticket.resumed` then states them too).
    fn end_pause(&mut self, at: DateTime<Utc>) {
        if let Some(since) = self.pending_since.take() {
            let paused = (at - since).num_seconds().max(0);
            let by = chrono::TimeDelta::seconds(paused);
            self.pauses.0.push([since, at.max(since)]);
            self.paused_seconds += paused;
            self.first_response_due += by;
            self.resolution_due += by;
        }
        self.pending_until = None;
    }

    /// Counts the business time of a first response or close not counted yet, on the calendar
    /// of the ticket's priority in force now. Once counted, a figure stays (the tally is a
    /// function of the row) until a priority change clears both, or a reopen or a new close
    /// the resolution's; an SLA edit counts them again ([`super::due_times`]).
    ///
    /// Called after each event, so that a figure is counted on the ticket's current priority
    /// however the events were batched.
    pub(super) fn count_business(&mut self, clock: &dyn BusinessTime) {
        let first_response = self
            .first_response_at
            .filter(|_| self.first_response_business_ms.is_none());
        let resolution = self
            .closed_at
            .filter(|_| self.resolution_business_ms.is_none());
        if first_response.is_none() && resolution.is_none() {
            return;
        }
        let span = BusinessSpan::new(
            clock,
            self.priority,
            self.created_at,
            &self.pauses.0,
            self.pending_since,
        );
        if let Some(at) = first_response {
            self.first_response_business_ms = Some(span.to(at));
        }
        if let Some(at) = resolution {
            self.resolution_business_ms = Some(span.to(at));
        }
    }

    /// What the statistics count of this ticket.
    pub(super) fn facts(&self) -> TicketFacts {
        TicketFacts {
            created_at: self.created_at,
            status: self.status,
            priority: self.priority,
            category: self.category.clone(),
            channel: self.channel,
            assignee_id: self.assignee_id,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            rating_score: self.rating_score,
            first_response_due: self.first_response_due,
            resolution_due: self.resolution_due,
            first_response_breach_recorded: self.first_response_breach_recorded,
            resolution_breach_recorded: self.resolution_breach_recorded,
            requester_id: self.requester_id,
            pending_since: self.pending_since,
            paused_seconds: self.paused_seconds,
            first_response_business_ms: self.first_response_business_ms,
            resolution_business_ms: self.resolution_business_ms,
            team_id: self.team_id,
        }
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

    /// What the engine computes the ticket's SLA clocks from (see [`SlaClockFacts`]).
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

    pub(super) fn into_view(self, comments: Vec<CommentRow>, now: DateTime<Utc>) -> TicketView {
        let sla = self.sla_facts().at(now);
        let clock = self.clock_facts();
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
            team: team(self.team_id, self.team_name),
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
            first_response_at: self.first_response_at.map(Into::into),
            closed_at: self.closed_at.map(Into::into),
            resolution: self.resolution,
            rating,
            sla,
            comments: comments.into_iter().map(Comment::from).collect(),
            version: self.version,
            metadata: self.metadata.map(|m| m.0).unwrap_or_default(),
            tags: self.tags,
            links: self.links.0,
            merged_into: self.merged_into,
            fields: self.fields.0,
            clock: Some(clock),
        }
    }
}

/// The text a custom field value is filtered by (`GET /tickets?field.<key>=`): a string as it
/// is, any other value as its JSON.
pub fn filter_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ticket an event is of, by its subject.
pub(super) fn ticket_id(stored: &StoredEvent) -> Option<Uuid> {
    let id = Uuid::parse_str(&stored.envelope.subject).ok();
    if id.is_none() {
        tracing::warn!(subject = %stored.envelope.subject, "event of a subject that is not a ticket id");
    }
    id
}

#[cfg(test)]
#[path = "row_tests.rs"]
mod tests;
