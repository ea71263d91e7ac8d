//! The rule processor (CONTRACT 8): one leader among the instances follows the positioned
//! event log from its checkpoint (`relay_checkpoints` row `rules`) and lets each enabled rule
//! act on the events it answers.
//!
//! Exactly once per (rule, event, action), through restarts: a command a rule issues carries
//! the idempotency key `rule:<rule>:<event>:<action>` under the rule's own actor id, stored with
//! its events in the command's transaction, so a batch run again after a crash finds the first
//! answer instead of acting twice; notifications and failures are written with the checkpoint
//! in one transaction, under a unique (rule, event, action).
//!
//! No loops: events whose actor role is `automation` (caused by a rule) are not given to any
//! rule, so two rules assigning back and forth act once each and stop, and a rule that tags on
//! `ticket.tagged` does not answer its own tagging.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cqrs_es::Aggregate;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};
use ticket_nats::error::chain;
use ticket_projections::connection::lead;
use ticket_projections::listen::{sleep_or_cancel, Notifications, Pace, TURN_GAP};
use ticket_projections::stored::{read_ticket, read_tickets_after, StoredEvent};
use ticket_projections::CancellationToken;
use tokio::sync::Notify;
use uuid::Uuid;

use super::model::Action;
use super::store::{self, Active};
use super::template::{self, Facts};
use crate::application::tickets::{self, Changes, Issued};
use crate::checkpoints;
use crate::command_service::{CommandContext, CommandError, CommandService, Idempotency};
use crate::domain::tags::Tag;
use crate::domain::{Issuer, Role, Ticket};
use crate::notify::NotifySettings;
use crate::users;

/// Advisory lock key of the rule processor (ASCII "tktdrul1").
pub const RULES_LOCK: i64 = 0x746b_7464_7275_6c31;
/// Its `relay_checkpoints` row.
pub const CHECKPOINT: &str = "rules";
/// Counter: rule actions by `outcome` (`acted`, `failed`).
pub const METRIC_ACTIONS: &str = "ticketd_rule_actions_total";
/// The request digest of every command a rule issues: its key alone tells them apart.
const DIGEST: &str = "rule";
/// Events read per batch.
const BATCH: i64 = 500;
/// How often the loop looks for work without a wake-up.
const POLL: Duration = Duration::from_secs(1);

/// The rule processor.
pub struct Processor {
    pool: PgPool,
    commands: Arc<CommandService>,
    settings: NotifySettings,
    /// Rung when notifications were queued.
    queued: Arc<Notify>,
}

/// What a batch writes with its checkpoint.
#[derive(Default)]
struct Written {
    notifications: Vec<Queued>,
    failures: Vec<Failed>,
}

struct Queued {
    rule: Uuid,
    event_id: String,
    action: i32,
    position: i64,
    channel: Uuid,
    subject: String,
    text: String,
    recipients: Vec<String>,
}

struct Failed {
    rule: Uuid,
    event_id: String,
    action: i32,
    position: i64,
    error: String,
}

/// The most ticket states the processor keeps between events.
const STATES_MAX: usize = 10_000;

/// The tickets as the processor last saw them, moved on by each event it reads (in position
/// order, so each ticket's events arrive in sequence): judging a rule then needs no read of the
/// ticket's history, except for a ticket not seen since this instance took the lead.
#[derive(Default)]
struct States(HashMap<Uuid, Ticket>);

impl States {
    /// Applies `event` to its ticket's kept state when that state is the one just before it
    /// (a new ticket starts from nothing); forgets a state that does not fit. Answers the
    /// ticket's id.
    fn follow(&mut self, event: &StoredEvent) -> Option<Uuid> {
        let id = Uuid::parse_str(&event.envelope.subject).ok()?;
        let seq = event.envelope.seq;
        if seq == 1 {
            if self.0.len() >= STATES_MAX {
                self.0.clear();
            }
            self.0.insert(id, Ticket::default());
        }
        match self.0.get_mut(&id) {
            Some(ticket) if ticket.version == seq - 1 => ticket.apply(event.event.clone()),
            Some(ticket) if ticket.version == seq => {}
            Some(_) => {
                self.0.remove(&id);
            }
            None => {}
        }
        Some(id)
    }

    /// The ticket right after its event `seq`, when kept.
    fn after(&self, id: Uuid, seq: i64) -> Option<&Ticket> {
        self.0.get(&id).filter(|t| t.version == seq)
    }

    fn keep(&mut self, id: Uuid, ticket: Ticket) {
        if self.0.len() >= STATES_MAX {
            self.0.clear();
        }
        self.0.insert(id, ticket);
    }
}

/// A channel as a `notify` action needs it.
#[derive(Clone)]
struct Target {
    kind: String,
    config: Value,
}

impl Processor {
    /// A processor issuing commands through `commands`.
    pub fn new(
        pool: PgPool,
        commands: Arc<CommandService>,
        settings: NotifySettings,
        queued: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            commands,
            settings,
            queued,
        })
    }

    /// Takes the lead when free and processes until `stop`.
    pub async fn run(self: Arc<Self>, notifications: Notifications, stop: CancellationToken) {
        let mut positioned = notifications.positioned();
        let mut failures: u32 = 0;
        loop {
            let leading = tokio::select! {
                () = stop.cancelled() => return,
                leading = lead(&self.pool, RULES_LOCK) => leading,
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
                    tracing::warn!(error = %chain(&error), "rule processor cannot reach the database");
                    if sleep_or_cancel(POLL, &stop).await {
                        return;
                    }
                    continue;
                }
            };
            tracing::info!("processing rules (leader)");
            let mut states = States::default();
            let mut pace = Pace::new(TURN_GAP);
            loop {
                if pace.turn(&stop).await {
                    let _ = sqlx::Connection::close(conn).await;
                    return;
                }
                match self.turn(&mut conn, &mut states).await {
                    Ok(read) if read as i64 >= BATCH => {
                        failures = 0;
                        continue;
                    }
                    Ok(_) => failures = 0,
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "rule processing failed; the batch runs again"
                        );
                        let pause = Duration::from_millis(100).saturating_mul(1 << failures.min(7));
                        if sleep_or_cancel(pause, &stop).await {
                            return;
                        }
                        // The lock lives with this connection: if it broke, lead again.
                        if sqlx::query("SELECT 1").execute(&mut conn).await.is_err() {
                            break;
                        }
                        continue;
                    }
                }
                let stopped = tokio::select! {
                    () = stop.cancelled() => true,
                    _ = positioned.next() => false,
                    () = tokio::time::sleep(POLL) => false,
                };
                if stopped {
                    let _ = sqlx::Connection::close(conn).await;
                    return;
                }
            }
            let _ = sqlx::Connection::close(conn).await;
        }
    }

    /// Processes the events after the checkpoint; answers how many it read.
    async fn turn(&self, conn: &mut PgConnection, states: &mut States) -> anyhow::Result<usize> {
        let checkpoint = checkpoints::current(&mut *conn, CHECKPOINT).await?;
        let batch = read_tickets_after(&mut *conn, checkpoint, BATCH).await?;
        let Some(last) = batch.last else {
            return Ok(0);
        };
        let events = batch.events;
        let rules = store::active(&mut *conn, checkpoint, last).await?;
        let mut written = Written::default();
        let mut targets: HashMap<Uuid, Option<Target>> = HashMap::new();
        for event in &events {
            let ticket = states.follow(event);
            if !rules.is_empty() {
                self.process(event, ticket, &rules, &mut targets, &mut written, states)
                    .await?;
            }
        }
        let queued = !written.notifications.is_empty();
        if !queued && written.failures.is_empty() {
            // Nothing but the checkpoint to record (the usual turn): one statement commits it.
            checkpoints::advance(&mut *conn, CHECKPOINT, last).await?;
            return Ok(batch.read);
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for n in &written.notifications {
            sqlx::query(
                "INSERT INTO notifications (rule_id, event_id, action, position, channel_id,
                                            subject, text, recipients)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8
                 WHERE EXISTS (SELECT 1 FROM notification_channels WHERE id = $5)
                 ON CONFLICT (rule_id, event_id, action) DO NOTHING",
            )
            .bind(n.rule)
            .bind(&n.event_id)
            .bind(n.action)
            .bind(n.position)
            .bind(n.channel)
            .bind(&n.subject)
            .bind(&n.text)
            .bind(&n.recipients)
            .execute(&mut *tx)
            .await?;
        }
        for f in &written.failures {
            sqlx::query(
                "INSERT INTO rule_failures (rule_id, event_id, action, position, error)
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM rules WHERE id = $1)
                 ON CONFLICT (rule_id, event_id, action) DO NOTHING",
            )
            .bind(f.rule)
            .bind(&f.event_id)
            .bind(f.action)
            .bind(f.position)
            .bind(&f.error)
            .execute(&mut *tx)
            .await?;
        }
        checkpoints::advance(&mut tx, CHECKPOINT, last).await?;
        tx.commit().await?;
        if queued {
            self.queued.notify_one();
        }
        Ok(batch.read)
    }

    /// Lets every rule that answers `event` act on it.
    async fn process(
        &self,
        event: &StoredEvent,
        ticket_id: Option<Uuid>,
        rules: &[Active],
        targets: &mut HashMap<Uuid, Option<Target>>,
        written: &mut Written,
        states: &mut States,
    ) -> anyhow::Result<()> {
        let envelope = &event.envelope;
        if envelope.actorrole == Role::Automation.as_str() {
            return Ok(());
        }
        let answering: Vec<&Active> = rules
            .iter()
            .filter(|r| r.when.answers(&envelope.event_type) && !r.before.contains(&event.position))
            .collect();
        if answering.is_empty() {
            return Ok(());
        }
        let ticket_id = match ticket_id {
            Some(id) => id,
            None => Uuid::parse_str(&envelope.subject).context("event subject")?,
        };
        let ticket = match states.after(ticket_id, envelope.seq) {
            Some(ticket) => ticket.clone(),
            None => {
                let ticket = self.ticket_after(ticket_id, envelope.seq).await?;
                states.keep(ticket_id, ticket.clone());
                ticket
            }
        };
        let facts = Facts {
            number: ticket.number,
            title: ticket.title.clone(),
            priority: ticket
                .priority
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            url: self.settings.ticket_url(&envelope.subject),
            actor_name: envelope.actorname.clone(),
        };
        for rule in answering {
            if !rule.when.hold_for(&ticket) {
                continue;
            }
            let span = tracing::info_span!("rule", rule_id = %rule.id, event_id = %envelope.id);
            let _entered = span.enter();
            for (index, action) in rule.then.iter().enumerate() {
                let index = index as i32;
                let acted = self
                    .act(
                        rule, event, &ticket, &facts, index, action, targets, written,
                    )
                    .await?;
                if let Err(error) = acted {
                    tracing::info!(action = index, %error, "a rule action could not act");
                    metrics::counter!(METRIC_ACTIONS, "outcome" => "failed").increment(1);
                    written.failures.push(Failed {
                        rule: rule.id,
                        event_id: envelope.id.clone(),
                        action: index,
                        position: event.position,
                        error,
                    });
                } else {
                    metrics::counter!(METRIC_ACTIONS, "outcome" => "acted").increment(1);
                }
            }
        }
        Ok(())
    }

    /// One action. The outer error is a fault that runs the batch again; the inner one a
    /// refusal recorded as the rule's failure.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        rule: &Active,
        event: &StoredEvent,
        ticket: &Ticket,
        facts: &Facts,
        index: i32,
        action: &Action,
        targets: &mut HashMap<Uuid, Option<Target>>,
        written: &mut Written,
    ) -> anyhow::Result<Result<(), String>> {
        let envelope = &event.envelope;
        let ticket_id = Uuid::parse_str(&envelope.subject).context("event subject")?;
        let by = Issuer {
            id: rule.id,
            name: rule.name.clone(),
            email: String::new(),
            role: Role::Automation,
            stands_for: Vec::new(),
        };
        let ctx = CommandContext {
            correlation_id: envelope.correlationid.clone(),
            expected_version: None,
            idempotency: Some(Idempotency {
                key: format!("rule:{}:{}:{index}", rule.id, envelope.id),
                digest: DIGEST.into(),
            }),
        };
        let issued = Issued { by: &by, ctx: &ctx };
        let outcome = match action {
            Action::Notify { notify, template } => {
                let target = match targets.get(notify) {
                    Some(target) => target.clone(),
                    None => {
                        let target = self.target(*notify).await?;
                        targets.insert(*notify, target.clone());
                        target
                    }
                };
                let Some(target) = target else {
                    return Ok(Err(format!("notification channel {notify} does not exist")));
                };
                let recipients = match self.recipients(&target, ticket).await? {
                    Ok(recipients) => recipients,
                    Err(error) => return Ok(Err(error)),
                };
                let text = match template {
                    Some(text) => template::render(text, facts),
                    None => format!(
                        "{}: #{} {} ({})\n{}",
                        envelope.event_type, facts.number, facts.title, facts.actor_name, facts.url
                    ),
                };
                written.notifications.push(Queued {
                    rule: rule.id,
                    event_id: envelope.id.clone(),
                    action: index,
                    position: event.position,
                    channel: *notify,
                    subject: format!("[#{}] {}", facts.number, facts.title),
                    text,
                    recipients,
                });
                return Ok(Ok(()));
            }
            Action::Assign { assign } => {
                let user = users::find(&self.pool, *assign).await?;
                let Some(user) = user.filter(|u| u.active && u.role.is_staff()) else {
                    return Ok(Err(format!(
                        "user {assign} is not an active agent or admin"
                    )));
                };
                let assignee = ticket_nats::events::UserRef {
                    id: user.id,
                    name: user.name,
                };
                tickets::assign(&self.commands, issued, ticket_id, Some(assignee), None).await
            }
            Action::SetPriority { set_priority } => {
                let changes = Changes {
                    priority: Some(*set_priority),
                    ..Changes::default()
                };
                tickets::update(&self.commands, issued, ticket_id, changes).await
            }
            Action::Comment { comment, internal } => {
                let body = template::render(comment, facts);
                tickets::comment(&self.commands, issued, ticket_id, body, *internal).await
            }
            Action::AddTags { add_tags } => {
                // Read when the rule was stored; a tag that no longer parses is the rule's
                // failure, not the processor's.
                let tags: Result<BTreeSet<Tag>, _> =
                    add_tags.iter().map(|t| Tag::parse(t)).collect();
                match tags {
                    Ok(tags) => tickets::tag(&self.commands, issued, ticket_id, tags, true).await,
                    Err(error) => return Ok(Err(error.to_string())),
                }
            }
        };
        match outcome {
            Ok(_) => Ok(Ok(())),
            Err(CommandError::Rejected(error)) => Ok(Err(error.to_string())),
            Err(CommandError::IdempotencyMismatch) => {
                Ok(Err("an earlier action holds the same key".into()))
            }
            Err(error) => Err(anyhow::Error::new(error).context("a rule's command failed")),
        }
    }

    /// The channel `id` names, if it still exists.
    async fn target(&self, id: Uuid) -> Result<Option<Target>, sqlx::Error> {
        let row = sqlx::query("SELECT kind, config FROM notification_channels WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Target {
                kind: row.try_get("kind")?,
                config: row.try_get("config")?,
            })
        })
        .transpose()
    }

    /// Whom an e-mail channel writes to about `ticket` (other kinds have no recipients).
    async fn recipients(
        &self,
        target: &Target,
        ticket: &Ticket,
    ) -> Result<Result<Vec<String>, String>, sqlx::Error> {
        if target.kind != "email" {
            return Ok(Ok(Vec::new()));
        }
        if let Some(to) = target.config.get("to").and_then(Value::as_array) {
            return Ok(Ok(to
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()));
        }
        let role = target.config.get("to_role").and_then(Value::as_str);
        let addresses: Vec<String> = match role {
            Some("assignee") => {
                let Some(assignee) = &ticket.assignee else {
                    return Ok(Err("the ticket has no assignee to mail".into()));
                };
                users::find(&self.pool, assignee.id)
                    .await?
                    .filter(|u| u.active)
                    .and_then(|u| u.email)
                    .into_iter()
                    .collect()
            }
            Some("requester") => ticket
                .requester
                .as_ref()
                .and_then(|r| r.email.clone())
                .into_iter()
                .collect(),
            Some("agents") => {
                sqlx::query_scalar(
                    "SELECT email FROM users
                     WHERE role IN ('agent', 'admin') AND active AND email IS NOT NULL
                     ORDER BY email",
                )
                .fetch_all(&self.pool)
                .await?
            }
            _ => return Ok(Err("the channel names no recipients".into())),
        };
        let addresses: Vec<String> = addresses
            .into_iter()
            .filter(|a| !a.trim().is_empty())
            .collect();
        if addresses.is_empty() {
            return Ok(Err(format!(
                "no e-mail address for the {}",
                role.unwrap_or("recipients")
            )));
        }
        Ok(Ok(addresses))
    }

    /// The ticket as it stood right after its event `seq`.
    async fn ticket_after(&self, id: Uuid, seq: i64) -> anyhow::Result<Ticket> {
        let envelopes = read_ticket(&self.pool, id, None, true).await?;
        let mut ticket = Ticket::default();
        for envelope in envelopes.into_iter().filter(|e| e.seq <= seq) {
            let event = envelope
                .event()
                .with_context(|| format!("event {} cannot be read", envelope.id))?;
            ticket.apply(event);
        }
        Ok(ticket)
    }
}
