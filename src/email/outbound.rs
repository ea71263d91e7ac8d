//! Mail out (CONTRACT 7, "Email out"): public staff comments and closes are mailed to the
//! ticket's requester through `SMTP_URL`, from the event log, at the address the directory
//! holds for them then (following a merge to the user kept).
//!
//! Like the NATS relay, one instance leads (a session advisory lock) and follows positioned
//! events from its checkpoint (`relay_checkpoints` row `email_out`). Each batch of events
//! becomes rows of `email_outbox`, one per (event, recipient), written with the checkpoint in
//! one transaction: a crash repeats at most the batch, whose rows are already there and stay one
//! each. Rows are then sent oldest first and marked sent once the SMTP server accepted them;
//! an outage or a 4xx keeps the row and retries with backoff, a 5xx marks it failed for good.
//! The one window left is a crash after the server's 250 and before the row is marked: the mail
//! is sent again with the same Message-ID, which receivers and threads treat as the same mail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{PgConnection, PgPool, Row};
use ticket_nats::backoff::Backoff;
use ticket_nats::TicketEvent;
use ticket_projections::connection::lead;
use ticket_projections::listen::{sleep_or_cancel, Notifications, Pace, TURN_GAP};
use ticket_projections::stored::{head_position, read_tickets_after, StoredEvent};
use ticket_projections::CancellationToken;
use uuid::Uuid;

use crate::checkpoints;
use crate::command_service::CommandService;
use crate::users;

use super::status::ChannelStatus;

/// Advisory lock key of mail out (ASCII "tktdmlo1").
pub const MAIL_OUT_LOCK: i64 = 0x746b_7464_6d6c_6f31;
/// Its `relay_checkpoints` row.
pub const CHECKPOINT: &str = "email_out";
/// Events read per batch.
const BATCH: i64 = 500;
/// Mails sent per turn before the loop looks at new events again.
const SEND_BATCH: i64 = 50;
/// How often the loop looks for work without a wake-up.
const POLL: Duration = Duration::from_secs(1);

/// The mailer: where mail goes and who it is from.
pub struct Outbound {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of the Message-IDs the engine makes (`EMAIL_FROM`'s domain).
    domain: String,
    commands: Arc<CommandService>,
    status: ChannelStatus,
}

/// One mail to queue.
struct Queued {
    event_id: String,
    recipient: String,
    ticket_id: Uuid,
    position: i64,
    message_id: String,
    subject: String,
    body: String,
}

impl Outbound {
    /// A mailer sending through `smtp_url` (`smtp://host:port` plain, `?tls=required` for
    /// STARTTLS, `smtps://` for implicit TLS; credentials in the URL) from `from`.
    pub fn new(
        smtp_url: &str,
        from: Mailbox,
        commands: Arc<CommandService>,
        status: ChannelStatus,
    ) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .context("SMTP_URL is not an SMTP URL")?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let domain = from.email.domain().to_string();
        Ok(Self {
            transport,
            from,
            domain,
            commands,
            status,
        })
    }

    /// The loop until `stop`: take the lead when free, queue and send, stand by otherwise.
    pub async fn run(
        self: Arc<Self>,
        pool: PgPool,
        notifications: Notifications,
        stop: CancellationToken,
    ) {
        let mut positioned = notifications.positioned();
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            let leading = tokio::select! {
                () = stop.cancelled() => return,
                leading = lead(&pool, MAIL_OUT_LOCK) => leading,
            };
            let mut conn = match leading {
                Ok(Some(conn)) => conn,
                Ok(None) => {
                    if sleep_or_cancel(POLL, &stop).await {
                        return;
                    }
                    continue;
                }
                Err(error) => {
                    self.status.failed(format!("database: {error}"));
                    if sleep_or_cancel(backoff.next_pause(), &stop).await {
                        return;
                    }
                    continue;
                }
            };
            self.status.up();
            let mut pace = Pace::new(TURN_GAP);
            loop {
                if pace.turn(&stop).await {
                    let _ = sqlx::Connection::close(conn).await;
                    return;
                }
                let turn = async {
                    let queued = self.queue(&mut conn).await?;
                    let sent = self.send(&mut conn).await?;
                    Ok::<_, anyhow::Error>((queued, sent))
                };
                let pause = match turn.await {
                    Ok((0, Turn::Idle)) => {
                        backoff.reset();
                        None
                    }
                    Ok((_, Turn::Idle | Turn::More)) => {
                        backoff.reset();
                        Some(Duration::ZERO)
                    }
                    Ok((_, Turn::Retry)) => Some(backoff.next_pause()),
                    Err(error) => {
                        // The leader's connection failed: give the lead up and start over.
                        tracing::warn!(error = format!("{error:#}"), "mail out stepped down");
                        self.status.failed(format!("{error:#}"));
                        let _ = sqlx::Connection::close(conn).await;
                        if sleep_or_cancel(backoff.next_pause(), &stop).await {
                            return;
                        }
                        break;
                    }
                };
                let stopped = match pause {
                    Some(pause) => sleep_or_cancel(pause, &stop).await,
                    None => tokio::select! {
                        () = stop.cancelled() => true,
                        _ = positioned.next() => false,
                        () = tokio::time::sleep(POLL) => false,
                    },
                };
                if stopped {
                    let _ = sqlx::Connection::close(conn).await;
                    return;
                }
            }
        }
    }

    /// Queues the mails of the events after the checkpoint; returns how many events it read.
    async fn queue(&self, conn: &mut PgConnection) -> anyhow::Result<usize> {
        let checkpoint = checkpoints::current(&mut *conn, CHECKPOINT).await?;
        let batch = read_tickets_after(&mut *conn, checkpoint, BATCH).await?;
        let Some(last) = batch.last else {
            return Ok(0);
        };
        let mut mails = Vec::new();
        for event in &batch.events {
            if let Some(mail) = self.mail_for(event).await? {
                mails.push(mail);
            }
        }
        if mails.is_empty() {
            // Nothing but the checkpoint to record (the usual turn): one statement commits it.
            checkpoints::advance(&mut *conn, CHECKPOINT, last).await?;
            return Ok(batch.read);
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // The thread's latest message when each mail is queued, so that each mail answers the
        // one before it (several in one batch chain among themselves).
        let mut latest: HashMap<Uuid, Option<String>> = HashMap::new();
        for mail in mails {
            let previous = match latest.get(&mail.ticket_id) {
                Some(previous) => previous.clone(),
                None => last_message(&mut tx, mail.ticket_id).await?,
            };
            sqlx::query(
                "INSERT INTO email_outbox (event_id, recipient, ticket_id, position, message_id,
                                           in_reply_to, subject, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (event_id, recipient) DO NOTHING",
            )
            .bind(&mail.event_id)
            .bind(&mail.recipient)
            .bind(mail.ticket_id)
            .bind(mail.position)
            .bind(&mail.message_id)
            .bind(previous)
            .bind(&mail.subject)
            .bind(&mail.body)
            .execute(&mut *tx)
            .await?;
            latest.insert(mail.ticket_id, Some(mail.message_id));
        }
        checkpoints::advance(&mut tx, CHECKPOINT, last).await?;
        tx.commit().await?;
        Ok(batch.read)
    }

    /// The mail an event makes, if any: a public comment, a close or a request for information
    /// (`ticket.pending`) by staff, on a
    /// ticket whose requester has an address, to that requester (never to the author).
    async fn mail_for(&self, stored: &StoredEvent) -> anyhow::Result<Option<Queued>> {
        let envelope = &stored.envelope;
        let staff = matches!(envelope.actorrole.as_str(), "agent" | "admin");
        let text = match &stored.event {
            TicketEvent::Commented(c) if staff && !c.internal => {
                format!("{} wrote:\n\n{}\n", c.author.name, c.body)
            }
            TicketEvent::Closed(c) if staff => match &c.resolution {
                Some(resolution) => format!(
                    "{} closed this ticket.\n\nResolution: {resolution}\n",
                    envelope.actorname
                ),
                None => format!("{} closed this ticket.\n", envelope.actorname),
            },
            // Staff ask the requester for information (CONTRACT 9); the reply resumes it.
            TicketEvent::Pending(p) if staff => {
                let mut text = format!(
                    "{} needs more information from you to go on with this ticket.\n",
                    envelope.actorname
                );
                if let Some(reason) = p.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    text.push_str(&format!("\n{reason}\n"));
                }
                text.push_str("\nReply to this mail to answer.\n");
                text
            }
            _ => return Ok(None),
        };
        let ticket_id = Uuid::parse_str(&envelope.subject).context("event subject")?;
        let ticket = self
            .commands
            .store()
            .load_fresh(&envelope.subject)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("cannot load the ticket to mail")?
            .ticket;
        let Some(requester) = ticket.requester else {
            return Ok(None);
        };
        // The person as the directory knows them when the event is mailed: a requester merged
        // into another user since is that user (inactive, their tickets listed there), so the
        // mail follows the merge; one the directory lost gets the address the ticket recorded.
        let (person, email) = users::mail_address(self.commands.pool(), requester.id)
            .await
            .context("cannot look up the requester's address")?
            .unwrap_or((requester.id, requester.email));
        let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
            return Ok(None);
        };
        let author = |id: Uuid| id.to_string() == envelope.actorid;
        if author(requester.id)
            || author(person)
            || email.eq_ignore_ascii_case(self.from.email.as_ref())
        {
            return Ok(None);
        }
        Ok(Some(Queued {
            event_id: envelope.id.clone(),
            recipient: email,
            ticket_id,
            position: stored.position,
            message_id: format!("{}.{}@{}", ticket_id, envelope.seq, self.domain),
            subject: format!("[#{}] {}", ticket.number, ticket.title),
            body: format!(
                "{text}\n-- \nTicket #{}. Reply to this mail to answer on the ticket.\n",
                ticket.number
            ),
        }))
    }

    /// Sends queued mails oldest first.
    async fn send(&self, conn: &mut PgConnection) -> anyhow::Result<Turn> {
        let rows = sqlx::query(
            "SELECT event_id, recipient, message_id, in_reply_to, subject, body FROM email_outbox
             WHERE sent_at IS NULL AND failed_at IS NULL ORDER BY position, recipient LIMIT $1",
        )
        .bind(SEND_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(Turn::Idle);
        }
        let full = rows.len() as i64 == SEND_BATCH;
        for row in rows {
            let event_id: String = row.try_get("event_id")?;
            let recipient: String = row.try_get("recipient")?;
            let outcome = match self.message(&row) {
                Ok(message) => match self.transport.send(message).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => Err((true, format!("refused: {e}"))),
                    Err(e) => Err((false, format!("cannot send: {e}"))),
                },
                // A recipient no SMTP server can take is refused for good, not retried.
                Err(e) => Err((true, format!("{e:#}"))),
            };
            match outcome {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE email_outbox SET sent_at = now(), attempts = attempts + 1
                         WHERE event_id = $1 AND recipient = $2",
                    )
                    .bind(&event_id)
                    .bind(&recipient)
                    .execute(&mut *conn)
                    .await?;
                    self.status.accepted();
                    metrics::counter!("ticketd_email_outbound_total", "outcome" => "sent")
                        .increment(1);
                }
                Err((permanent, error)) => {
                    sqlx::query(
                        "UPDATE email_outbox SET attempts = attempts + 1, last_error = $3,
                                failed_at = CASE WHEN $4 THEN now() END
                         WHERE event_id = $1 AND recipient = $2",
                    )
                    .bind(&event_id)
                    .bind(&recipient)
                    .bind(&error)
                    .bind(permanent)
                    .execute(&mut *conn)
                    .await?;
                    let outcome = if permanent { "refused" } else { "retry" };
                    metrics::counter!("ticketd_email_outbound_total", "outcome" => outcome)
                        .increment(1);
                    tracing::warn!(%event_id, %error, permanent, "mail not sent");
                    self.status.failed(error);
                    if !permanent {
                        return Ok(Turn::Retry);
                    }
                }
            }
        }
        Ok(if full { Turn::More } else { Turn::Idle })
    }

    /// The mail of an outbox row.
    fn message(&self, row: &sqlx::postgres::PgRow) -> anyhow::Result<Message> {
        let recipient: String = row.try_get("recipient")?;
        let message_id: String = row.try_get("message_id")?;
        let in_reply_to: Option<String> = row.try_get("in_reply_to")?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(recipient.parse().context("the requester's address")?)
            .subject(row.try_get::<String, _>("subject")?)
            .message_id(Some(format!("<{message_id}>")))
            .header(ContentType::TEXT_PLAIN);
        if let Some(previous) = in_reply_to {
            builder = builder
                .in_reply_to(format!("<{previous}>"))
                .references(format!("<{previous}>"));
        }
        builder
            .body(row.try_get::<String, _>("body")?)
            .context("cannot build the mail")
    }
}

/// What a sending turn left.
enum Turn {
    /// Nothing more to send.
    Idle,
    /// A full batch went out; more may wait.
    More,
    /// The server failed; try again after a pause.
    Retry,
}

/// The latest message of a ticket's thread, in or out.
async fn last_message(
    conn: &mut PgConnection,
    ticket: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT message_id FROM (
             SELECT message_id, received_at AS at, 0::bigint AS position FROM email_inbound
              WHERE ticket_id = $1 AND outcome <> 'ignored'
             UNION ALL
             SELECT message_id, created_at, position FROM email_outbox WHERE ticket_id = $1
         ) thread ORDER BY at DESC, position DESC LIMIT 1",
    )
    .bind(ticket)
    .fetch_optional(conn)
    .await
}

/// Mails waiting: queued and unsent, plus events not yet looked at (`/readyz`'s backlog).
pub async fn backlog(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    let unsent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    let checkpoint = checkpoints::saved(pool, CHECKPOINT).await?;
    let head = head_position(pool).await?;
    Ok((unsent, (head - checkpoint).max(0)))
}
