//! Appends, batched across commands.
//!
//! Every command's events must be committed before it answers, and a commit per command costs
//! Postgres a statement, a transaction and a WAL flush each. Commands hand their rows to a few
//! append workers instead; a worker takes every request queued while it was busy and stores
//! them with one statement, so that under load one commit carries many commands, and with a
//! single writer nothing waits (a worker that finds one request sends it at once).
//!
//! A batch is all or nothing. When Postgres refuses it (a concurrent write to one of the
//! tickets, a reused Idempotency-Key), nothing of it was stored, and each request is then
//! appended on its own, so that each command gets its own answer. When the connection fails
//! instead, whether the commit happened is unknown, and every request of the batch gets that
//! failure, as a single append would.

use std::sync::Arc;

use cqrs_es::Aggregate;
use sqlx::PgPool;
use ticket_nats::events::EVENT_VERSION;
use ticket_projections::connection::{refused_in_session, Stash};
use ticket_projections::sequencer::Announcer;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::domain::Ticket;

/// Workers, each with a connection of its own: commits in flight at once.
const WORKERS: usize = 4;
/// Most commands stored by one statement.
const MAX_BATCH: usize = 64;
/// Requests waiting for a worker before commands wait to hand theirs over.
const QUEUE: usize = 1024;

/// One event row, as the `events` table stores it.
#[derive(Debug)]
pub(super) struct Row {
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub payload: String,
    pub metadata: String,
    /// On a command's first event only: the unique index is per command.
    pub idempotency_key: Option<String>,
    pub actor_id: Option<String>,
    pub request_digest: Option<String>,
}

/// Why an append was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum Failure {
    /// Another write took one of the ticket's sequence numbers first.
    #[error("a concurrent write took the ticket's next version")]
    Conflict,
    /// The command's Idempotency-Key is already stored.
    #[error("idempotency key already used")]
    IdempotencyKeyTaken,
    /// The connection to Postgres failed; whether the rows were committed is unknown.
    #[error("the database is unreachable: {0}")]
    Unreachable(String),
    /// Anything else Postgres or the driver reported.
    #[error("append failed: {0}")]
    Other(String),
}

struct Request {
    rows: Vec<Row>,
    reply: oneshot::Sender<Result<(), Failure>>,
}

/// Hands appends to the workers.
pub(super) struct Appender {
    queue: mpsc::Sender<Request>,
}

impl Appender {
    /// Starts the workers (on the current Tokio runtime), with connections from `pool`; every
    /// commit asks `announcer` to wake the sequencers. They stop when the appender is dropped.
    pub fn start(pool: PgPool, announcer: Announcer) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let stash = Arc::new(Stash::new(pool, WORKERS));
        for _ in 0..WORKERS {
            tokio::spawn(work(receiver.clone(), stash.clone(), announcer.clone()));
        }
        Self { queue }
    }

    /// Stores `rows` (one command's events) and returns once they are committed or refused.
    pub async fn append(&self, rows: Vec<Row>) -> Result<(), Failure> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Failure::Other("the append workers have stopped".into());
        self.queue
            .send(Request { rows, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn work(
    receiver: Arc<Mutex<mpsc::Receiver<Request>>>,
    stash: Arc<Stash>,
    announcer: Announcer,
) {
    loop {
        // Waits for one request, then takes whatever else is queued.
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if receiver.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        store(&stash, batch, &announcer).await;
    }
}

async fn store(stash: &Stash, batch: Vec<Request>, announcer: &Announcer) {
    metrics::histogram!("ticketd_append_batch_commands").record(batch.len() as f64);
    let rows: Vec<&Row> = batch.iter().flat_map(|r| &r.rows).collect();
    match insert(stash, &rows).await {
        Ok(()) => {
            announcer.announce();
            for request in batch {
                let _ = request.reply.send(Ok(()));
            }
        }
        // Refused: none of the batch was stored.
        Err(error) if batch.len() > 1 && refused_in_session(&error) => {
            tracing::debug!(%error, commands = batch.len(), "batch refused; appending one by one");
            for request in batch {
                let rows: Vec<&Row> = request.rows.iter().collect();
                let result = insert(stash, &rows).await.map_err(failure);
                if result.is_ok() {
                    announcer.announce();
                }
                let _ = request.reply.send(result);
            }
        }
        Err(error) => {
            let failure = failure(error);
            for request in batch {
                let _ = request.reply.send(Err(failure.clone()));
            }
        }
    }
}

/// One statement, one commit.
async fn insert(stash: &Stash, rows: &[&Row]) -> Result<(), sqlx::Error> {
    let column = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let optional = |f: fn(&Row) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let ids = column(|r| &r.aggregate_id);
    let sequences: Vec<i64> = rows.iter().map(|r| r.sequence).collect();
    let types = column(|r| &r.event_type);
    let payloads = column(|r| &r.payload);
    let metadata = column(|r| &r.metadata);
    let keys = optional(|r| r.idempotency_key.as_deref());
    let actors = optional(|r| r.actor_id.as_deref());
    let digests = optional(|r| r.request_digest.as_deref());
    let statement = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, idempotency_key, actor_id, request_digest)
         SELECT $1, a, s, t, $2, p::json, m::json, k, u, d
         FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::text[], $10::text[]) AS x(a, s, t, p, m, k, u, d)",
    )
    .bind(Ticket::TYPE)
    .bind(EVENT_VERSION)
    .bind(&ids)
    .bind(&sequences)
    .bind(&types)
    .bind(&payloads)
    .bind(&metadata)
    .bind(&keys)
    .bind(&actors)
    .bind(&digests);
    stash
        .run(async |conn| statement.execute(conn).await)
        .await
        .map(|_| ())
}

fn failure(error: sqlx::Error) -> Failure {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            if db.constraint() == Some("events_idempotency") {
                Failure::IdempotencyKeyTaken
            } else {
                Failure::Conflict
            }
        }
        e if crate::db::is_unreachable(e) => Failure::Unreachable(error.to_string()),
        _ => Failure::Other(error.to_string()),
    }
}
