//! Intake: tickets and follow-up messages from integrations (web forms, chat widgets, other
//! systems). The requester is found or added by [`people::resolve_requester`], and is the actor
//! of what follows: the ticket is theirs, opened and followed up by them through the
//! integration's channel.
//!
//! `external_id` makes intake idempotent per integration: its row in `intake_tickets` is
//! written, with the new ticket's id and number, before the ticket is created, so a repeat (or
//! a concurrent duplicate) finds the same ticket whatever its other fields, and applies nothing.

use std::collections::BTreeMap;

use sqlx::PgPool;
use ticket_nats::events::{AttachmentRef, IntegrationRef};
use uuid::Uuid;

use super::intake_record;
use super::people::{self, Contact, Resolved};
use super::tickets::{self, Issued, NewTicket};
use crate::attachments::records;
use crate::command_service::{CommandContext, CommandError, CommandService, Outcome};
use crate::domain::values::{ValueError, TITLE_MAX};
use crate::domain::{Issuer, Priority, Role, Status, Title};
use crate::integrations::Integration;
use crate::store::user_stream::Recorder;
use crate::users::{self, CreateUserError};

/// Category of an intake ticket when neither the intake nor the integration names one.
pub const DEFAULT_CATEGORY: &str = "other";

/// A ticket from an integration, checked.
#[derive(Debug, Clone)]
pub struct IntakeTicket {
    /// Who asks.
    pub requester: Contact,
    /// Title.
    pub title: Title,
    /// Description.
    pub description: String,
    /// One of the configured categories, if given.
    pub category: Option<String>,
    /// Priority, if given.
    pub priority: Option<Priority>,
    /// The integration's own id for it (1–255 characters).
    pub external_id: Option<String>,
    /// Flat string metadata (≤ 20 keys).
    pub metadata: Option<BTreeMap<String, String>>,
    /// The integration's uploads (`POST /intake/attachments`) the ticket opens with.
    pub attachment_ids: Vec<Uuid>,
}

/// What an intake of a ticket answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeAnswer {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Its number.
    pub number: i64,
    /// Its requester.
    pub requester_id: Uuid,
    /// This intake added the requester to the directory.
    pub requester_created: bool,
    /// This intake created the ticket (201); false for a repeat of an `external_id` (200).
    pub created: bool,
}

/// Why an intake failed.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The integration was revoked.
    #[error("the integration is revoked")]
    Revoked,
    /// No ticket has this `external_id` for this integration.
    #[error("no ticket has this external_id")]
    UnknownExternalId,
    /// The command failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The requester could not be found or added.
    #[error(transparent)]
    People(#[from] CreateUserError),
    /// The database failed.
    #[error("intake failed")]
    Database(#[from] sqlx::Error),
    /// A value made from the request cannot be one (a message's first line as a title).
    #[error(transparent)]
    Invalid(#[from] ValueError),
    /// This file is not an upload of this integration that no intake listed yet.
    #[error("attachment {0} is not an unused upload of this integration")]
    FileNotUsable(Uuid),
}

/// Gives the integration's uploads `ids` to `ticket` (all or none, each once), for the
/// comment the intake records to list.
async fn claim_files(
    pool: &PgPool,
    ticket: Uuid,
    integration: &Integration,
    ids: &[Uuid],
) -> Result<Vec<AttachmentRef>, IntakeError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    records::claim_for_intake(pool, ticket, integration.id, ids)
        .await?
        .map_err(IntakeError::FileNotUsable)
}

/// Opens a ticket with the integration's uploads `ids` on its opening comment: claims them,
/// runs the command, and settles them by its outcome. A claim that fails is the outer error;
/// the command's own is the inner one, for the caller to weigh (a concurrent creation).
async fn open_with_claimed(
    service: &CommandService,
    issued: Issued<'_>,
    integration: &Integration,
    (ticket_id, number): (Uuid, i64),
    ticket: NewTicket,
    ids: &[Uuid],
) -> Result<Result<Outcome, CommandError>, IntakeError> {
    let pool = service.pool();
    let files = claim_files(pool, ticket_id, integration, ids).await?;
    let opened = tickets::open_with_files(
        service,
        issued,
        ticket_id,
        number,
        ticket,
        Some((None, files)),
    )
    .await;
    settle_files(pool, ticket_id, ids, opened.is_ok()).await;
    Ok(opened)
}

/// After the command that was to list the files `ids` claimed for `ticket`: marks them listed
/// when it was recorded, else hands them back to the integration for another intake.
async fn settle_files(pool: &PgPool, ticket: Uuid, ids: &[Uuid], recorded: bool) {
    if ids.is_empty() {
        return;
    }
    // Only a shortcut for the janitor, which checks the event log before removing anything.
    let settled = if recorded {
        records::mark_referenced(pool, ids).await
    } else {
        records::release_intake(pool, ticket, ids).await
    };
    if let Err(e) = settled {
        tracing::warn!(ticket_id = %ticket, recorded, error = %e, "cannot settle an intake's files");
    }
}

/// Who the events of an integration's intake name as their actor: the requester.
fn actor_of(resolved: &users::User) -> Issuer {
    Issuer {
        id: resolved.id,
        name: resolved.name.clone(),
        email: resolved.email.clone().unwrap_or_default(),
        role: Role::Requester,
        stands_for: Vec::new(),
    }
}

/// The answer to a repeat of an `external_id`: the ticket first opened for it.
fn repeat_of((ticket_id, number, requester_id): (Uuid, i64, Uuid)) -> IntakeAnswer {
    IntakeAnswer {
        ticket_id,
        number,
        requester_id,
        requester_created: false,
        created: false,
    }
}

/// The ticket of the intake that recorded an `external_id` first, when this one lost the race.
async fn concurrent_winner(
    pool: &PgPool,
    integration: &Integration,
    external_id: Option<&str>,
) -> Result<IntakeAnswer, IntakeError> {
    let external_id = external_id.ok_or(IntakeError::UnknownExternalId)?;
    let found = intake_record::mapped(pool, integration.id, external_id)
        .await?
        .ok_or(IntakeError::UnknownExternalId)?;
    // The winner's record may not be flushed yet, and its ticket not stored: this answer names
    // it, so it must outlive a crash.
    intake_record::make_durable(pool).await?;
    Ok(repeat_of(found))
}

/// Opens a ticket from an integration (see the module's documentation for `external_id`).
pub async fn open_ticket(
    service: &CommandService,
    recorder: &Recorder,
    integration: &Integration,
    intake: IntakeTicket,
    ctx: &CommandContext,
) -> Result<IntakeAnswer, IntakeError> {
    let pool = service.pool();
    // The common intake (a new external id, a returning requester with nothing to fill) is
    // looked up and recorded in one statement; the lookup changes nothing else, so a repeat
    // still applies nothing whatever its requester.
    let new_id = Uuid::now_v7();
    let look = intake_record::first_look(
        pool,
        integration.id,
        intake.external_id.as_deref(),
        &intake.requester,
        new_id,
    )
    .await?;
    if !look.active {
        return Err(IntakeError::Revoked);
    }
    let mut taken = None;
    if let Some(found) = look.mapped {
        if look.complete {
            return Ok(repeat_of(found));
        }
        // Recorded, but the creation not completed: a crash in between (complete it now), or
        // a concurrent intake of the same external id still under way (see below).
        taken = Some((found.0, found.1));
    }
    let resumed = look.mapped.filter(|_| taken.is_some());
    let (resolved, (ticket_id, number)) = match (look.attempted, look.recorded, look.user) {
        (true, Some(number), found) => {
            let resolved = match found {
                Some(user) => Resolved {
                    user,
                    created: false,
                },
                // Recorded for a user whose row did not read back (an unknown role, which the
                // table's CHECK rules out): resolved the long way rather than left unopened.
                None => people::resolve_requester(pool, recorder, &intake.requester).await?,
            };
            (resolved, (new_id, number))
        }
        (true, None, _) => {
            // A concurrent intake with the same external id won: its ticket is the one.
            return concurrent_winner(pool, integration, intake.external_id.as_deref()).await;
        }
        (false, _, found) => {
            let resolved =
                people::resolve_requester_after(pool, recorder, &intake.requester, found).await?;
            let taken = match (taken, &intake.external_id) {
                (Some(taken), _) => taken,
                (None, Some(external_id)) => {
                    let recorded = intake_record::record(
                        pool,
                        integration.id,
                        external_id,
                        new_id,
                        resolved.user.id,
                    )
                    .await?;
                    match recorded {
                        Some(number) => (new_id, number),
                        None => {
                            return concurrent_winner(pool, integration, Some(external_id)).await
                        }
                    }
                }
                (None, None) => (new_id, service.next_number().await?),
            };
            (resolved, taken)
        }
    };
    let by = actor_of(&resolved.user);
    let ticket = NewTicket {
        title: intake.title,
        description: intake.description,
        category: intake
            .category
            .or_else(|| integration.default_category.clone())
            .unwrap_or_else(|| DEFAULT_CATEGORY.to_string()),
        priority: intake
            .priority
            .or(integration.default_priority)
            .unwrap_or(Priority::Medium),
        channel: integration.channel,
        requester: resolved.requester(),
        integration: Some(IntegrationRef {
            id: integration.id,
            name: integration.name.clone(),
        }),
        metadata: intake.metadata,
        fields: None,
    };
    let opened = open_with_claimed(
        service,
        Issued { by: &by, ctx },
        integration,
        (ticket_id, number),
        ticket,
        &intake.attachment_ids,
    )
    .await?;
    let outcome = match opened {
        Ok(outcome) => outcome,
        // The ticket recorded for the external id may be created by any intake of it: the
        // one that recorded it, or a concurrent one that found the record before the
        // ticket and completed it. Whichever lost is a repeat of the one that won.
        Err(error)
            if intake.external_id.is_some()
                && intake_record::ticket_exists(pool, ticket_id).await? =>
        {
            tracing::debug!(%ticket_id, %error, "a concurrent intake created the ticket");
            return Ok(match resumed {
                Some(found) => repeat_of(found),
                None => IntakeAnswer {
                    ticket_id,
                    number,
                    requester_id: resolved.user.id,
                    requester_created: resolved.created,
                    created: false,
                },
            });
        }
        Err(error) => return Err(error.into()),
    };
    Ok(IntakeAnswer {
        ticket_id: outcome.ticket_id,
        number: outcome.number,
        requester_id: resolved.user.id,
        requester_created: resolved.created,
        created: outcome.created,
    })
}

/// The reason a message reopens a closed ticket with.
pub const REOPEN_REASON: &str = "new message";

/// Who a follow-up message names as its sender (`from`), checked. Without an e-mail or a phone
/// it names no one the directory can find: the ticket's requester speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// Display name, used only when the sender is new.
    pub name: Option<String>,
    /// Normalized e-mail address.
    pub email: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
}

impl Sender {
    /// The contact to resolve, when the sender gives one; a new sender without a name is
    /// named by the contact they gave.
    fn contact(self) -> Option<Contact> {
        let shown = self.email.clone().or_else(|| self.phone.clone())?;
        Some(Contact {
            name: self.name.unwrap_or(shown),
            email: self.email,
            phone: self.phone,
        })
    }
}

/// What a follow-up message did.
#[derive(Debug, Clone)]
pub enum MessageAnswer {
    /// A comment on the ticket the `external_id` names.
    Commented(Outcome),
    /// The sender is neither that ticket's requester nor staff: a ticket of their own.
    Opened(IntakeAnswer),
}

/// A follow-up message (a chat line) on the ticket an integration's `external_id` names.
///
/// The sender (`from`, resolved like an intake's requester) is the author: the ticket's
/// requester (or a user merged into them, the same person) and staff comment on it, staff
/// publicly; anyone else gets a ticket of their own in the integration's channel, as a mail
/// reply by someone else does (CONTRACT 7), never a comment on another requester's ticket.
/// Without a sender the ticket's requester speaks. On a closed ticket, `ticket.reopened`
/// (reason "new message") comes before the comment.
#[allow(clippy::too_many_arguments)]
pub async fn message(
    service: &CommandService,
    recorder: &Recorder,
    integration: &Integration,
    external_id: &str,
    from: Option<Sender>,
    body: String,
    attachment_ids: &[Uuid],
    ctx: &CommandContext,
) -> Result<MessageAnswer, IntakeError> {
    let pool = service.pool();
    let (ticket_id, _, requester_id) = intake_record::mapped(pool, integration.id, external_id)
        .await?
        .ok_or(IntakeError::UnknownExternalId)?;
    if !intake_record::ticket_exists(pool, ticket_id).await? {
        return Err(IntakeError::UnknownExternalId);
    }
    let by = match from.and_then(Sender::contact) {
        None => {
            let requester = users::find(pool, requester_id)
                .await?
                .ok_or(IntakeError::UnknownExternalId)?;
            actor_of(&requester)
        }
        Some(contact) => {
            let resolved = people::resolve_requester(pool, recorder, &contact).await?;
            let user = &resolved.user;
            if user.id == requester_id {
                actor_of(user)
            } else if users::stands_for(pool, user.id, requester_id).await? {
                Issuer {
                    stands_for: vec![requester_id],
                    ..actor_of(user)
                }
            } else if user.role.is_staff() {
                Issuer {
                    role: user.role,
                    ..actor_of(user)
                }
            } else {
                let opened =
                    open_from_message(service, integration, resolved, body, attachment_ids, ctx)
                        .await?;
                return Ok(MessageAnswer::Opened(opened));
            }
        }
    };
    let issued = Issued { by: &by, ctx };
    // Before a reopen, so that a file refused leaves the ticket as it was.
    let files = claim_files(pool, ticket_id, integration, attachment_ids).await?;
    let commented = comment_reopening(service, issued, ticket_id, body, files).await;
    settle_files(pool, ticket_id, attachment_ids, commented.is_ok()).await;
    Ok(MessageAnswer::Commented(commented?))
}

/// Comments with `files` on `ticket`, reopening it first when it is closed.
async fn comment_reopening(
    service: &CommandService,
    issued: Issued<'_>,
    ticket_id: Uuid,
    body: String,
    files: Vec<AttachmentRef>,
) -> Result<Outcome, IntakeError> {
    if service.current(ticket_id).await?.status == Status::Closed {
        let reopen_ctx = CommandContext {
            correlation_id: issued.ctx.correlation_id.clone(),
            expected_version: None,
            idempotency: None,
        };
        let reopened = Issued {
            by: issued.by,
            ctx: &reopen_ctx,
        };
        tickets::reopen(service, reopened, ticket_id, Some(REOPEN_REASON.into())).await?;
    }
    Ok(tickets::comment_with(service, issued, ticket_id, body, false, files).await?)
}

/// The title of a ticket a message opens: its first line with text, cut to a title's length.
/// A message body always has text (`CommentBody`); "Message" stands in should it not.
fn title_of(body: &str) -> Result<Title, ValueError> {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("Message");
    let cut: String = line.chars().take(TITLE_MAX).collect();
    Title::parse(&cut)
}

/// A ticket of its own for a message's sender (see [`message`]).
async fn open_from_message(
    service: &CommandService,
    integration: &Integration,
    resolved: Resolved,
    body: String,
    attachment_ids: &[Uuid],
    ctx: &CommandContext,
) -> Result<IntakeAnswer, IntakeError> {
    let by = actor_of(&resolved.user);
    let ticket = NewTicket {
        fields: Default::default(),
        title: title_of(&body)?,
        description: body,
        category: integration
            .default_category
            .clone()
            .unwrap_or_else(|| DEFAULT_CATEGORY.to_string()),
        priority: integration.default_priority.unwrap_or(Priority::Medium),
        channel: integration.channel,
        requester: resolved.requester(),
        integration: Some(IntegrationRef {
            id: integration.id,
            name: integration.name.clone(),
        }),
        metadata: None,
    };
    let ticket_id = Uuid::now_v7();
    let number = service.next_number().await?;
    let outcome = open_with_claimed(
        service,
        Issued { by: &by, ctx },
        integration,
        (ticket_id, number),
        ticket,
        attachment_ids,
    )
    .await??;
    Ok(IntakeAnswer {
        ticket_id: outcome.ticket_id,
        number: outcome.number,
        requester_id: resolved.user.id,
        requester_created: resolved.created,
        created: outcome.created,
    })
}
