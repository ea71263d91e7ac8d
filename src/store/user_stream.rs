//! User streams: the directory's changes as events (`user.created`, `user.updated`,
//! `user.merged`), each user's sealed onto its own hash chain like a ticket's, in the same
//! `events` table (aggregate type [`USER_AGGREGATE`]) and so in the same global feed.
//!
//! Unlike ticket events, a user event is written in the transaction that changes the `users`
//! row, so the directory (read-your-writes) and its stream never disagree. The caller locks the
//! user's row (or inserts it) first, which orders writers of one stream; the primary key on
//! `(aggregate_type, aggregate_id, sequence)` refuses a racing append all the same.

use sqlx::PgConnection;
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::{Envelope, Timestamp, UserEvent, GENESIS_HASH};
use uuid::Uuid;

pub use ticket_nats::user_events::USER_AGGREGATE;

/// Who records a user event, and from where (the envelope's fixed members besides the event).
#[derive(Debug, Clone)]
pub struct Recorder {
    /// The CloudEvents `source`.
    pub source: String,
    /// Who causes the change.
    pub actor: Actor,
    /// The request's correlation id.
    pub correlation_id: String,
}

impl Recorder {
    /// The engine itself (the CLI, a user first seen in a token).
    pub fn system(source: &str) -> Self {
        Self {
            source: source.to_string(),
            actor: Actor {
                id: "ticketd".into(),
                name: "ticketd".into(),
                role: "system".into(),
            },
            correlation_id: Uuid::now_v7().to_string(),
        }
    }
}

/// Appends `event` to user `user_id`'s stream inside the caller's transaction, after its last
/// event, and asks the sequencers to position it once the transaction commits.
pub async fn append(
    tx: &mut PgConnection,
    recorder: &Recorder,
    user_id: Uuid,
    event: &UserEvent,
) -> Result<Envelope, sqlx::Error> {
    append_to_stream(
        tx,
        recorder,
        USER_AGGREGATE,
        user_id,
        event.event_type(),
        event.data(),
        Timestamp::now(),
    )
    .await
}

/// Appends an event of `event_type` carrying `data` to stream `id` of `aggregate` (a stream
/// other than a ticket's: a user's, a field's) inside the caller's transaction, after its last
/// event, and asks the sequencers to position it once the transaction commits. `time` is the
/// envelope's (now, but for a change recorded before it had events). The caller orders the
/// writers of one stream (a row lock, an advisory lock); the primary key refuses a racing
/// append all the same.
pub async fn append_to_stream(
    tx: &mut PgConnection,
    recorder: &Recorder,
    aggregate: &str,
    id: Uuid,
    event_type: &str,
    data: serde_json::Value,
    time: Timestamp,
) -> Result<Envelope, sqlx::Error> {
    let last: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT sequence, metadata->>'hash' FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2
         ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate)
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let (seq, prevhash) = match last {
        Some((seq, hash)) => (seq + 1, hash.unwrap_or_else(|| GENESIS_HASH.to_string())),
        None => (1, GENESIS_HASH.to_string()),
    };
    let envelope = Envelope::seal_data(
        EnvelopeHeader {
            source: &recorder.source,
            ticket_id: id,
            seq,
            time,
            actor: &recorder.actor,
            correlation_id: &recorder.correlation_id,
        },
        event_type,
        data,
        &prevhash,
    );
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, $8)",
    )
    .bind(aggregate)
    .bind(id.to_string())
    .bind(seq)
    .bind(&envelope.event_type)
    .bind(ticket_nats::events::EVENT_VERSION)
    .bind(envelope.data.to_string())
    .bind(ticket_projections::stored::stored_metadata_json(&envelope))
    .bind(&recorder.actor.id)
    .execute(&mut *tx)
    .await?;
    // Delivered at commit, like the append workers' announcements.
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(ticket_projections::listen::INSERTED_CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(envelope)
}

/// Appends many events, each after the last of its user's stream (and after the ones before it
/// in `events`), in three statements whatever their number: for bulk changes (a CSV import).
pub async fn append_many(
    tx: &mut PgConnection,
    recorder: &Recorder,
    events: &[(Uuid, UserEvent)],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = events.iter().map(|(id, _)| id.to_string()).collect();
    let heads: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT ON (aggregate_id) aggregate_id, sequence, metadata->>'hash' FROM events
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2)
         ORDER BY aggregate_id, sequence DESC",
    )
    .bind(USER_AGGREGATE)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut head: std::collections::HashMap<String, (i64, String)> = heads
        .into_iter()
        .map(|(id, seq, hash)| (id, (seq, hash.unwrap_or_else(|| GENESIS_HASH.to_string()))))
        .collect();
    let now = Timestamp::now();
    let (mut seqs, mut types, mut payloads, mut metadata) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((user_id, event), id) in events.iter().zip(&ids) {
        let (last, prevhash) = head
            .get(id)
            .cloned()
            .unwrap_or((0, GENESIS_HASH.to_string()));
        let envelope = Envelope::seal_data(
            EnvelopeHeader {
                source: &recorder.source,
                ticket_id: *user_id,
                seq: last + 1,
                time: now,
                actor: &recorder.actor,
                correlation_id: &recorder.correlation_id,
            },
            event.event_type(),
            event.data(),
            &prevhash,
        );
        head.insert(id.clone(), (last + 1, envelope.hash.clone()));
        seqs.push(last + 1);
        types.push(envelope.event_type.clone());
        payloads.push(envelope.data.to_string());
        metadata.push(ticket_projections::stored::stored_metadata_json(&envelope));
    }
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, actor_id)
         SELECT $1, u.id, u.seq, u.kind, $6, u.payload::json, u.metadata::json, $7
         FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $8::text[])
              AS u(id, seq, kind, payload, metadata)",
    )
    .bind(USER_AGGREGATE)
    .bind(&ids)
    .bind(&seqs)
    .bind(&types)
    .bind(&payloads)
    .bind(ticket_nats::events::EVENT_VERSION)
    .bind(&recorder.actor.id)
    .bind(&metadata)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(ticket_projections::listen::INSERTED_CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
