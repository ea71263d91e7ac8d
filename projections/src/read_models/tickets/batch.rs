//! One batch of events folded into the rows of the tickets it touches, and what that changes,
//! table by table ([`Writes`]).

use std::collections::HashMap;

use lru::LruCache;
use sqlx::PgConnection;
use ticket_nats::TicketEvent;
use uuid::Uuid;

use super::business::BusinessTime;
use super::mine::MyTicket;
use super::row::{ticket_id, ViewRow, NAME, SELECT_ROWS};
use super::tally::TicketFacts;
use super::writes::Writes;
use crate::stored::StoredEvent;

/// The rows of the tickets `batch` touches, as of just before the batch, that `cache` holds
/// (at the version before the ticket's first event here); and the tickets whose row must be
/// read from the table ([`read_rows`]).
pub(super) fn cached_rows(
    cache: &mut LruCache<Uuid, ViewRow>,
    batch: &[StoredEvent],
) -> (HashMap<Uuid, ViewRow>, Vec<Uuid>) {
    let mut first_seq: HashMap<Uuid, i64> = HashMap::new();
    for stored in batch {
        if let Some(id) = ticket_id(stored) {
            first_seq.entry(id).or_insert(stored.envelope.seq);
        }
    }
    let mut rows = HashMap::with_capacity(first_seq.len());
    let mut missing = Vec::new();
    for (id, seq) in first_seq {
        match cache.peek(&id) {
            Some(row) if row.version() == seq - 1 => {
                rows.extend(cache.get(&id).cloned().map(|row| (id, row)));
            }
            _ => missing.push(id),
        }
    }
    metrics::counter!("ticketd_projection_row_cache_misses_total", "projection" => NAME)
        .increment(missing.len() as u64);
    (rows, missing)
}

/// The stored rows of `tickets` (those there are), by ticket.
pub(super) async fn read_rows(
    conn: &mut PgConnection,
    tickets: &[Uuid],
) -> Result<HashMap<Uuid, ViewRow>, sqlx::Error> {
    if tickets.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query_as::<_, ViewRow>(&SELECT_ROWS)
        .bind(tickets)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(|row| (row.ticket_id(), row)).collect())
}

/// Folds `batch` into `rows`, the rows of the tickets it touches as of just before it; what
/// the batch changes, table by table. The changed rows move into the [`Writes`]; those the
/// batch left as they were (events already applied) stay in `rows`.
pub(super) fn fold_batch(
    rows: &mut HashMap<Uuid, ViewRow>,
    batch: &[StoredEvent],
    clock: &dyn BusinessTime,
) -> Writes {
    // (Hashed with foldhash: a ticket id is looked up for every event of a batch.)
    let mut changed_ids = foldhash::HashSet::default();
    // What each changed ticket counted in the statistics before the batch.
    let mut counted: foldhash::HashMap<Uuid, Option<TicketFacts>> = Default::default();
    // Their `my_tickets` rows before the batch (none for a ticket created here).
    let mut mine_before: foldhash::HashMap<Uuid, Vec<MyTicket>> = Default::default();
    let mut writes = Writes::default();
    for stored in batch {
        let Some(id) = ticket_id(stored) else {
            continue;
        };
        match (rows.get_mut(&id), &stored.event) {
            // Already applied: a replayed batch changes nothing.
            (Some(row), _) if stored.envelope.seq <= row.version() => {}
            (Some(row), event) => {
                counted.entry(id).or_insert_with(|| Some(row.facts()));
                mine_before.entry(id).or_insert_with(|| row.mine());
                row.apply(stored, &mut writes.comments.0);
                row.count_business(clock);
                if let TicketEvent::Tagged(e) = event {
                    writes.mine.tags.add(e);
                }
                changed_ids.insert(id);
                if matches!(event, TicketEvent::Updated(e)
                    if e.changes.title.is_some() || e.changes.description.is_some())
                {
                    writes.rows.new_text.insert(id);
                }
            }
            (None, TicketEvent::Created(e)) => {
                counted.entry(id).or_insert(None);
                mine_before.entry(id).or_default();
                let row = ViewRow::created(id, e, stored);
                writes.chain.0.push(row.opened());
                rows.insert(id, row);
                changed_ids.insert(id);
                writes.rows.new_text.insert(id);
            }
            (None, _) => tracing::warn!(
                ticket_id = %id,
                position = stored.position,
                "event of a ticket whose creation was never applied; skipped"
            ),
        }
    }
    for id in changed_ids {
        let Some(row) = rows.remove(&id) else {
            continue;
        };
        let before = counted.get(&id).and_then(Option::as_ref);
        writes.stats.delta.replace(before, Some(&row.facts()));
        let before = mine_before.get(&id).map(Vec::as_slice);
        writes
            .mine
            .mine
            .replace(before.unwrap_or_default(), &row.mine());
        writes.rows.rows.insert(id, row);
    }
    writes
}
