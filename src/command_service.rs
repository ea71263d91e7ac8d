//! The command service: load a ticket, let the aggregate decide, commit, and retry on a
//! concurrent write. Built from cqrs-es's parts rather than `CqrsFramework::execute`, because a
//! caller needs the committed version back (for `ETag`) and the ticket's number.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use sqlx::{PgPool, Row};
use ticket_nats::Timestamp;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::domain::{Ticket, TicketCommand, TicketError, TicketServices};
use crate::store::{meta, sla_policies, IdempotencyKeyTaken, TicketStore};

/// Attempts at a command that keeps losing the optimistic lock to other writers.
const MAX_ATTEMPTS: usize = 8;
/// Commands on one ticket run one at a time within an instance (striped by ticket id), so that
/// concurrent requests queue instead of losing the optimistic lock to each other.
const LOCK_STRIPES: usize = 1024;

/// What the request adds to a command.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    /// `X-Request-Id`, or a new id.
    pub correlation_id: String,
    /// `If-Match`: the version the caller last saw.
    pub expected_version: Option<i64>,
    /// `Idempotency-Key` and a digest of the request it came with.
    pub idempotency: Option<Idempotency>,
}

/// An Idempotency-Key with the digest of its request.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The key (1–255 characters).
    pub key: String,
    /// SHA-256 hex of the method, path and body.
    pub digest: String,
}

/// A command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Its short number.
    pub number: i64,
    /// Its version after the command.
    pub version: i64,
    /// The command created the ticket (201 rather than 200).
    pub created: bool,
    /// Events written by this call (0 for a no-op or a replayed answer).
    pub events: usize,
}

/// Why a command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The aggregate refused it.
    #[error(transparent)]
    Rejected(#[from] TicketError),
    /// `If-Match` did not match.
    #[error("the ticket is at version {current}")]
    VersionMismatch {
        /// The ticket's version now.
        current: i64,
    },
    /// The key was used before with another request.
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// Too many concurrent writers on one ticket.
    #[error("the ticket is being changed by too many writers at once")]
    Contention,
    /// Postgres cannot be reached.
    #[error("the database is unreachable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else.
    #[error("command failed")]
    Internal(#[source] anyhow::Error),
}

/// How long a loaded SLA configuration is used before it is read again, so that a policy or
/// calendar changed through another instance applies there within this time.
const SLA_REFRESH: Duration = Duration::from_secs(1);

/// Runs commands against the event store.
pub struct CommandService {
    pool: PgPool,
    store: TicketStore,
    /// The configured targets (`TICKETD_SLA`), which stored policies override.
    base: TicketServices,
    default_calendar: Option<Uuid>,
    /// The SLA configuration in force and when it was read; `None` until first needed.
    loaded: std::sync::RwLock<Option<(Instant, Arc<TicketServices>)>>,
    /// Counts the SLA configuration changes taken here, for the SLA timer to replan at once.
    sla_changes: tokio::sync::watch::Sender<u64>,
    locks: Vec<Mutex<()>>,
}

impl CommandService {
    /// A service over `store`.
    pub fn new(pool: PgPool, store: TicketStore, services: TicketServices) -> Self {
        Self {
            pool,
            store,
            base: services,
            default_calendar: None,
            loaded: std::sync::RwLock::new(None),
            sla_changes: tokio::sync::watch::Sender::new(0),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Counts targets without a policy calendar on calendar `id` (`SLA_DEFAULT_CALENDAR`).
    pub fn with_default_calendar(mut self, id: Option<Uuid>) -> Self {
        self.default_calendar = id;
        self
    }

    /// The database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What the SLA configuration in force rests on besides the stored policies and calendars:
    /// the configured targets (`TICKETD_SLA`) and default calendar, which a restart may change.
    pub fn configured_sla(&self) -> String {
        format!("{:?}|{:?}", self.base.sla, self.default_calendar)
    }

    /// What the aggregate is given: the SLA targets and calendars in force, read again from
    /// the stored policies when older than a second. A read that fails keeps the last
    /// configuration (or the configured one) and is logged, so an outage of that one query
    /// fails no command that the event store itself could take.
    pub async fn services(&self) -> Arc<TicketServices> {
        if let Ok(guard) = self.loaded.read() {
            if let Some((at, services)) = guard.as_ref() {
                if at.elapsed() < SLA_REFRESH {
                    return services.clone();
                }
            }
        }
        match sla_policies::load(&self.pool, &self.base.sla, self.default_calendar).await {
            Ok(services) => {
                let services = Arc::new(services);
                if let Ok(mut guard) = self.loaded.write() {
                    *guard = Some((Instant::now(), services.clone()));
                }
                services
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the SLA policies; using the last ones");
                self.loaded
                    .read()
                    .ok()
                    .and_then(|g| g.as_ref().map(|(_, s)| s.clone()))
                    .unwrap_or_else(|| Arc::new(self.base.clone()))
            }
        }
    }

    /// Forgets the loaded SLA configuration: the next command reads the stored policies.
    pub fn sla_changed(&self) {
        if let Ok(mut guard) = self.loaded.write() {
            *guard = None;
        }
        self.sla_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Follows the SLA configuration changes taken by this instance (`sla_changed`).
    pub fn subscribe_sla_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sla_changes.subscribe()
    }

    /// The store, for readers that rebuild a ticket from its events.
    pub fn store(&self) -> &TicketStore {
        &self.store
    }

    /// A ticket's state as stored (read from the database, not the cache).
    pub async fn current(&self, id: Uuid) -> Result<Ticket, CommandError> {
        let context = self
            .store
            .load_fresh(&id.to_string())
            .await
            .map_err(aggregate_error)?;
        Ok(context.ticket)
    }

    /// Takes the next ticket number.
    pub async fn next_number(&self) -> Result<i64, CommandError> {
        let row = sqlx::query("SELECT nextval('ticket_numbers') AS n")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        row.try_get("n").map_err(db_error)
    }

    /// The answer of an earlier command by `actor_id` under `idempotency`, if there was one.
    pub async fn replayed(
        &self,
        actor_id: Uuid,
        idempotency: &Idempotency,
    ) -> Result<Option<Outcome>, CommandError> {
        let row = sqlx::query(
            "SELECT e.aggregate_id, e.sequence, e.event_type, e.request_digest,
                    (SELECT (c.payload->>'number')::bigint FROM events c
                      WHERE c.aggregate_type = e.aggregate_type AND c.aggregate_id = e.aggregate_id
                        AND c.sequence = 1) AS number
             FROM events e WHERE e.actor_id = $1 AND e.idempotency_key = $2",
        )
        .bind(actor_id.to_string())
        .bind(&idempotency.key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let digest: Option<String> = row.try_get("request_digest").map_err(db_error)?;
        if digest.as_deref() != Some(idempotency.digest.as_str()) {
            return Err(CommandError::IdempotencyMismatch);
        }
        let id: String = row.try_get("aggregate_id").map_err(db_error)?;
        let event_type: String = row.try_get("event_type").map_err(db_error)?;
        Ok(Some(Outcome {
            ticket_id: Uuid::parse_str(&id).map_err(|e| CommandError::Internal(e.into()))?,
            number: row
                .try_get::<Option<i64>, _>("number")
                .map_err(db_error)?
                .unwrap_or(0),
            version: row.try_get("sequence").map_err(db_error)?,
            created: event_type == "ticket.created",
            events: 0,
        }))
    }

    /// Executes `command` on ticket `ticket_id`.
    #[tracing::instrument(skip_all, fields(ticket_id = %ticket_id, command = command.name()))]
    pub async fn execute(
        &self,
        ticket_id: Uuid,
        command: TicketCommand,
        ctx: &CommandContext,
    ) -> Result<Outcome, CommandError> {
        let started = Instant::now();
        let name = command.name();
        let result = self.execute_inner(ticket_id, command, ctx).await;
        let outcome = match &result {
            Ok(o) if o.events == 0 => "noop",
            Ok(_) => "ok",
            Err(CommandError::Rejected(TicketError::NotFound)) => "not_found",
            Err(CommandError::Rejected(TicketError::Forbidden(_))) => "forbidden",
            Err(CommandError::Rejected(TicketError::Conflict(_))) => "conflict",
            Err(CommandError::VersionMismatch { .. }) => "version_mismatch",
            Err(CommandError::IdempotencyMismatch) => "idempotency_mismatch",
            Err(CommandError::Contention) => "contention",
            Err(CommandError::Unavailable(_)) => "unavailable",
            Err(CommandError::Internal(_)) => "error",
        };
        metrics::counter!("ticketd_commands_total", "command" => name, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("ticketd_command_duration_seconds", "command" => name, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        if let Ok(o) = &result {
            metrics::counter!("ticketd_events_appended_total").increment(o.events as u64);
        }
        result
    }

    async fn execute_inner(
        &self,
        ticket_id: Uuid,
        command: TicketCommand,
        ctx: &CommandContext,
    ) -> Result<Outcome, CommandError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ticket_id.hash(&mut hasher);
        let _guard = self.locks[hasher.finish() as usize % LOCK_STRIPES]
            .lock()
            .await;

        let id = ticket_id.to_string();
        let metadata = metadata_for(&command, ctx);
        let services = self.services().await;
        let mut fresh = false;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 1 {
                // Another instance is writing this ticket too: back off a little, jittered.
                let jitter = (ticket_id.as_u128() as u64 ^ attempt as u64) % 10;
                tokio::time::sleep(Duration::from_millis(attempt as u64 * 5 + jitter)).await;
            }
            let mut context = if fresh {
                self.store.load_fresh(&id).await
            } else {
                self.store.load_aggregate(&id).await
            }
            .map_err(aggregate_error)?;
            let cached = context.from_cache;
            // Who may see the ticket is decided before `If-Match` is compared: a version
            // mismatch would otherwise tell a stranger that the ticket exists, and its version.
            if !admitted(&context.ticket, &command) {
                if cached {
                    fresh = true;
                    continue;
                }
                return Err(CommandError::Rejected(TicketError::NotFound));
            }
            if let Some(expected) = ctx.expected_version {
                if expected != context.version {
                    if cached {
                        fresh = true;
                        continue;
                    }
                    return Err(CommandError::VersionMismatch {
                        current: context.version,
                    });
                }
            }
            let sink = EventSink::default();
            let decided = context
                .ticket
                .handle(command.clone(), &services, &sink)
                .await;
            let events = sink.collect().await;
            if decided.is_err() || events.is_empty() {
                // A rejection or a no-op decided on a cached copy is confirmed on fresh state
                // first: another instance may have moved the ticket on.
                if cached {
                    fresh = true;
                    continue;
                }
                decided?;
                return Ok(Outcome {
                    ticket_id,
                    number: context.ticket.number,
                    version: context.version,
                    created: false,
                    events: 0,
                });
            }
            let count = events.len();
            let version = context.version + count as i64;
            let created = context.version == 0;
            let number = context.ticket.number;
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(_) => {
                    return Ok(Outcome {
                        ticket_id,
                        number,
                        version,
                        created,
                        events: count,
                    })
                }
                Err(AggregateError::AggregateConflict) => {
                    if ctx.expected_version.is_some() {
                        let current = self.store.load_fresh(&id).await.map_err(aggregate_error)?;
                        return Err(CommandError::VersionMismatch {
                            current: current.version,
                        });
                    }
                    tracing::debug!(attempt, "concurrent write; deciding again on fresh state");
                    fresh = true;
                }
                Err(AggregateError::UnexpectedError(e)) if e.is::<IdempotencyKeyTaken>() => {
                    // A concurrent twin of this request won: answer as it did.
                    if let Some(idem) = &ctx.idempotency {
                        let actor = command.issuer().map(|a| a.id).unwrap_or_default();
                        if let Some(outcome) = self.replayed(actor, idem).await? {
                            return Ok(outcome);
                        }
                    }
                    return Err(CommandError::Internal(anyhow::anyhow!(
                        "idempotency key taken but no earlier answer found"
                    )));
                }
                Err(e) => return Err(aggregate_error(e)),
            }
        }
        Err(CommandError::Contention)
    }
}

/// Whether `command` may look at `ticket` at all: a ticket that does not exist yet only takes
/// its creation, and a requester sees only the tickets they requested. Commands without an
/// actor (the engine's own) see every ticket.
fn admitted(ticket: &Ticket, command: &TicketCommand) -> bool {
    match (command, command.issuer()) {
        (TicketCommand::CreateTicket(_), _) => true,
        (_, None) => ticket.created,
        (_, Some(actor)) => ticket.created && ticket.can_read(actor),
    }
}

fn metadata_for(command: &TicketCommand, ctx: &CommandContext) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        (meta::CORRELATION_ID.to_string(), ctx.correlation_id.clone()),
        (meta::TIME.to_string(), command.at().to_string()),
    ]);
    if let Some(actor) = command.issuer() {
        metadata.insert(meta::ACTOR_ID.into(), actor.id.to_string());
        metadata.insert(meta::ACTOR_NAME.into(), actor.name.clone());
        metadata.insert(meta::ACTOR_ROLE.into(), actor.role.as_str().into());
    }
    if let Some(idem) = &ctx.idempotency {
        metadata.insert(meta::IDEMPOTENCY_KEY.into(), idem.key.clone());
        metadata.insert(meta::REQUEST_DIGEST.into(), idem.digest.clone());
    }
    metadata
}

fn db_error(error: sqlx::Error) -> CommandError {
    if crate::db::is_unreachable(&error) {
        CommandError::Unavailable(Box::new(error))
    } else {
        CommandError::Internal(anyhow::Error::new(error))
    }
}

fn aggregate_error(error: AggregateError<TicketError>) -> CommandError {
    match error {
        AggregateError::UserError(e) => CommandError::Rejected(e),
        AggregateError::AggregateConflict => CommandError::Contention,
        AggregateError::DatabaseConnectionError(e) => CommandError::Unavailable(e),
        AggregateError::DeserializationError(e) => {
            CommandError::Internal(anyhow::anyhow!(e).context("stored event could not be read"))
        }
        AggregateError::UnexpectedError(e) => {
            if e.downcast_ref::<sqlx::Error>()
                .is_some_and(crate::db::is_unreachable)
            {
                CommandError::Unavailable(e)
            } else {
                CommandError::Internal(anyhow::anyhow!(e))
            }
        }
    }
}

/// `Timestamp::now()`, the clock commands are stamped with.
pub fn now() -> Timestamp {
    Timestamp::now()
}
