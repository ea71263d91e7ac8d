//! After an SLA policy or calendar edit, the stored SLA figures are brought to the ones the
//! configuration in force gives (CONTRACT 9: recomputation applies the current calendar and
//! policy from the ticket's creation): the due times of the open tickets, those
//! [`SlaClock`](crate::domain::sla_clock::SlaClock) computes (see [`open_due_times`]), so that
//! the board's cards and the statistics agree with a ticket's own page; and the business time
//! of every first response and close already counted, so that live statistics are those a
//! rebuild counts.
//!
//! The step goes through the ticket view in batches of [`BATCH`], one transaction each under
//! the ticket view projection's lock (no projector step interleaves, and two instances take
//! turns), and writes only rows that differ: running it again, on another instance or after a
//! rebuild, gives the same rows. A rebuild replays the due times the events recorded and then
//! runs this step; the SLA timer runs it on its first pass and whenever the configuration's
//! digest changes. The digest it brought the rows to is kept with the ticket view's checkpoint,
//! so a start on the same configuration with no rebuild or edit since walks nothing: at a
//! million tickets the walk takes a while, and a restart is not an edit.

use sqlx::PgPool;
use ticket_projections::read_models::tickets::{
    brought_to, lock_ticket_view, mark_brought_to, store_recounted, DueTimes, Recount,
};
use uuid::Uuid;

use crate::domain::TicketServices;
use crate::sla_clocks::{open_due_times, ClockRow, CLOCK_COLUMNS};

/// Tickets read and written per transaction.
pub const BATCH: i64 = 500;

/// Brings every ticket's stored due times (open ones) and business figures to `services`.
/// Returns how many rows changed. Given the configuration's digest, it does nothing when the
/// rows were last brought to that digest and nothing changed them since, and records the digest
/// when done.
pub async fn refresh(
    pool: &PgPool,
    services: &TicketServices,
    configuration: Option<&str>,
) -> Result<usize, sqlx::Error> {
    if let Some(configuration) = configuration {
        if brought_to(&mut *pool.acquire().await?, configuration).await? {
            return Ok(0);
        }
    }
    let changed = walk(pool, services).await?;
    if let Some(configuration) = configuration {
        mark_brought_to(&mut *pool.acquire().await?, configuration).await?;
    }
    Ok(changed)
}

async fn walk(pool: &PgPool, services: &TicketServices) -> Result<usize, sqlx::Error> {
    let mut after = Uuid::nil();
    let mut changed = 0;
    loop {
        let mut tx = pool.begin().await?;
        lock_ticket_view(&mut tx).await?;
        let rows: Vec<ClockRow> = sqlx::query_as(&format!(
            "SELECT {CLOCK_COLUMNS} FROM ticket_view
              WHERE ticket_id > $1 ORDER BY ticket_id LIMIT $2"
        ))
        .bind(after)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let read = rows.len();
        let recounts: Vec<Recount> = rows
            .into_iter()
            .map(|row| {
                after = row.ticket_id;
                let ticket_id = row.ticket_id;
                let due = open_due_times(&row.facts(), services).map(
                    |(first_response_due, resolution_due)| DueTimes {
                        first_response_due,
                        resolution_due,
                    },
                );
                Recount { ticket_id, due }
            })
            .collect();
        // A write moves the checkpoint's generation: every instance's projector forgets the
        // rows it cached before its next step.
        let stored = store_recounted(&mut tx, &recounts, services).await?;
        tx.commit().await?;
        changed += stored;
        if (read as i64) < BATCH {
            return Ok(changed);
        }
    }
}
