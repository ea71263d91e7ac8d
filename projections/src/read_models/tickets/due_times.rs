//! Brings the stored due times of open tickets to the ones the engine computes with the SLA
//! policy and calendars in force (CONTRACT 9), so that what reads the columns (the board's
//! cards, the statistics) agrees with a ticket's own page after a policy or calendar edit.
//!
//! The engine computes the due times (its one clock); this writes them, under the ticket view
//! projection's own lock so that no projector step interleaves, and moves the statistics'
//! tallies with the row in the same transaction, as the projector does. Writing the same
//! values again changes nothing, so the step is idempotent and two instances may both run it.
//! A write moves the checkpoint's generation in the same transaction, so that every instance's
//! projector forgets the rows it cached before its next step.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::projector::NAME;
use super::tally::{Delta, TicketFacts, FACT_COLUMNS};
use crate::runtime::{lock_checkpoint, rows_changed_without_events};

/// The due times an open ticket has under the configuration in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    /// The ticket.
    pub ticket_id: Uuid,
    /// When the first response is due.
    pub first_response_due: DateTime<Utc>,
    /// When the resolution is due.
    pub resolution_due: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    ticket_id: Uuid,
    #[sqlx(flatten)]
    facts: TicketFacts,
}

/// Takes the ticket view projection's lock until the end of the caller's transaction: read
/// the rows the due times are computed from after this, so that no event lands in between.
pub async fn lock_ticket_view(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    lock_checkpoint(conn, NAME).await.map(|_| ())
}

/// Writes `due` to the rows of the tickets still open whose stored due times differ, inside
/// the caller's transaction, which holds [`lock_ticket_view`]. Returns how many rows changed.
pub async fn store_due_times(
    conn: &mut PgConnection,
    due: &[DueTimes],
) -> Result<usize, sqlx::Error> {
    if due.is_empty() {
        return Ok(0);
    }
    let wanted: HashMap<Uuid, &DueTimes> = due.iter().map(|d| (d.ticket_id, d)).collect();
    let ids: Vec<Uuid> = wanted.keys().copied().collect();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT v.ticket_id, {FACT_COLUMNS} FROM ticket_view v
          WHERE v.ticket_id = ANY($1) AND v.closed_at IS NULL"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut delta = Delta::default();
    let (mut changed, mut first, mut resolution) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let Some(d) = wanted.get(&row.ticket_id) else {
            continue;
        };
        let after = TicketFacts {
            first_response_due: d.first_response_due,
            resolution_due: d.resolution_due,
            ..row.facts.clone()
        };
        if after == row.facts {
            continue;
        }
        delta.replace(Some(&row.facts), Some(&after));
        changed.push(row.ticket_id);
        first.push(d.first_response_due);
        resolution.push(d.resolution_due);
    }
    if changed.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "UPDATE ticket_view v SET first_response_due = u.f, resolution_due = u.r
           FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS u(id, f, r)
          WHERE v.ticket_id = u.id",
    )
    .bind(&changed)
    .bind(&first)
    .bind(&resolution)
    .execute(&mut *conn)
    .await?;
    delta.write(conn).await?;
    rows_changed_without_events(conn, NAME).await?;
    Ok(changed.len())
}
