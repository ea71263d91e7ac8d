//! What an inbound mail does (CONTRACT 7, "Email in"), whichever way it arrived: a new ticket,
//! a comment on the ticket it answers, or a row in `email_inbound` saying why nothing happened.
//!
//! # Once per Message-ID
//!
//! The command that a mail causes carries the idempotency key `email:<message id>`, stored with
//! its event in the same transaction under the unique index on (actor, key). A second delivery of
//! the same mail (by SMTP and by IMAP, or again after a restart) finds that event and applies
//! nothing; a racing twin loses on the index. `email_inbound` is written after the commit and
//! again by any redelivery, so an operator's view of a mail survives a crash between the two.

use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use ticket_nats::events::{AttachmentRef, RequesterRef, Via};
use uuid::Uuid;

use crate::application::attachments::{self, Declared};
use crate::application::tickets::{self, Issued, NewTicket};
use crate::attachments::upload::UploadError;
use crate::attachments::Attachments;
use crate::command_service::{CommandContext, CommandError, CommandService, Idempotency};
use crate::domain::{Channel, Issuer, Priority, Role, Status, Title};
use crate::users::{self, User};

use super::message::{self, Mail, Read};
use super::requester;

/// How a mail reached the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The engine's SMTP listener.
    Smtp,
    /// The IMAP poller.
    Imap,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Route::Smtp => "smtp",
            Route::Imap => "imap",
        }
    }
}

/// What a mail did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It opened this ticket.
    Created(Uuid),
    /// It commented on this ticket.
    Commented(Uuid),
    /// It was recorded as ignored, for this reason.
    Ignored(String),
    /// It had been applied (or ignored) before.
    Duplicate,
}

/// Applies inbound mail; shared by the SMTP listener and the IMAP poller.
pub struct Inbox {
    pool: PgPool,
    commands: Arc<CommandService>,
    /// The engine's own addresses: mail from them is a loop.
    own: Vec<String>,
    /// The category of tickets opened by mail.
    category: String,
    /// The CloudEvents `source` of the user events a new sender causes.
    source: String,
    /// Where mails' files go; none → their files are dropped.
    files: Option<Attachments>,
}

impl Inbox {
    /// An inbox over the store; `own` lists the engine's addresses, `category` the one new tickets get.
    pub fn new(
        pool: PgPool,
        commands: Arc<CommandService>,
        own: Vec<String>,
        category: String,
        source: String,
    ) -> Self {
        Self {
            pool,
            commands,
            own,
            category,
            source,
            files: None,
        }
    }

    /// Stores mails' files in `files`, listed on their comments (for a mail that opens a
    /// ticket, on a comment recorded with the creation).
    pub fn with_files(mut self, files: Attachments) -> Self {
        self.files = Some(files);
        self
    }

    /// Stores a mail's files for `ticket` as uploads of `by`. A file the store refuses (over
    /// the limit) is left out and logged; the comment still records the text.
    async fn store_files(
        &self,
        mail: &Mail,
        ticket: Uuid,
        by: Uuid,
    ) -> anyhow::Result<Vec<AttachmentRef>> {
        let Some(store) = &self.files else {
            return Ok(Vec::new());
        };
        let mut refs = Vec::new();
        for file in &mail.files {
            let declared = Declared {
                filename: file.filename.clone(),
                content_type: file.content_type.clone(),
            };
            let body = futures::stream::once(async {
                Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(&file.content))
            });
            match attachments::store(&self.pool, store, Some(ticket), by, declared, body).await {
                Ok(record) => refs.push(record.as_ref()),
                Err(UploadError::TooLarge { limit }) => {
                    tracing::warn!(ticket_id = %ticket, limit, "a mail's file over the limit left out");
                }
                Err(e) => return Err(anyhow::Error::new(e).context("cannot store a mail's file")),
            }
        }
        Ok(refs)
    }

    /// Applies one mail. An error means nothing could be decided (the database is out of
    /// reach): the sender should deliver it again later.
    #[tracing::instrument(skip_all, fields(route = route.as_str(), message_id))]
    pub async fn deliver(&self, raw: &[u8], route: Route) -> anyhow::Result<Applied> {
        // Parsing and HTML conversion of a large mail take a while: off the async workers.
        let (bytes, own) = (raw.to_vec(), self.own.clone());
        let read = tokio::task::spawn_blocking(move || message::read(&bytes, &own))
            .await
            .context("reading the mail failed")?;
        let mail = match read {
            Read::Ignored(ignored) => {
                tracing::Span::current().record("message_id", ignored.message_id.as_str());
                let fresh = self
                    .record(Record {
                        message_id: &ignored.message_id,
                        route,
                        sender: ignored.from.as_deref(),
                        subject: ignored.subject.as_deref(),
                        outcome: "ignored",
                        reason: Some(&ignored.reason),
                        ticket: None,
                    })
                    .await?;
                return Ok(if fresh {
                    count("ignored");
                    tracing::info!(reason = %ignored.reason, "mail ignored");
                    Applied::Ignored(ignored.reason)
                } else {
                    Applied::Duplicate
                });
            }
            Read::Mail(mail) => mail,
        };
        tracing::Span::current().record("message_id", mail.message_id.as_str());
        if self.known(&mail.message_id).await? {
            count("duplicate");
            return Ok(Applied::Duplicate);
        }
        let user =
            requester::find_or_create(&self.pool, &self.source, &mail.from, &mail.name).await?;
        let applied = self.apply(&mail, &user, route).await?;
        count(match &applied {
            Applied::Created(_) => "created",
            Applied::Commented(_) => "commented",
            Applied::Ignored(_) => "ignored",
            Applied::Duplicate => "duplicate",
        });
        Ok(applied)
    }

    /// Records a mail of `size` bytes, larger than `max`, as ignored, named from its `header`.
    pub async fn too_large(
        &self,
        header: &[u8],
        size: usize,
        max: usize,
        route: Route,
    ) -> anyhow::Result<Applied> {
        let (message_id, from, subject) = match message::read(header, &self.own) {
            Read::Mail(m) => (m.message_id, Some(m.from), Some(m.subject)),
            Read::Ignored(i) => (i.message_id, i.from, i.subject),
        };
        let reason = format!("{size} bytes, larger than the {max} accepted");
        let fresh = self
            .record(Record {
                message_id: &message_id,
                route,
                sender: from.as_deref(),
                subject: subject.as_deref(),
                outcome: "ignored",
                reason: Some(&reason),
                ticket: None,
            })
            .await?;
        Ok(if fresh {
            count("ignored");
            Applied::Ignored(reason)
        } else {
            Applied::Duplicate
        })
    }

    async fn apply(&self, mail: &Mail, user: &User, route: Route) -> anyhow::Result<Applied> {
        let ignore = |reason: String| async move {
            self.record(self.row(mail, route, "ignored", Some(&reason), None))
                .await?;
            Ok::<_, anyhow::Error>(Applied::Ignored(reason))
        };
        if user.role == Role::Auditor {
            return ignore("auditors neither open nor answer tickets".into()).await;
        }
        let actor = Issuer {
            id: user.id,
            name: user.name.clone(),
            email: user.email.clone().unwrap_or_default(),
            role: user.role,
            stands_for: Vec::new(),
        };
        let ctx = CommandContext {
            correlation_id: Uuid::now_v7().to_string(),
            expected_version: None,
            idempotency: Some(idempotency(&mail.message_id)),
        };
        let issued = Issued {
            by: &actor,
            ctx: &ctx,
        };
        // Applied before, and `email_inbound` lost its row to a crash: write it again.
        if let Some(done) = self
            .commands
            .replayed(actor.id, &idempotency(&mail.message_id))
            .await?
        {
            let outcome = if done.created { "created" } else { "commented" };
            self.record(self.row(mail, route, outcome, None, Some(done.ticket_id)))
                .await?;
            return Ok(Applied::Duplicate);
        }
        let mut reason = None;
        if let Some(ticket) = self.answered(mail).await? {
            let state = self
                .commands
                .store()
                .load_fresh(&ticket.to_string())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("cannot load the answered ticket")?
                .ticket;
            let requester = state.requester.as_ref().map(|r| r.id);
            // The sender a duplicate requester was merged into answers that one's tickets.
            let stands_for = match requester {
                Some(r) if r != user.id => users::stands_for(self.commands.pool(), user.id, r)
                    .await?
                    .then_some(r),
                _ => None,
            };
            let is_requester = requester == Some(user.id) || stands_for.is_some();
            if state.created && (is_requester || user.role.is_staff()) {
                let closed = state.status == Status::Closed;
                let actor = Issuer {
                    stands_for: stands_for.into_iter().collect(),
                    ..actor.clone()
                };
                let issued = Issued {
                    by: &actor,
                    ctx: &ctx,
                };
                return self.comment(mail, issued, ticket, closed, route).await;
            }
            // Someone else answering, or a forged In-Reply-To naming another requester's
            // ticket: their own ticket, never a comment on that one.
            reason = Some(
                "a reply by someone who is neither the ticket's requester nor staff".to_string(),
            );
        }
        let new = NewTicket {
            title: Title::parse(&mail.title()).map_err(|e| anyhow::anyhow!(e))?,
            description: mail.body.clone(),
            category: self.category.clone(),
            priority: Priority::Medium,
            channel: Channel::Email,
            requester: RequesterRef {
                id: user.id,
                name: user.name.clone(),
                email: user.email.clone(),
            },
            integration: None,
            metadata: None,
            fields: None,
        };
        // The files are stored under the new ticket's id first, then listed on a comment
        // recorded with the creation; if the creation is refused or repeated they are orphans,
        // which the janitor removes.
        let id = Uuid::now_v7();
        let files = self.store_files(mail, id, user.id).await?;
        let number = self.commands.next_number().await?;
        let via = Via {
            channel: "email".into(),
            message_id: mail.message_id.clone(),
        };
        let opened = tickets::open_with_files(
            &self.commands,
            issued,
            id,
            number,
            new,
            Some((Some(via), files)),
        )
        .await;
        match opened {
            Ok(outcome) => {
                self.record(self.row(
                    mail,
                    route,
                    "created",
                    reason.as_deref(),
                    Some(outcome.ticket_id),
                ))
                .await?;
                tracing::info!(ticket_id = %outcome.ticket_id, "mail opened a ticket");
                Ok(Applied::Created(outcome.ticket_id))
            }
            Err(CommandError::Rejected(e)) => ignore(format!("refused: {e}")).await,
            Err(e) => Err(anyhow::Error::new(e).context("cannot open a ticket from a mail")),
        }
    }

    /// A comment by the sender on `ticket`; a closed ticket is reopened first, as a chat
    /// follow-up reopens one.
    async fn comment(
        &self,
        mail: &Mail,
        issued: Issued<'_>,
        ticket: Uuid,
        closed: bool,
        route: Route,
    ) -> anyhow::Result<Applied> {
        let ignore = |reason: String| async move {
            self.record(self.row(mail, route, "ignored", Some(&reason), Some(ticket)))
                .await?;
            Ok::<_, anyhow::Error>(Applied::Ignored(reason))
        };
        if mail.body.trim().is_empty() {
            return ignore("a reply without text".into()).await;
        }
        let via = Via {
            channel: "email".into(),
            message_id: mail.message_id.clone(),
        };
        if closed {
            // The reopen has no key of its own: a redelivery finds the comment's key first, and
            // a reopen of a ticket that is open again is refused, which changes nothing.
            let plain = CommandContext {
                correlation_id: issued.ctx.correlation_id.clone(),
                ..CommandContext::default()
            };
            let reopen = Issued {
                by: issued.by,
                ctx: &plain,
            };
            match tickets::reopen(&self.commands, reopen, ticket, Some("new message".into())).await
            {
                Ok(_) | Err(CommandError::Rejected(_)) => {}
                Err(e) => return Err(anyhow::Error::new(e).context("cannot reopen the ticket")),
            }
        }
        let files = self.store_files(mail, ticket, issued.by.id).await?;
        let result = tickets::comment_via(
            &self.commands,
            issued,
            ticket,
            mail.body.clone(),
            via,
            files,
        )
        .await;
        match result {
            Ok(outcome) => {
                self.record(self.row(mail, route, "commented", None, Some(ticket)))
                    .await?;
                tracing::info!(ticket_id = %ticket, version = outcome.version, "mail commented");
                Ok(Applied::Commented(ticket))
            }
            Err(CommandError::Rejected(e)) => ignore(format!("refused: {e}")).await,
            Err(e) => Err(anyhow::Error::new(e).context("cannot comment from a mail")),
        }
    }

    /// The ticket a mail answers: a message id it names that the engine sent or received, else
    /// `[#<number>]` in its subject.
    async fn answered(&self, mail: &Mail) -> anyhow::Result<Option<Uuid>> {
        if !mail.answers.is_empty() {
            let found: Option<Uuid> = sqlx::query_scalar(
                "SELECT ticket_id FROM (
                     SELECT ticket_id, array_position($1::text[], message_id) AS rank
                       FROM email_inbound WHERE message_id = ANY($1) AND ticket_id IS NOT NULL
                     UNION ALL
                     SELECT ticket_id, array_position($1::text[], message_id)
                       FROM email_outbox WHERE message_id = ANY($1)
                 ) known ORDER BY rank LIMIT 1",
            )
            .bind(&mail.answers)
            .fetch_optional(&self.pool)
            .await
            .context("cannot look up the thread")?;
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(number) = ticket_number(&mail.subject) else {
            return Ok(None);
        };
        ticket_projections::read_models::tickets::id_by_number(&self.pool, number)
            .await
            .context("cannot look up the ticket number")
    }

    /// Whether the mail was recorded before (applied, or ignored).
    async fn known(&self, message_id: &str) -> anyhow::Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM email_inbound WHERE message_id = $1)")
            .bind(message_id)
            .fetch_one(&self.pool)
            .await
            .context("cannot read email_inbound")
    }

    fn row<'a>(
        &self,
        mail: &'a Mail,
        route: Route,
        outcome: &'static str,
        reason: Option<&'a str>,
        ticket: Option<Uuid>,
    ) -> Record<'a> {
        Record {
            message_id: &mail.message_id,
            route,
            sender: Some(&mail.from),
            subject: Some(&mail.subject),
            outcome,
            reason,
            ticket,
        }
    }

    /// Writes the mail's row unless it has one; true when this call wrote it.
    async fn record(&self, r: Record<'_>) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO email_inbound
                 (message_id, received_via, sender, subject, outcome, reason, ticket_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(r.message_id)
        .bind(r.route.as_str())
        .bind(r.sender)
        .bind(r.subject)
        .bind(r.outcome)
        .bind(r.reason)
        .bind(r.ticket)
        .execute(&self.pool)
        .await
        .context("cannot write email_inbound")?;
        Ok(done.rows_affected() == 1)
    }
}

struct Record<'a> {
    message_id: &'a str,
    route: Route,
    sender: Option<&'a str>,
    subject: Option<&'a str>,
    outcome: &'static str,
    reason: Option<&'a str>,
    ticket: Option<Uuid>,
}

/// The key a mail's command is stored under; the digest names the message alone, so that the
/// SMTP and the IMAP copy of a mail are the same request.
fn idempotency(message_id: &str) -> Idempotency {
    Idempotency {
        key: format!("email:{message_id}"),
        digest: hex::encode(Sha256::digest(format!("email\n{message_id}"))),
    }
}

/// `42` from a subject holding `[#42]`.
fn ticket_number(subject: &str) -> Option<i64> {
    subject.match_indices("[#").find_map(|(at, _)| {
        let rest = &subject[at + 2..];
        let end = rest.find(']')?;
        rest[..end].parse::<i64>().ok().filter(|n| *n > 0)
    })
}

fn count(outcome: &'static str) {
    metrics::counter!("ticketd_email_inbound_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticket_number_is_read_from_a_bracketed_hash() {
        assert_eq!(ticket_number("Re: [#42] Printer jammed"), Some(42));
        assert_eq!(ticket_number("[#x] [#7]"), Some(7));
        for none in ["#42", "[#]", "[#-3]", "[#42", "Re: printer"] {
            assert_eq!(ticket_number(none), None, "{none}");
        }
    }

    #[test]
    fn both_routes_of_a_mail_are_one_request() {
        assert_eq!(idempotency("a@b").digest, idempotency("a@b").digest);
        assert_ne!(idempotency("a@b").digest, idempotency("a@c").digest);
        assert_eq!(idempotency("a@b").key, "email:a@b");
    }
}
