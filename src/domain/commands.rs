//! What callers ask of a ticket. Commands arrive checked (see `values`) and with every outside
//! fact resolved (users looked up, number taken, clock read), so the aggregate stays pure.

use ticket_nats::events::{
    AttachmentRef, IntegrationRef, LinkKind, RequesterRef, SlaTarget, TeamRef, UserRef, Via,
};
use ticket_nats::Timestamp;
use uuid::Uuid;

use super::tags::Tag;
use super::values::{Channel, Priority, Role, Title};

/// The user issuing a command; its events record them as their actor (the envelope's
/// `ticket_nats::Actor`, which can also be the engine itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// User id (the token's `sub`).
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Role the user acts in.
    pub role: Role,
    /// Users merged into this one whose tickets this command may touch as theirs (looked up in
    /// the directory by whoever issues the command; empty for everyone else).
    pub stands_for: Vec<Uuid>,
}

/// Every command a ticket accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketCommand {
    /// `POST /tickets`.
    CreateTicket(CreateTicket),
    /// `POST /tickets/{id}/comments`.
    CommentOnTicket(CommentOnTicket),
    /// `POST /tickets/{id}/assign`.
    AssignTicket(AssignTicket),
    /// `PATCH /tickets/{id}`.
    UpdateTicket(UpdateTicket),
    /// `POST /tickets/{id}/close`.
    CloseTicket(CloseTicket),
    /// `POST /tickets/{id}/reopen`.
    ReopenTicket(ReopenTicket),
    /// `POST /tickets/{id}/rating`.
    RateTicket(RateTicket),
    /// Issued by the engine's SLA timer, never by a user.
    RecordSlaBreach(RecordSlaBreach),
    /// `POST /tickets/{id}/pending`.
    PendTicket(PendTicket),
    /// `POST /tickets/{id}/resume`.
    ResumeTicket(ResumeTicket),
    /// Issued by the engine's timer at a pause's `until`, never by a user.
    ResumeAtUntil(ResumeAtUntil),
    /// Issued by the engine's SLA timer at 80 % of a target, never by a user.
    RecordSlaWarning(RecordSlaWarning),
    /// `PUT /tickets/{id}/tags`.
    TagTicket(TagTicket),
    /// `POST /tickets/{id}/links` (and its inverse on the other ticket).
    LinkTicket(LinkTicket),
    /// `DELETE /tickets/{id}/links/{other}` (and its inverse on the other ticket).
    UnlinkTicket(UnlinkTicket),
    /// `POST /tickets/{id}/merge`, on the merged ticket.
    MergeTicket(MergeTicket),
    /// `POST /tickets/{id}/merge`, on the target.
    MergeFrom(MergeFrom),
}

/// Opens a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTicket {
    /// The short number taken for it.
    pub number: i64,
    /// The checked title.
    pub title: Title,
    /// Up to 20,000 characters.
    pub description: String,
    /// One of the configured categories.
    pub category: String,
    /// Drives the SLA.
    pub priority: Priority,
    /// Where it came from.
    pub channel: Channel,
    /// Who it is for: the caller, or (agents and admins only) someone else.
    pub requester: RequesterRef,
    /// The integration it came through (intake), if any.
    pub integration: Option<IntegrationRef>,
    /// Flat string metadata an integration attached, if any.
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    /// Custom field values, already checked against the definitions, if any.
    pub fields: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    /// Files that came with it (an opening mail's), stored beforehand: listed on a public
    /// comment by whoever opens it, recorded with the creation.
    pub files: Option<Box<OpeningFiles>>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// The files a ticket is opened with, and the comment that lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct OpeningFiles {
    /// The comment's id.
    pub comment_id: Uuid,
    /// The mail they came in, when they came by e-mail.
    pub via: Option<Via>,
    /// The files (their content hashed); at least one.
    pub attachments: Vec<AttachmentRef>,
}

/// Adds a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentOnTicket {
    /// The new comment's id.
    pub comment_id: Uuid,
    /// The checked text.
    pub body: String,
    /// Hidden from requesters; agents and admins only.
    pub internal: bool,
    /// The mail it came in, when it came by e-mail.
    pub via: Option<Via>,
    /// Files stored beforehand and claimed for this comment (their content hashed).
    pub attachments: Vec<AttachmentRef>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Gives the ticket an assignee (an agent or admin, checked by the caller), a team, or both;
/// what is not named stays as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignTicket {
    /// The new assignee, if one is named.
    pub assignee: Option<UserRef>,
    /// The new team, if one is named.
    pub team: Option<TeamRef>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Changes any of title, description, category and priority; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateTicket {
    /// New title.
    pub title: Option<Title>,
    /// New description.
    pub description: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// New priority; recomputes the SLA due times from creation.
    pub priority: Option<Priority>,
    /// New custom field values, already checked against the definitions; `null` unsets one.
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Closes the ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct CloseTicket {
    /// How it was resolved.
    pub resolution: Option<String>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Reopens a closed ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct ReopenTicket {
    /// Why.
    pub reason: Option<String>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Rates a closed ticket; the requester only.
#[derive(Debug, Clone, PartialEq)]
pub struct RateTicket {
    /// 1 to 5, checked.
    pub score: u8,
    /// Up to 2,000 characters.
    pub comment: Option<String>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Records that an SLA target passed unmet, if it did and was not recorded already.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSlaBreach {
    /// Which target.
    pub target: SlaTarget,
    /// The timer's clock; nothing is recorded before the due time.
    pub at: Timestamp,
}

/// Puts the ticket on hold, waiting on the requester (CONTRACT 9).
#[derive(Debug, Clone, PartialEq)]
pub struct PendTicket {
    /// Up to 5,000 characters.
    pub reason: Option<String>,
    /// When the engine resumes it by itself; checked to lie ahead, within bounds.
    pub until: Option<Timestamp>,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Ends a pause; staff only.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeTicket {
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Ends a pause whose `until` has come, if it still stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeAtUntil {
    /// The timer's clock; nothing is recorded before `until`.
    pub at: Timestamp,
}

/// Records that 80 % of an SLA target's time passed, if it did and was not recorded already.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSlaWarning {
    /// Which target.
    pub target: SlaTarget,
    /// The timer's clock; nothing is recorded before the warning instant.
    pub at: Timestamp,
}

impl TicketCommand {
    /// The user behind the command; `None` for the engine's own.
    pub fn issuer(&self) -> Option<&Issuer> {
        match self {
            TicketCommand::CreateTicket(c) => Some(&c.by),
            TicketCommand::CommentOnTicket(c) => Some(&c.by),
            TicketCommand::AssignTicket(c) => Some(&c.by),
            TicketCommand::UpdateTicket(c) => Some(&c.by),
            TicketCommand::CloseTicket(c) => Some(&c.by),
            TicketCommand::ReopenTicket(c) => Some(&c.by),
            TicketCommand::RateTicket(c) => Some(&c.by),
            TicketCommand::RecordSlaBreach(_) => None,
            TicketCommand::PendTicket(c) => Some(&c.by),
            TicketCommand::ResumeTicket(c) => Some(&c.by),
            TicketCommand::ResumeAtUntil(_) => None,
            TicketCommand::RecordSlaWarning(_) => None,
            TicketCommand::TagTicket(c) => Some(&c.by),
            TicketCommand::LinkTicket(c) => Some(&c.by),
            TicketCommand::UnlinkTicket(c) => Some(&c.by),
            TicketCommand::MergeTicket(c) => Some(&c.by),
            TicketCommand::MergeFrom(c) => Some(&c.by),
        }
    }

    /// The command's clock reading, which becomes its events' `time`.
    pub fn at(&self) -> Timestamp {
        match self {
            TicketCommand::CreateTicket(c) => c.at,
            TicketCommand::CommentOnTicket(c) => c.at,
            TicketCommand::AssignTicket(c) => c.at,
            TicketCommand::UpdateTicket(c) => c.at,
            TicketCommand::CloseTicket(c) => c.at,
            TicketCommand::ReopenTicket(c) => c.at,
            TicketCommand::RateTicket(c) => c.at,
            TicketCommand::RecordSlaBreach(c) => c.at,
            TicketCommand::PendTicket(c) => c.at,
            TicketCommand::ResumeTicket(c) => c.at,
            TicketCommand::ResumeAtUntil(c) => c.at,
            TicketCommand::RecordSlaWarning(c) => c.at,
            TicketCommand::TagTicket(c) => c.at,
            TicketCommand::LinkTicket(c) => c.at,
            TicketCommand::UnlinkTicket(c) => c.at,
            TicketCommand::MergeTicket(c) => c.at,
            TicketCommand::MergeFrom(c) => c.at,
        }
    }

    /// A short name for logs and metrics: `create`, `comment`, …
    pub fn name(&self) -> &'static str {
        match self {
            TicketCommand::CreateTicket(_) => "create",
            TicketCommand::CommentOnTicket(_) => "comment",
            TicketCommand::AssignTicket(_) => "assign",
            TicketCommand::UpdateTicket(_) => "update",
            TicketCommand::CloseTicket(_) => "close",
            TicketCommand::ReopenTicket(_) => "reopen",
            TicketCommand::RateTicket(_) => "rate",
            TicketCommand::RecordSlaBreach(_) => "sla_breach",
            TicketCommand::PendTicket(_) => "pending",
            TicketCommand::ResumeTicket(_) => "resume",
            TicketCommand::ResumeAtUntil(_) => "resume_at_until",
            TicketCommand::RecordSlaWarning(_) => "sla_warning",
            TicketCommand::TagTicket(_) => "tag",
            TicketCommand::LinkTicket(_) => "link",
            TicketCommand::UnlinkTicket(_) => "unlink",
            TicketCommand::MergeTicket(_) => "merge",
            TicketCommand::MergeFrom(_) => "merge_from",
        }
    }
}

// ---- tags, links and merges (rules: `tagging`, `linking`) ----------------------------------

/// Replaces a ticket's tags with `tags` (agents and admins; checked: at most [`TAGS_MAX`]),
/// or only adds them to those it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct TagTicket {
    /// The whole new set, or the tags to add; repeats in the request collapse.
    pub tags: std::collections::BTreeSet<Tag>,
    /// Adds `tags` to the ticket's own instead of replacing them (a rule's `add_tags`): the
    /// union is taken from the ticket as the command finds it, so a tag put on since the
    /// rule's event was read is kept.
    pub add_only: bool,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Links the ticket to `other` as `kind` (the other side records `kind.inverse()`).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTicket {
    /// How `other` relates to this ticket.
    pub kind: LinkKind,
    /// The other ticket, which the caller may see (checked by the caller).
    pub other: Uuid,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Removes the link to `other`, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct UnlinkTicket {
    /// The other ticket.
    pub other: Uuid,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Merges this ticket into `into`: `ticket.merged`, then `ticket.closed`.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeTicket {
    /// The ticket it lives on in.
    pub into: Uuid,
    /// The target's number, for the resolution.
    pub into_number: i64,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}

/// Takes in a ticket merged into this one: `ticket.merged_from`, then its comments as one
/// internal note.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeFrom {
    /// The merged ticket.
    pub source: Uuid,
    /// Its number.
    pub source_number: i64,
    /// The note's id.
    pub note_id: Uuid,
    /// The source's comments, written out as one text.
    pub note: String,
    /// Who asks.
    pub by: Issuer,
    /// When.
    pub at: Timestamp,
}
