//! Ticket use cases. Each takes checked values and who issues it, resolves what the aggregate
//! needs from outside, and runs the command through the [`CommandService`]; an earlier request
//! with the same Idempotency-Key gets that request's outcome instead.

use std::collections::BTreeMap;

use sqlx::PgPool;
use ticket_nats::events::{AttachmentRef, IntegrationRef, RequesterRef, TeamRef, UserRef, Via};
use uuid::Uuid;

use crate::command_service::{now, CommandContext, CommandError, CommandService, Outcome};
use crate::domain::commands::TagTicket;
use crate::domain::commands::{
    AssignTicket, CloseTicket, CommentOnTicket, CreateTicket, OpeningFiles, PendTicket, RateTicket,
    ReopenTicket, ResumeTicket, UpdateTicket,
};
use crate::domain::tags::Tag;
use crate::domain::{Channel, Issuer, Priority, Role, TicketCommand, Title};
use crate::users;

/// Who issues a command, and what its request adds (`If-Match`, Idempotency-Key, correlation).
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    /// The actor the events will name.
    pub by: &'a Issuer,
    /// The request's conditions and keys.
    pub ctx: &'a CommandContext,
}

/// A new ticket's content, checked.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// Its title.
    pub title: Title,
    /// Its description (may be empty).
    pub description: String,
    /// One of the configured categories.
    pub category: String,
    /// Its priority.
    pub priority: Priority,
    /// How it came in.
    pub channel: Channel,
    /// Whom it is for (see [`requester_for`]).
    pub requester: RequesterRef,
    /// The integration it came through (intake), if any.
    pub integration: Option<IntegrationRef>,
    /// Flat string metadata an integration attached (intake), if any.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Custom field values, checked (see `fields::check`).
    pub fields: Option<BTreeMap<String, serde_json::Value>>,
}

/// The fields a ticket update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// A new title.
    pub title: Option<Title>,
    /// A new description.
    pub description: Option<String>,
    /// A new category (one of the configured ones).
    pub category: Option<String>,
    /// A new priority (the SLA due times follow it).
    pub priority: Option<Priority>,
    /// New custom field values, checked (see `fields::check`); `null` unsets one.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// The requester of a new ticket: whoever opens it, or the user `requester_id` names (a way in
/// lets only agents and admins name someone else), following a merge to the user kept
/// (CONTRACT 7). `None` when that user is unknown or an auditor, who cannot request tickets.
pub async fn requester_for(
    pool: &PgPool,
    by: &Issuer,
    requester_id: Option<Uuid>,
) -> Result<Option<RequesterRef>, sqlx::Error> {
    let named = match requester_id {
        Some(id) if id != by.id => users::find(pool, id).await?,
        _ => None,
    };
    let named = match named {
        Some(user) => match user.merged_into {
            Some(kept) => users::find(pool, kept).await?,
            None => Some(user),
        },
        None => None,
    };
    match requester_id {
        Some(id) if id != by.id => {
            Ok(named
                .filter(|user| user.role != Role::Auditor)
                .map(|user| RequesterRef {
                    id: user.id,
                    name: user.name,
                    email: user.email,
                }))
        }
        _ => Ok(Some(RequesterRef {
            id: by.id,
            name: by.name.clone(),
            email: Some(by.email.clone()).filter(|e| !e.is_empty()),
        })),
    }
}

/// The user `id` names, if a known agent or admin (who alone can be assigned tickets).
pub async fn resolve_assignee(pool: &PgPool, id: Uuid) -> Result<Option<UserRef>, sqlx::Error> {
    Ok(users::find(pool, id)
        .await?
        .filter(|user| user.role.is_staff())
        .map(|user| UserRef {
            id: user.id,
            name: user.name,
        }))
}

/// Opens a ticket with a new id and the next number.
pub async fn open(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: NewTicket,
) -> Result<Outcome, CommandError> {
    // A replayed create answers with its first number; this one then goes unused, which only
    // leaves a gap, as a failed create does.
    let number = service.next_number().await?;
    open_as(service, issued, Uuid::now_v7(), number, ticket).await
}

/// Opens a ticket under an id and number taken beforehand (intake records them with its
/// external id first, so that a repeat finds the same ticket).
pub async fn open_as(
    service: &CommandService,
    issued: Issued<'_>,
    id: Uuid,
    number: i64,
    ticket: NewTicket,
) -> Result<Outcome, CommandError> {
    open_with_files(service, issued, id, number, ticket, None).await
}

/// [`open_as`] with files stored beforehand for ticket `id` (an opening mail's), listed on a
/// public comment by the opener recorded with the creation; `via` names the mail.
pub async fn open_with_files(
    service: &CommandService,
    issued: Issued<'_>,
    id: Uuid,
    number: i64,
    ticket: NewTicket,
    files: Option<(Option<Via>, Vec<AttachmentRef>)>,
) -> Result<Outcome, CommandError> {
    let files = files
        .filter(|(_, attachments)| !attachments.is_empty())
        .map(|(via, attachments)| {
            Box::new(OpeningFiles {
                comment_id: Uuid::now_v7(),
                via,
                attachments,
            })
        });
    issue(service, issued, id, |by| {
        TicketCommand::CreateTicket(CreateTicket {
            number,
            title: ticket.title,
            description: ticket.description,
            category: ticket.category,
            priority: ticket.priority,
            channel: ticket.channel,
            requester: ticket.requester,
            integration: ticket.integration,
            metadata: ticket.metadata,
            fields: ticket.fields,
            files,
            by,
            at: now(),
        })
    })
    .await
}

/// Comments on a ticket; an `internal` comment is hidden from its requester.
pub async fn comment(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    body: String,
    internal: bool,
) -> Result<Outcome, CommandError> {
    post_comment(service, issued, ticket, body, internal, None, Vec::new()).await
}

/// Comments publicly on a ticket with what a mail brought in; `via` names the message.
pub async fn comment_via(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    body: String,
    via: Via,
    attachments: Vec<AttachmentRef>,
) -> Result<Outcome, CommandError> {
    post_comment(service, issued, ticket, body, false, Some(via), attachments).await
}

/// Comments with files already stored and checked (see `attachments::comment_with_files`).
pub async fn comment_with(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    body: String,
    internal: bool,
    attachments: Vec<AttachmentRef>,
) -> Result<Outcome, CommandError> {
    post_comment(service, issued, ticket, body, internal, None, attachments).await
}

async fn post_comment(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    body: String,
    internal: bool,
    via: Option<Via>,
    attachments: Vec<AttachmentRef>,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::CommentOnTicket(CommentOnTicket {
            comment_id: Uuid::now_v7(),
            body,
            internal,
            via,
            attachments,
            by,
            at: now(),
        })
    })
    .await
}

/// The team `id` names, if it exists.
pub async fn resolve_team(pool: &PgPool, id: Uuid) -> Result<Option<TeamRef>, sqlx::Error> {
    Ok(crate::teams::find(pool, id).await?.map(|team| TeamRef {
        id: team.id,
        name: team.name,
    }))
}

/// Assigns a ticket to an assignee, a team or both (see [`resolve_assignee`] and
/// [`resolve_team`]); what is not named stays.
pub async fn assign(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    assignee: Option<UserRef>,
    team: Option<TeamRef>,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::AssignTicket(AssignTicket {
            assignee,
            team,
            by,
            at: now(),
        })
    })
    .await
}

/// Changes a ticket's title, description, category or priority.
pub async fn update(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    changes: Changes,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::UpdateTicket(UpdateTicket {
            title: changes.title,
            description: changes.description,
            category: changes.category,
            priority: changes.priority,
            fields: changes.fields,
            by,
            at: now(),
        })
    })
    .await
}

/// Closes a ticket.
pub async fn close(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    resolution: Option<String>,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::CloseTicket(CloseTicket {
            resolution,
            by,
            at: now(),
        })
    })
    .await
}

/// Reopens a closed ticket.
pub async fn reopen(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    reason: Option<String>,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::ReopenTicket(ReopenTicket {
            reason,
            by,
            at: now(),
        })
    })
    .await
}

/// Rates a closed ticket (its requester only; the aggregate decides).
pub async fn rate(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    score: u8,
    comment: Option<String>,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::RateTicket(RateTicket {
            score,
            comment,
            by,
            at: now(),
        })
    })
    .await
}

/// Sets a ticket pending: it waits on its requester until they comment, staff resume it, or
/// `until` (checked by the caller with [`crate::domain::pending::check_until`]).
pub async fn pend(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    reason: Option<String>,
    until: Option<ticket_nats::Timestamp>,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::PendTicket(PendTicket {
            reason,
            until,
            by,
            at: now(),
        })
    })
    .await
}

/// Replaces a ticket's tags with `tags`, or with `add_only` adds them to those it carries (the
/// aggregate records only the difference).
pub async fn tag(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    tags: std::collections::BTreeSet<Tag>,
    add_only: bool,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::TagTicket(TagTicket {
            tags,
            add_only,
            by,
            at: now(),
        })
    })
    .await
}

/// Resumes a pending ticket (staff).
pub async fn resume(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
) -> Result<Outcome, CommandError> {
    issue(service, issued, ticket, |by| {
        TicketCommand::ResumeTicket(ResumeTicket { by, at: now() })
    })
    .await
}

/// Answers an earlier identical request's outcome when its key was seen, else runs the command
/// built by `command` (called only when it will run).
pub(crate) async fn issue(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    command: impl FnOnce(Issuer) -> TicketCommand,
) -> Result<Outcome, CommandError> {
    if let Some(idempotency) = &issued.ctx.idempotency {
        if let Some(outcome) = service.replayed(issued.by.id, idempotency).await? {
            return Ok(outcome);
        }
    }
    service
        .execute(ticket, command(issued.by.clone()), issued.ctx)
        .await
}
