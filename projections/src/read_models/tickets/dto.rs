//! What the ticket queries answer with: the serde structs the HTTP layer serializes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
pub use ticket_nats::events::TeamRef;
use ticket_nats::{Channel, Priority, Status, Timestamp};
use uuid::Uuid;

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
    /// Wall-clock seconds spent pending, the pause in force included.
    pub paused_seconds: i64,
    /// When the next public staff reply is due, while a requester's comment waits for one
    /// and the policy has a next-response target; `null` otherwise. Filled by the engine,
    /// which holds the policy in force (see [`SlaClockFacts`]).
    pub next_response_due: Option<Timestamp>,
}

/// What a ticket's SLA clocks are computed from. The read model keeps these facts of the
/// events; the engine turns them into due times with the policy and calendar in force, so a
/// policy or calendar edit shows at once on every open ticket (CONTRACT 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClockFacts {
    /// The facts `Sla` is decided from, with the due times the events recorded.
    pub facts: SlaFacts,
    /// The priority whose policy counts.
    pub priority: Priority,
    /// When the ticket was created.
    pub created_at: DateTime<Utc>,
    /// Every pause that ended, `[start, end]`, in order.
    pub pauses: Vec<[DateTime<Utc>; 2]>,
    /// When the pause in force ends by itself, if it does.
    pub pending_until: Option<DateTime<Utc>>,
    /// The requester's comment that started the next-response clock, while it runs.
    pub next_response_since: Option<DateTime<Utc>>,
    /// `ticket.sla_breached` was recorded for the next response of the clock running now.
    pub next_response_breach_recorded: bool,
    /// `ticket.sla_warning` was recorded for the first response.
    pub first_response_warning_recorded: bool,
    /// `ticket.sla_warning` was recorded for the resolution.
    pub resolution_warning_recorded: bool,
    /// `ticket.sla_warning` was recorded for the next response of the clock running now.
    pub next_response_warning_recorded: bool,
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
    /// Files on it (`GET /attachments/{id}`), each with its SHA-256; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ticket_nats::events::AttachmentRef>,
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
    pub priority: Priority,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// Who the ticket is for.
    pub requester: Person,
    /// Who works on it.
    pub assignee: Option<Person>,
    /// The team it is given to.
    pub team: Option<TeamRef>,
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
    /// Flat string metadata an integration attached at intake (empty otherwise).
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The tags it carries, sorted.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its links to other tickets, in the order they were made (a requester sees only those
    /// to tickets of theirs).
    #[serde(default)]
    pub links: Vec<Link>,
    /// The ticket it was merged into, if it was.
    #[serde(default)]
    pub merged_into: Option<Uuid>,
    /// Custom field values by key (a requester reads only those visible to requesters).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
    /// What the SLA clocks are computed from; not part of the answer.
    #[serde(skip)]
    pub clock: Option<SlaClockFacts>,
}

/// A link of a ticket to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// How the other ticket relates to this one.
    pub kind: ticket_nats::events::LinkKind,
    /// The other ticket.
    pub ticket_id: Uuid,
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
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Category.
    pub category: String,
    /// Where the ticket came from.
    pub channel: Channel,
    /// Who the ticket is for.
    pub requester: Person,
    /// Who works on it.
    pub assignee: Option<Person>,
    /// The team it is given to.
    pub team: Option<TeamRef>,
    /// Time of creation.
    pub created_at: Timestamp,
    /// Time of the latest event.
    pub updated_at: Timestamp,
    /// Due times and breaches.
    pub sla: Sla,
    /// The tags it carries, sorted.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `GET /me/tickets` only: something the caller has not read happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<bool>,
    /// What the SLA clocks are computed from; not part of the answer.
    #[serde(skip)]
    pub clock: Option<SlaClockFacts>,
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
    /// When the pause in force began, while the ticket is pending.
    pub pending_since: Option<DateTime<Utc>>,
    /// Wall-clock seconds spent pending over every pause that ended.
    pub paused_seconds: i64,
}

impl SlaFacts {
    /// The first response came in time (the generated column `first_response_met` of
    /// `ticket_view` says the same).
    pub fn first_response_met(&self) -> bool {
        !self.first_response_breach_recorded
            && self
                .first_response_at
                .is_some_and(|at| at <= self.first_response_due)
    }

    /// The ticket is closed and its latest close came in time (as `resolution_met`).
    pub fn resolution_met(&self) -> bool {
        !self.resolution_breach_recorded
            && self.closed_at.is_some_and(|at| at <= self.resolution_due)
    }

    /// The SLA as it stands at `now`. A target is breached when the engine recorded
    /// `ticket.sla_breached` for it, when it was met late, or when its due time has passed
    /// while it is still awaited; the last case is decided here, at query time, so that a view
    /// is right between the engine's timer sweeps. As in the aggregate, the first response is
    /// not awaited while the ticket is closed. While the ticket is pending its clocks stand
    /// still at the pause's start: nothing becomes breached during a pause (the due times move
    /// later by its length when it ends).
    ///
    /// [`crate::read_models::stats`] states the same rule in SQL (`FIRST_RESPONSE_BREACHED`,
    /// `RESOLUTION_BREACHED`).
    pub fn at(&self, now: DateTime<Utc>) -> Sla {
        let clock = self.pending_since.map_or(now, |since| since.min(now));
        let paused_now = self
            .pending_since
            .map_or(0, |since| (now - since).num_seconds().max(0));
        let now = clock;
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
            paused_seconds: self.paused_seconds.saturating_add(paused_now),
            next_response_due: None,
        }
    }
}

pub(super) fn person(id: Option<Uuid>, name: Option<String>) -> Option<Person> {
    id.map(|id| Person {
        id,
        name: name.unwrap_or_default(),
    })
}

/// The team a ticket is given to, from its id and recorded name.
pub(super) fn team(id: Option<Uuid>, name: Option<String>) -> Option<TeamRef> {
    id.map(|id| TeamRef {
        id,
        name: name.unwrap_or_default(),
    })
}
