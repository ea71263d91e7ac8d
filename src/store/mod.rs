//! The event store behind cqrs-es.
//!
//! Reads go through postgres-es's repository. Appends are our own `INSERT … UNNEST` statement,
//! because every append must also seal the events onto the ticket's hash chain and store the
//! idempotency key; one statement stores the events of many concurrent commands (see
//! [`append`]).
//!
//! Recently used tickets stay in memory ([`TicketStore::load_aggregate`] clones them): the
//! optimistic lock on `(aggregate_type, aggregate_id, sequence)` still catches a stale copy, and
//! the command service re-decides on fresh state whenever a cached copy leads to a rejection.

mod append;
pub mod calendars;
pub mod sla_policies;
pub mod user_stream;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use cqrs_es::persist::{PersistedEventRepository, PersistenceError};
use cqrs_es::{AggregateContext, AggregateError, EventEnvelope, EventStore};
use lru::LruCache;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use ticket_nats::envelope::{Actor as EnvelopeActor, EnvelopeHeader};
use ticket_nats::{Envelope, TicketEvent, Timestamp, GENESIS_HASH};
use ticket_projections::sequencer::Announcer;
use uuid::Uuid;

use crate::domain::{Ticket, TicketError};
use append::{Appender, Failure, Row};

/// Metadata keys a command hands to [`TicketStore::commit`].
pub mod meta {
    /// The actor's id.
    pub const ACTOR_ID: &str = "actorid";
    /// The actor's display name.
    pub const ACTOR_NAME: &str = "actorname";
    /// The actor's role.
    pub const ACTOR_ROLE: &str = "actorrole";
    /// The request's correlation id.
    pub const CORRELATION_ID: &str = "correlationid";
    /// The command's time (RFC 3339, milliseconds).
    pub const TIME: &str = "time";
    /// The command's Idempotency-Key, if any.
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    /// A digest of the request the key was used with.
    pub const REQUEST_DIGEST: &str = "request_digest";
}

const CACHE_CAPACITY: usize = 10_000;

type Error = AggregateError<TicketError>;

/// A loaded ticket, ready for a command.
#[derive(Debug)]
pub struct TicketContext {
    /// The ticket's id.
    pub aggregate_id: String,
    /// Its state; the command service applies new events to it while deciding.
    pub ticket: Ticket,
    /// Its version when loaded.
    pub version: i64,
    /// The hash of its last stored event.
    pub last_hash: String,
    /// Whether the state came from the in-memory cache rather than the database.
    pub from_cache: bool,
}

impl AggregateContext<Ticket> for TicketContext {
    fn aggregate(&mut self) -> &mut Ticket {
        &mut self.ticket
    }
}

#[derive(Debug, Clone)]
struct Cached {
    ticket: Ticket,
    version: i64,
    last_hash: String,
}

/// A command was already applied under this Idempotency-Key (found by a racing insert).
#[derive(Debug, thiserror::Error)]
#[error("idempotency key already used")]
pub struct IdempotencyKeyTaken;

/// cqrs-es event store for tickets.
pub struct TicketStore {
    repo: PostgresEventRepository,
    source: String,
    cache: Mutex<LruCache<String, Cached>>,
    appender: Appender,
}

impl TicketStore {
    /// A store on `pool`; new events carry `source` as their CloudEvents source, and every
    /// commit asks `announcer` to wake the sequencers. Starts the append workers on the current
    /// Tokio runtime.
    pub fn new(pool: PgPool, source: String, announcer: Announcer) -> Self {
        Self {
            repo: PostgresEventRepository::new(pool.clone()),
            appender: Appender::start(pool, announcer),
            source,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<String, Cached>> {
        // A poisoned cache only means a panic elsewhere mid-update; its entries are still
        // whole values, and the optimistic lock guards against any stale one.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the cached copy of a ticket, so that the next load reads the database.
    pub fn evict(&self, aggregate_id: &str) {
        self.cache().pop(aggregate_id);
    }

    /// Loads a ticket from the database, bypassing (and refreshing) the cache.
    pub async fn load_fresh(&self, aggregate_id: &str) -> Result<TicketContext, Error> {
        let stored = self
            .repo
            .get_events::<Ticket>(aggregate_id)
            .await
            .map_err(persistence_error)?;
        let mut ticket = Ticket::default();
        let mut last_hash = GENESIS_HASH.to_string();
        let mut version = 0;
        for event in stored {
            let typed = TicketEvent::from_parts(&event.event_type, event.payload)
                .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?;
            if let Some(hash) = event.metadata.get("hash").and_then(|h| h.as_str()) {
                last_hash = hash.to_string();
            }
            version = event.sequence as i64;
            let time = event
                .metadata
                .get("time")
                .and_then(|t| t.as_str())
                .and_then(|t| t.parse::<Timestamp>().ok());
            ticket.apply_at(typed, time);
        }
        if version > 0 {
            self.cache().put(
                aggregate_id.to_string(),
                Cached {
                    ticket: ticket.clone(),
                    version,
                    last_hash: last_hash.clone(),
                },
            );
        }
        Ok(TicketContext {
            aggregate_id: aggregate_id.to_string(),
            ticket,
            version,
            last_hash,
            from_cache: false,
        })
    }

    /// Appends sealed events in one statement (one commit).
    async fn append(
        &self,
        aggregate_id: &str,
        envelopes: &[Envelope],
        metadata: &HashMap<String, String>,
    ) -> Result<(), Error> {
        let rows = envelopes
            .iter()
            .enumerate()
            .map(|(i, envelope)| Row {
                aggregate_id: aggregate_id.to_string(),
                sequence: envelope.seq,
                event_type: envelope.event_type.clone(),
                payload: envelope.data.to_string(),
                metadata: ticket_projections::stored::stored_metadata_json(envelope),
                // On the command's first event only: the unique index is per command.
                idempotency_key: (i == 0)
                    .then(|| metadata.get(meta::IDEMPOTENCY_KEY).cloned())
                    .flatten(),
                actor_id: metadata.get(meta::ACTOR_ID).cloned(),
                request_digest: metadata.get(meta::REQUEST_DIGEST).cloned(),
            })
            .collect();
        self.appender
            .append(rows)
            .await
            .map_err(|failure| match failure {
                Failure::Conflict => AggregateError::AggregateConflict,
                Failure::IdempotencyKeyTaken => {
                    AggregateError::UnexpectedError(Box::new(IdempotencyKeyTaken))
                }
                Failure::Unreachable(_) => {
                    AggregateError::DatabaseConnectionError(Box::new(failure))
                }
                Failure::Other(_) => AggregateError::UnexpectedError(Box::new(failure)),
            })
    }
}

/// Maps a postgres-es error, telling an unreachable database from other failures.
fn persistence_error(error: PersistenceError) -> Error {
    match error {
        PersistenceError::OptimisticLockError => AggregateError::AggregateConflict,
        PersistenceError::ConnectionError(e) => AggregateError::DatabaseConnectionError(e),
        PersistenceError::DeserializationError(e) => AggregateError::DeserializationError(e),
        PersistenceError::UnknownError(e) => {
            if e.downcast_ref::<sqlx::Error>()
                .is_some_and(crate::db::is_unreachable)
            {
                AggregateError::DatabaseConnectionError(e)
            } else {
                AggregateError::UnexpectedError(e)
            }
        }
    }
}

impl EventStore<Ticket> for TicketStore {
    type AC = TicketContext;

    async fn load_events(&self, aggregate_id: &str) -> Result<Vec<EventEnvelope<Ticket>>, Error> {
        let stored = self
            .repo
            .get_events::<Ticket>(aggregate_id)
            .await
            .map_err(persistence_error)?;
        stored
            .into_iter()
            .map(|event| {
                let payload = TicketEvent::from_parts(&event.event_type, event.payload)
                    .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?;
                let metadata = match event.metadata {
                    serde_json::Value::Object(map) => map
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                    _ => HashMap::new(),
                };
                Ok(EventEnvelope {
                    aggregate_id: event.aggregate_id,
                    sequence: event.sequence,
                    payload,
                    metadata,
                })
            })
            .collect()
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<TicketContext, Error> {
        let cached = self.cache().get(aggregate_id).cloned();
        match cached {
            Some(c) => Ok(TicketContext {
                aggregate_id: aggregate_id.to_string(),
                ticket: c.ticket,
                version: c.version,
                last_hash: c.last_hash,
                from_cache: true,
            }),
            None => self.load_fresh(aggregate_id).await,
        }
    }

    async fn commit(
        &self,
        events: Vec<TicketEvent>,
        context: TicketContext,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<Ticket>>, Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let ticket_id = Uuid::parse_str(&context.aggregate_id)
            .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
        let field = |key: &str| metadata.get(key).cloned().unwrap_or_default();
        let actor = if metadata.contains_key(meta::ACTOR_ID) {
            EnvelopeActor {
                id: field(meta::ACTOR_ID),
                name: field(meta::ACTOR_NAME),
                role: field(meta::ACTOR_ROLE),
            }
        } else {
            EnvelopeActor::system()
        };
        let time = metadata
            .get(meta::TIME)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or_else(Timestamp::now);
        let correlation_id = field(meta::CORRELATION_ID);
        let mut prevhash = context.last_hash.clone();
        let mut envelopes = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let envelope = Envelope::seal(
                EnvelopeHeader {
                    source: &self.source,
                    ticket_id,
                    seq: context.version + i as i64 + 1,
                    time,
                    actor: &actor,
                    correlation_id: &correlation_id,
                },
                event,
                &prevhash,
            );
            prevhash = envelope.hash.clone();
            envelopes.push(envelope);
        }
        if let Err(e) = self
            .append(&context.aggregate_id, &envelopes, &metadata)
            .await
        {
            self.evict(&context.aggregate_id);
            return Err(e);
        }
        let version = context.version + events.len() as i64;
        self.cache().put(
            context.aggregate_id.clone(),
            Cached {
                ticket: context.ticket,
                version,
                last_hash: prevhash,
            },
        );
        let committed = events
            .into_iter()
            .zip(envelopes)
            .map(|(payload, envelope)| EventEnvelope {
                aggregate_id: context.aggregate_id.clone(),
                sequence: envelope.seq as usize,
                payload,
                metadata: HashMap::from([
                    ("hash".to_string(), envelope.hash),
                    ("prevhash".to_string(), envelope.prevhash),
                    (meta::TIME.to_string(), envelope.time.to_string()),
                ]),
            })
            .collect();
        Ok(committed)
    }
}
