//! The typed ticket events: the `type` and `data` members of every envelope.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::Timestamp;
use crate::values::{Channel, Priority};

/// Version of the `data` shape of every event type; bumped, with an upcaster, when a shape changes.
pub const EVENT_VERSION: &str = "1.0";

/// The `aggregate_type` under which the store keeps tickets' events.
pub const TICKET_AGGREGATE: &str = "ticket";

/// A user as an event names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    /// The user's id.
    pub id: Uuid,
    /// The user's display name when the event was recorded.
    pub name: String,
}

/// The requester as `ticket.created` names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequesterRef {
    /// The requester's id.
    pub id: Uuid,
    /// The requester's display name.
    pub name: String,
    /// The requester's e-mail address; `null` for a requester known by phone only.
    pub email: Option<String>,
}

/// A comment's author, with the role they acted in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorRef {
    /// The author's id.
    pub id: Uuid,
    /// The author's display name.
    pub name: String,
    /// `requester`, `agent` or `admin`.
    pub role: String,
}

/// Due times of a ticket's two SLA targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaDue {
    /// When the first response by someone other than the requester is due.
    pub first_response_due: Timestamp,
    /// When the ticket should be closed.
    pub resolution_due: Timestamp,
}

/// `ticket.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketCreated {
    /// The short sequential number for humans (`#1042`).
    pub number: i64,
    /// The title, trimmed.
    pub title: String,
    /// The description.
    pub description: String,
    /// The category.
    pub category: String,
    /// Drives the SLA targets.
    pub priority: Priority,
    /// Where the ticket came from.
    pub channel: Channel,
    /// Who the ticket is for.
    pub requester: RequesterRef,
    /// The SLA due times, counted from creation.
    pub sla: SlaDue,
    /// The integration the ticket came through (intake), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<IntegrationRef>,
    /// Flat string metadata an integration attached (intake), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    /// Custom field values set on creation (CONTRACT 10), by field key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// The integration `ticket.created` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRef {
    /// The integration's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
}

/// `ticket.commented`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketCommented {
    /// The comment's id.
    pub comment_id: Uuid,
    /// Who wrote it.
    pub author: AuthorRef,
    /// The text.
    pub body: String,
    /// Internal comments are hidden from requesters.
    pub internal: bool,
    /// How the comment arrived, when it came by another way than the API (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Files on the comment, each with the SHA-256 of its content, so that the hash chain
    /// covers the files too. Absent on comments without files (and on every comment recorded
    /// before attachments existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

/// A file on a comment, as `ticket.commented` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    /// The attachment's id (`GET /attachments/{id}`).
    pub id: Uuid,
    /// The file name the upload declared, made safe to store and show.
    pub filename: String,
    /// The media type the upload declared (`application/octet-stream` if none).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of its content.
    pub sha256: String,
}

/// The way a comment came in from outside the API, and the message that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Via {
    /// `email`.
    pub channel: String,
    /// The `Message-ID` of the mail the comment came in (with its angle brackets stripped).
    pub message_id: String,
}

/// A team as an event names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamRef {
    /// The team's id.
    pub id: Uuid,
    /// The team's name when the event was recorded.
    pub name: String,
}

/// `ticket.assigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketAssigned {
    /// The assignee after: `null` for a ticket given to a team and no one in it yet.
    pub assignee: Option<UserRef>,
    /// The assignee before, if any.
    pub previous_assignee: Option<UserRef>,
    /// The ticket's team after, when it has one. Events recorded before teams have none, and
    /// serialize as they were stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamRef>,
}

/// One changed field of `ticket.updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldChange<T = String> {
    /// The value before.
    pub from: T,
    /// The value after.
    pub to: T,
}

/// The fields `ticket.updated` may change; absent ones did not change.
///
/// Not `deny_unknown_fields`: custom fields are flattened in as `fields.<key>` members, and serde
/// cannot combine the two; [`TicketChanges::custom`] refuses any other name instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketChanges {
    /// The title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<FieldChange>,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<FieldChange>,
    /// The category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<FieldChange>,
    /// The priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<FieldChange<Priority>>,
    /// Custom fields, each named `fields.<key>`; `null` for a value unset before or after.
    #[serde(flatten, deserialize_with = "custom_changes")]
    pub custom: std::collections::BTreeMap<String, FieldChange<serde_json::Value>>,
}

/// The prefix of a custom field's member in [`TicketChanges`].
pub const CUSTOM_FIELD_PREFIX: &str = "fields.";

fn custom_changes<'de, D>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, FieldChange<serde_json::Value>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let map = std::collections::BTreeMap::<String, FieldChange<serde_json::Value>>::deserialize(
        deserializer,
    )?;
    if let Some(name) = map.keys().find(|k| !k.starts_with(CUSTOM_FIELD_PREFIX)) {
        return Err(serde::de::Error::custom(format!("unknown field `{name}`")));
    }
    Ok(map)
}

impl TicketChanges {
    /// True when no field changed.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.priority.is_none()
            && self.custom.is_empty()
    }

    /// The custom field changes by bare key (without `fields.`).
    pub fn custom_by_key(&self) -> impl Iterator<Item = (&str, &FieldChange<serde_json::Value>)> {
        self.custom
            .iter()
            .map(|(k, c)| (k.strip_prefix(CUSTOM_FIELD_PREFIX).unwrap_or(k), c))
    }
}

/// `ticket.updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketUpdated {
    /// Only the fields that changed.
    pub changes: TicketChanges,
    /// The recomputed due times, present when the priority changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<SlaDue>,
}

/// `ticket.closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketClosed {
    /// How it was resolved, if said.
    pub resolution: Option<String>,
}

/// `ticket.reopened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketReopened {
    /// Why, if said.
    pub reason: Option<String>,
}

/// `ticket.rated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketRated {
    /// 1 to 5.
    pub score: u8,
    /// The requester's words, if any.
    pub comment: Option<String>,
    /// The assignee when the ticket was rated.
    pub assignee: Option<UserRef>,
}

/// Which SLA target a `ticket.sla_breached` or `ticket.sla_warning` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    /// The first response by someone other than the requester.
    FirstResponse,
    /// Closing the ticket.
    Resolution,
    /// The next public staff reply after a requester's comment (CONTRACT 9).
    NextResponse,
}

/// `ticket.sla_breached`, recorded by the engine itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaBreached {
    /// The target that was missed.
    pub target: SlaTarget,
    /// When it was due.
    pub due_at: Timestamp,
}

/// `ticket.sla_warning`, recorded by the engine itself once 80 % of a target's time has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaWarning {
    /// The target about to be missed.
    pub target: SlaTarget,
    /// When it is due.
    pub due_at: Timestamp,
}

/// `ticket.pending`: staff asked the requester for information (CONTRACT 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPending {
    /// Why, if said.
    pub reason: Option<String>,
    /// When the engine resumes the ticket by itself, if set.
    pub until: Option<Timestamp>,
}

/// Who ended a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumedBy {
    /// The requester commented.
    Requester,
    /// An agent or admin resumed it.
    Staff,
    /// The engine's timer, at the pause's `until`.
    Timer,
}

/// `ticket.resumed`: the ticket left `pending`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketResumed {
    /// Who ended the pause.
    pub by: ResumedBy,
    /// The due times after the pause, moved later by the time spent pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<SlaDue>,
}

/// `ticket.tagged`: the tags a `PUT /tickets/{id}/tags` added and removed, each sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketTagged {
    /// Tags the ticket did not carry before.
    pub added: Vec<String>,
    /// Tags the ticket no longer carries.
    pub removed: Vec<String>,
}

/// How a linked ticket relates to the ticket whose event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// About the same matter.
    Related,
    /// This ticket repeats the other.
    DuplicateOf,
    /// The other ticket is part of this one.
    ParentOf,
    /// This ticket is part of the other.
    ChildOf,
}

impl LinkKind {
    /// Every kind, in the contract's order.
    pub const ALL: [LinkKind; 4] = [
        LinkKind::Related,
        LinkKind::DuplicateOf,
        LinkKind::ParentOf,
        LinkKind::ChildOf,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Related => "related",
            LinkKind::DuplicateOf => "duplicate_of",
            LinkKind::ParentOf => "parent_of",
            LinkKind::ChildOf => "child_of",
        }
    }

    /// The kind the other ticket records: `parent_of` ↔ `child_of`; `related` and
    /// `duplicate_of` as `related` (the original is not a duplicate of its duplicate).
    pub fn inverse(self) -> LinkKind {
        match self {
            LinkKind::ParentOf => LinkKind::ChildOf,
            LinkKind::ChildOf => LinkKind::ParentOf,
            LinkKind::Related | LinkKind::DuplicateOf => LinkKind::Related,
        }
    }
}

/// `ticket.linked` / `ticket.unlinked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketLinked {
    /// How the other ticket relates to this one.
    pub kind: LinkKind,
    /// The other ticket.
    pub ticket_id: Uuid,
}

/// `ticket.merged`: this ticket was merged into another (and is closed next).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketMerged {
    /// The ticket it lives on in.
    pub into: Uuid,
}

/// `ticket.merged_from`: another ticket was merged into this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketMergedFrom {
    /// The merged ticket.
    pub ticket_id: Uuid,
    /// Its short number.
    pub number: i64,
}

/// Every event a ticket can record. Serialized adjacently tagged, so that an envelope's
/// `type` and `data` members are exactly this enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TicketEvent {
    /// A ticket was opened.
    #[serde(rename = "ticket.created")]
    Created(TicketCreated),
    /// Someone commented.
    #[serde(rename = "ticket.commented")]
    Commented(TicketCommented),
    /// The ticket got a (new) assignee.
    #[serde(rename = "ticket.assigned")]
    Assigned(TicketAssigned),
    /// Title, description, category or priority changed.
    #[serde(rename = "ticket.updated")]
    Updated(TicketUpdated),
    /// The ticket was closed.
    #[serde(rename = "ticket.closed")]
    Closed(TicketClosed),
    /// A closed ticket was reopened.
    #[serde(rename = "ticket.reopened")]
    Reopened(TicketReopened),
    /// The requester rated the handling of a closed ticket.
    #[serde(rename = "ticket.rated")]
    Rated(TicketRated),
    /// An SLA target passed unmet.
    #[serde(rename = "ticket.sla_breached")]
    SlaBreached(SlaBreached),
    /// Staff asked the requester for information; SLA clocks pause.
    #[serde(rename = "ticket.pending")]
    Pending(TicketPending),
    /// The ticket left `pending`.
    #[serde(rename = "ticket.resumed")]
    Resumed(TicketResumed),
    /// 80 % of an SLA target's time passed with the target still awaited.
    #[serde(rename = "ticket.sla_warning")]
    SlaWarning(SlaWarning),
    /// The ticket's tags changed.
    #[serde(rename = "ticket.tagged")]
    Tagged(TicketTagged),
    /// The ticket was linked to another.
    #[serde(rename = "ticket.linked")]
    Linked(TicketLinked),
    /// A link to another ticket was removed.
    #[serde(rename = "ticket.unlinked")]
    Unlinked(TicketLinked),
    /// The ticket was merged into another.
    #[serde(rename = "ticket.merged")]
    Merged(TicketMerged),
    /// Another ticket was merged into this one.
    #[serde(rename = "ticket.merged_from")]
    MergedFrom(TicketMergedFrom),
}

impl TicketEvent {
    /// Every event type, in the order of the enum.
    pub const TYPES: [&'static str; 16] = [
        "ticket.created",
        "ticket.commented",
        "ticket.assigned",
        "ticket.updated",
        "ticket.closed",
        "ticket.reopened",
        "ticket.rated",
        "ticket.sla_breached",
        "ticket.pending",
        "ticket.resumed",
        "ticket.sla_warning",
        "ticket.tagged",
        "ticket.linked",
        "ticket.unlinked",
        "ticket.merged",
        "ticket.merged_from",
    ];

    /// The CloudEvents `type`, e.g. `ticket.commented`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => Self::TYPES[0],
            Self::Commented(_) => Self::TYPES[1],
            Self::Assigned(_) => Self::TYPES[2],
            Self::Updated(_) => Self::TYPES[3],
            Self::Closed(_) => Self::TYPES[4],
            Self::Reopened(_) => Self::TYPES[5],
            Self::Rated(_) => Self::TYPES[6],
            Self::SlaBreached(_) => Self::TYPES[7],
            Self::Pending(_) => Self::TYPES[8],
            Self::Resumed(_) => Self::TYPES[9],
            Self::SlaWarning(_) => Self::TYPES[10],
            Self::Tagged(_) => Self::TYPES[11],
            Self::Linked(_) => Self::TYPES[12],
            Self::Unlinked(_) => Self::TYPES[13],
            Self::Merged(_) => Self::TYPES[14],
            Self::MergedFrom(_) => Self::TYPES[15],
        }
    }

    /// The last part of the NATS subject, e.g. `commented`.
    pub fn kind(&self) -> &'static str {
        kind_of(self.event_type())
    }

    /// The `data` member alone.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            // An adjacently tagged enum of structs always serializes to an object.
            _ => serde_json::Value::Null,
        }
    }

    /// Rebuilds an event from its stored `type` and `data`.
    pub fn from_parts(
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Self::from_data(event_type, &data)
    }

    /// Rebuilds an event from its `type` and a borrowed `data`. Picks the variant by the type
    /// first: the derived deserializer of an adjacently tagged enum given `data` before `type`
    /// (as an object's sorted keys come) buffers the whole data and reads it twice.
    pub fn from_data(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Self::from_deserializer(event_type, data)
    }

    /// Rebuilds an event from its `type` and the JSON text of its `data`, with no
    /// `serde_json::Value` in between (a rebuild types millions of them).
    pub fn from_json(event_type: &str, data: &str) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(data);
        let event = Self::from_deserializer(event_type, &mut deserializer)?;
        deserializer.end()?;
        Ok(event)
    }

    /// [`Self::from_data`] from any deserializer of the `data`.
    fn from_deserializer<'de, D: serde::Deserializer<'de>>(
        event_type: &str,
        data: D,
    ) -> Result<Self, D::Error> {
        Ok(match event_type {
            "ticket.created" => Self::Created(TicketCreated::deserialize(data)?),
            "ticket.commented" => Self::Commented(TicketCommented::deserialize(data)?),
            "ticket.assigned" => Self::Assigned(TicketAssigned::deserialize(data)?),
            "ticket.updated" => Self::Updated(TicketUpdated::deserialize(data)?),
            "ticket.closed" => Self::Closed(TicketClosed::deserialize(data)?),
            "ticket.reopened" => Self::Reopened(TicketReopened::deserialize(data)?),
            "ticket.rated" => Self::Rated(TicketRated::deserialize(data)?),
            "ticket.sla_breached" => Self::SlaBreached(SlaBreached::deserialize(data)?),
            "ticket.pending" => Self::Pending(TicketPending::deserialize(data)?),
            "ticket.resumed" => Self::Resumed(TicketResumed::deserialize(data)?),
            "ticket.sla_warning" => Self::SlaWarning(SlaWarning::deserialize(data)?),
            "ticket.tagged" => Self::Tagged(TicketTagged::deserialize(data)?),
            "ticket.linked" => Self::Linked(TicketLinked::deserialize(data)?),
            "ticket.unlinked" => Self::Unlinked(TicketLinked::deserialize(data)?),
            "ticket.merged" => Self::Merged(TicketMerged::deserialize(data)?),
            "ticket.merged_from" => Self::MergedFrom(TicketMergedFrom::deserialize(data)?),
            other => return Err(serde::de::Error::unknown_variant(other, &Self::TYPES)),
        })
    }

    /// True for a comment hidden from requesters.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Commented(c) if c.internal)
    }
}

/// `ticket.commented` → `commented`.
pub fn kind_of(event_type: &str) -> &str {
    event_type.strip_prefix("ticket.").unwrap_or(event_type)
}

#[cfg(feature = "cqrs")]
impl cqrs_es::DomainEvent for TicketEvent {
    fn event_type(&self) -> String {
        TicketEvent::event_type(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}
