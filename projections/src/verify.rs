//! Hash-chain verification of a ticket's stored events (CONTRACT 4), shared by
//! `GET /tickets/{id}/verify` and `ticketd verify`.
//!
//! The chain is checked from the stored rows themselves, not from any read model: each event's
//! recomputed hash must equal its stored `hash`, its `prevhash` must equal the previous event's
//! `hash` (64 zeros for the first), and sequences must run 1, 2, 3… without a gap. So an altered
//! event breaks at its own sequence, a removed one at the sequence that is missing, and a
//! reordering at the first event out of place. Removing the *last* events of a ticket leaves a
//! shorter chain that is still whole: a chain alone cannot detect a truncated tail.

use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use ticket_nats::GENESIS_HASH;
use uuid::Uuid;

use crate::stored::{read_stream_rows, RawEvent};

/// The outcome of checking one ticket's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// The ticket.
    pub ticket_id: String,
    /// How many stored events were checked.
    pub events: usize,
    /// Whether the whole chain holds.
    pub valid: bool,
    /// The first sequence at which the chain breaks; `None` when valid.
    pub first_invalid_sequence: Option<i64>,
    /// The stored hash of the ticket's last event.
    pub head_hash: Option<String>,
}

/// Checks a stream's rows, given in sequence order (as [`read_stream_rows`] returns them).
pub fn verify_chain(ticket_id: &str, rows: &[RawEvent]) -> ChainReport {
    let mut first_invalid = None;
    let mut expected_seq = 1_i64;
    let mut prevhash = GENESIS_HASH.to_string();
    let mut head_hash = None;
    for row in rows {
        let stored_hash = row
            .metadata
            .get("hash")
            .and_then(|h| h.as_str())
            .map(str::to_string);
        head_hash.clone_from(&stored_hash);
        if first_invalid.is_some() {
            continue;
        }
        if row.sequence != expected_seq {
            // A gap: the missing sequence is where the chain breaks. (A sequence below the
            // expected one cannot occur: the rows are ordered and the key is unique.)
            first_invalid = Some(expected_seq.min(row.sequence));
            continue;
        }
        let intact = match row.envelope() {
            Ok(envelope) => {
                envelope.hash == envelope.compute_hash() && envelope.prevhash == prevhash
            }
            // A row that no longer decodes into an envelope was damaged.
            Err(_) => false,
        };
        if !intact {
            first_invalid = Some(row.sequence);
            continue;
        }
        prevhash = stored_hash.unwrap_or_default();
        expected_seq += 1;
    }
    ChainReport {
        ticket_id: ticket_id.to_string(),
        events: rows.len(),
        valid: first_invalid.is_none(),
        first_invalid_sequence: first_invalid,
        head_hash,
    }
}

/// Every `aggregate_type` of the store: tickets', users' and field definitions' streams.
const STREAM_AGGREGATES: [&str; 3] = [
    ticket_nats::events::TICKET_AGGREGATE,
    ticket_nats::user_events::USER_AGGREGATE,
    ticket_nats::field_events::FIELD_AGGREGATE,
];

/// Checks one stream (a ticket's, a user's or a field's); `None` when it has no stored event.
pub async fn verify_stream<'e, E: PgExecutor<'e>>(
    executor: E,
    id: Uuid,
) -> Result<Option<ChainReport>, sqlx::Error> {
    let rows = read_stream_rows(executor, &STREAM_AGGREGATES, id).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(verify_chain(&id.to_string(), &rows)))
}

/// Checks every ticket in the store, streaming the rows in (ticket, sequence) order, and hands
/// each ticket's report to `report` as soon as its rows are read. Returns how many chains were
/// invalid.
pub async fn verify_all(
    pool: &PgPool,
    mut report: impl FnMut(ChainReport),
) -> Result<usize, sqlx::Error> {
    let mut rows = sqlx::query(
        "SELECT aggregate_id, sequence, event_type, payload, metadata, position
         FROM events ORDER BY aggregate_id, sequence",
    )
    .fetch(pool);
    let mut invalid = 0;
    let mut current: Vec<RawEvent> = Vec::new();
    let mut finish = |batch: &mut Vec<RawEvent>| {
        if let Some(first) = batch.first() {
            let result = verify_chain(&first.aggregate_id, batch);
            if !result.valid {
                invalid += 1;
            }
            report(result);
        }
        batch.clear();
    };
    while let Some(row) = rows.try_next().await? {
        let raw = RawEvent::from_row(&row)?;
        if current
            .first()
            .is_some_and(|first| first.aggregate_id != raw.aggregate_id)
        {
            finish(&mut current);
        }
        current.push(raw);
    }
    finish(&mut current);
    Ok(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_nats::envelope::{Actor, EnvelopeHeader};
    use ticket_nats::events::{TicketClosed, TicketReopened};
    use ticket_nats::{Envelope, TicketEvent};

    fn row(envelope: &Envelope) -> RawEvent {
        RawEvent {
            aggregate_id: envelope.subject.clone(),
            sequence: envelope.seq,
            event_type: envelope.event_type.clone(),
            payload: envelope.data.clone(),
            metadata: crate::stored::stored_metadata(envelope),
            position: Some(envelope.seq),
        }
    }

    fn chain(n: i64) -> Vec<RawEvent> {
        let actor = Actor::system();
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let event = if seq % 2 == 1 {
                    TicketEvent::Closed(TicketClosed { resolution: None })
                } else {
                    TicketEvent::Reopened(TicketReopened {
                        reason: Some(format!("r{seq}")),
                    })
                };
                let envelope = Envelope::seal(
                    EnvelopeHeader {
                        source: "ticketd",
                        ticket_id: Uuid::nil(),
                        seq,
                        time: "2026-11-23T10:15:30.123Z".parse().unwrap(),
                        actor: &actor,
                        correlation_id: "c",
                    },
                    &event,
                    &prev,
                );
                prev = envelope.hash.clone();
                row(&envelope)
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_is_valid() {
        let rows = chain(4);
        let report = verify_chain("t", &rows);
        assert!(report.valid);
        assert_eq!(report.events, 4);
        assert_eq!(report.first_invalid_sequence, None);
        assert_eq!(
            report.head_hash.as_deref(),
            rows[3].metadata["hash"].as_str()
        );
    }

    #[test]
    fn an_altered_payload_breaks_at_its_sequence() {
        let mut rows = chain(4);
        rows[2].payload = serde_json::json!({"resolution": "tampered"});
        let report = verify_chain("t", &rows);
        assert!(!report.valid);
        assert_eq!(report.first_invalid_sequence, Some(3));
    }

    #[test]
    fn a_removed_event_breaks_where_it_is_missing() {
        let mut rows = chain(4);
        rows.remove(1);
        let report = verify_chain("t", &rows);
        assert_eq!(report.first_invalid_sequence, Some(2));
        assert_eq!(report.events, 3);
    }

    #[test]
    fn swapped_sequences_break_at_the_first_swapped_event() {
        let mut rows = chain(4);
        rows[1].sequence = 3;
        rows[2].sequence = 2;
        rows.swap(1, 2);
        let report = verify_chain("t", &rows);
        assert_eq!(report.first_invalid_sequence, Some(2));
    }

    #[test]
    fn damaged_metadata_is_invalid_not_an_error() {
        let mut rows = chain(2);
        rows[0].metadata = serde_json::json!({});
        let report = verify_chain("t", &rows);
        assert_eq!(report.first_invalid_sequence, Some(1));
    }
}
