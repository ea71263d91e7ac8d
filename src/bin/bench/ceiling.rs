//! The Postgres ceiling: the transaction shape of one ticket command — read one ticket's
//! events, append one event with the same columns, triggers and indexes as ticketd's store — as
//! raw SQL, with nothing else in the way.

use std::time::Duration;

use anyhow::Context;
use sqlx::{PgPool, Row};
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{AuthorRef, TicketCommented};
use ticket_nats::{Envelope, TicketEvent, Timestamp, GENESIS_HASH};
use uuid::Uuid;

use super::{closed_loop, LoadResult};

/// One sealed comment envelope, as ticketd would store it.
pub fn comment_envelope(ticket: Uuid, seq: i64, prevhash: &str, body: &str) -> Envelope {
    let actor = Actor {
        id: Uuid::nil().to_string(),
        name: "Bench Agent".into(),
        role: "agent".into(),
    };
    Envelope::seal(
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: ticket,
            seq,
            time: Timestamp::now(),
            actor: &actor,
            correlation_id: "bench",
        },
        &TicketEvent::Commented(TicketCommented {
            comment_id: Uuid::now_v7(),
            author: AuthorRef {
                id: Uuid::nil(),
                name: "Bench Agent".into(),
                role: "agent".into(),
            },
            body: body.into(),
            internal: false,
            via: None,
            attachments: Vec::new(),
        }),
        prevhash,
    )
}

fn metadata(envelope: &Envelope) -> String {
    ticket_projections::stored::stored_metadata_json(envelope)
}

const INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                          payload, metadata, idempotency_key, actor_id, request_digest)
                      VALUES ('ticket', $1, $2, $3, '1.0', $4::json, $5::json, NULL, $6, NULL)";

async fn append(pool: &PgPool, envelope: &Envelope) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(&envelope.subject)
        .bind(envelope.seq)
        .bind(&envelope.event_type)
        .bind(envelope.data.to_string())
        .bind(metadata(envelope))
        .bind(&envelope.actorid)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Seeds `tickets` tickets of one event each; returns their ids.
pub async fn seed(pool: &PgPool, tickets: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(tickets);
    for chunk in (0..tickets).collect::<Vec<_>>().chunks(1000) {
        let mut tx = pool.begin().await?;
        for _ in chunk {
            let id = Uuid::now_v7();
            let envelope = comment_envelope(id, 1, GENESIS_HASH, "seed");
            sqlx::query(INSERT)
                .bind(&envelope.subject)
                .bind(1_i64)
                .bind(&envelope.event_type)
                .bind(envelope.data.to_string())
                .bind(metadata(&envelope))
                .bind(&envelope.actorid)
                .execute(&mut *tx)
                .await
                .context("seed the ceiling's tickets")?;
            ids.push(id);
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// Read-then-append on `clients` connections for `duration`.
pub async fn run(
    pool: &PgPool,
    tickets: &[Uuid],
    clients: usize,
    duration: Duration,
) -> LoadResult {
    let pool = pool.clone();
    closed_loop(tickets, clients, duration, move |ticket| {
        let pool = pool.clone();
        async move {
            let Ok(rows) = sqlx::query(
                "SELECT sequence, payload, metadata FROM events
                 WHERE aggregate_type = 'ticket' AND aggregate_id = $1 ORDER BY sequence",
            )
            .bind(ticket.to_string())
            .fetch_all(&pool)
            .await
            else {
                return false;
            };
            let (seq, prev) = rows
                .last()
                .map(|r| {
                    let meta: serde_json::Value = r.get("metadata");
                    (
                        r.get::<i64, _>("sequence"),
                        meta["hash"].as_str().unwrap_or(GENESIS_HASH).to_string(),
                    )
                })
                .unwrap_or((0, GENESIS_HASH.to_string()));
            let envelope = comment_envelope(ticket, seq + 1, &prev, "ceiling");
            append(&pool, &envelope).await.is_ok()
        }
    })
    .await
}
