//! Brings stored rows to the SLA configuration in force (CONTRACT 9: recomputation applies the
//! current calendar and policy from the ticket's creation): an open ticket's due times, and every
//! ticket's business-time figures (`first_response_business_ms`, `resolution_business_ms`), so
//! that what reads the columns (the board's cards, the statistics) agrees with a ticket's own
//! page, and live statistics after an edit with those a rebuild counts.
//!
//! The engine computes the due times (its one clock) and gives the calendars; this counts the
//! business figures exactly as the projector does ([`BusinessSpan`]) and writes what differs,
//! under the ticket view projection's own lock so that no projector step interleaves, moving
//! the statistics' tallies with the rows in the same transaction, as the projector does.
//! Writing the same values again changes nothing, so the step is idempotent and two instances
//! may both run it. A write moves the checkpoint's generation in the same transaction, so that
//! every instance's projector forgets the rows it cached before its next step.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::business::{BusinessSpan, BusinessTime};
use super::row::NAME;
use super::tally::{Delta, TicketFacts, FACT_COLUMNS};
use crate::runtime::{lock_checkpoint, rows_changed_without_events};

/// The due times an open ticket has under the configuration in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    /// When the first response is due.
    pub first_response_due: DateTime<Utc>,
    /// When the resolution is due.
    pub resolution_due: DateTime<Utc>,
}

/// One ticket to bring to the configuration in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recount {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Its due times while open; `None` keeps the stored ones (a closed ticket's are history).
    pub due: Option<DueTimes>,
}

#[derive(sqlx::FromRow)]
struct Row {
    ticket_id: Uuid,
    pauses: Json<Vec<[DateTime<Utc>; 2]>>,
    #[sqlx(flatten)]
    facts: TicketFacts,
}

/// Takes the ticket view projection's lock until the end of the caller's transaction: read
/// the rows the due times are computed from after this, so that no event lands in between.
pub async fn lock_ticket_view(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    lock_checkpoint(conn, NAME).await.map(|_| ())
}

/// Whether the stored rows were brought to `configuration` (a digest of the SLA configuration)
/// by [`mark_brought_to`] and nothing has changed them without an event since (no rebuild swap,
/// no other configuration's step, no truncation): both are read from the checkpoint row in one
/// statement, so no lock is needed.
pub async fn brought_to(conn: &mut PgConnection, configuration: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM projection_checkpoints
                         WHERE name = $1 AND sla_configuration = $2
                           AND sla_configuration_generation = generation)",
    )
    .bind(NAME)
    .bind(configuration)
    .fetch_one(conn)
    .await
}

/// Records that the stored rows now follow `configuration`, as of the checkpoint's generation
/// (read and written in the one statement).
pub async fn mark_brought_to(
    conn: &mut PgConnection,
    configuration: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints
            SET sla_configuration = $2, sla_configuration_generation = generation
          WHERE name = $1",
    )
    .bind(NAME)
    .bind(configuration)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Writes, inside the caller's transaction (which holds [`lock_ticket_view`]), the due times of
/// `recounts` to the rows of tickets still open, and every one's business figures counted on
/// `clock`, where they differ from the stored ones. Returns how many rows changed.
pub async fn store_recounted(
    conn: &mut PgConnection,
    recounts: &[Recount],
    clock: &dyn BusinessTime,
) -> Result<usize, sqlx::Error> {
    if recounts.is_empty() {
        return Ok(0);
    }
    let wanted: HashMap<Uuid, Option<DueTimes>> =
        recounts.iter().map(|r| (r.ticket_id, r.due)).collect();
    let ids: Vec<Uuid> = wanted.keys().copied().collect();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT v.ticket_id, v.pauses, {FACT_COLUMNS} FROM ticket_view v
          WHERE v.ticket_id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut delta = Delta::default();
    let mut changed = Vec::new();
    let (mut first, mut resolution) = (Vec::new(), Vec::new());
    let (mut first_business, mut resolution_business) = (Vec::new(), Vec::new());
    for row in rows {
        let Some(due) = wanted.get(&row.ticket_id) else {
            continue;
        };
        let after = recounted(&row.facts, &row.pauses.0, *due, clock);
        if after == row.facts {
            continue;
        }
        delta.replace(Some(&row.facts), Some(&after));
        changed.push(row.ticket_id);
        first.push(after.first_response_due);
        resolution.push(after.resolution_due);
        first_business.push(after.first_response_business_ms);
        resolution_business.push(after.resolution_business_ms);
    }
    if changed.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "UPDATE ticket_view v SET first_response_due = u.f, resolution_due = u.r,
                first_response_business_ms = u.fb, resolution_business_ms = u.rb
           FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::bigint[],
                       $5::bigint[]) AS u(id, f, r, fb, rb)
          WHERE v.ticket_id = u.id",
    )
    .bind(&changed)
    .bind(&first)
    .bind(&resolution)
    .bind(&first_business)
    .bind(&resolution_business)
    .execute(&mut *conn)
    .await?;
    delta.write(conn).await?;
    rows_changed_without_events(conn, NAME).await?;
    Ok(changed.len())
}

/// `facts` with `due` (while open) and the business figures counted on `clock`.
fn recounted(
    facts: &TicketFacts,
    pauses: &[[DateTime<Utc>; 2]],
    due: Option<DueTimes>,
    clock: &dyn BusinessTime,
) -> TicketFacts {
    let mut after = facts.clone();
    if let Some(due) = due.filter(|_| facts.closed_at.is_none()) {
        after.first_response_due = due.first_response_due;
        after.resolution_due = due.resolution_due;
    }
    if facts.first_response_at.is_some() || facts.closed_at.is_some() {
        let span = BusinessSpan::new(
            clock,
            facts.priority,
            facts.created_at,
            pauses,
            facts.pending_since,
        );
        after.first_response_business_ms = facts.first_response_at.map(|at| span.to(at));
        after.resolution_business_ms = facts.closed_at.map(|at| span.to(at));
    }
    after
}
