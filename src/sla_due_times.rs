//! After an SLA policy or calendar edit, the stored due times of the open tickets are brought
//! to the ones [`SlaClock`](crate::domain::sla_clock::SlaClock) computes with the
//! configuration in force (see [`open_due_times`]), so that the board's cards and the
//! statistics, which read the stored columns, agree with a ticket's own page.
//!
//! The step goes through the open rows in batches of [`BATCH`], one transaction each under the
//! ticket view projection's lock (no projector step interleaves, and two instances take turns),
//! and writes only rows whose due times differ: running it again, on another instance or
//! after a rebuild, gives the same rows. A rebuild replays the due times the events recorded
//! and then runs this step; the SLA timer runs it on its first pass and whenever the
//! configuration's digest changes.

use sqlx::PgPool;
use ticket_projections::read_models::tickets::{lock_ticket_view, store_due_times, DueTimes};
use uuid::Uuid;

use crate::domain::TicketServices;
use crate::sla_clocks::{open_due_times, ClockRow, CLOCK_COLUMNS};

/// Open tickets read and written per transaction.
pub const BATCH: i64 = 500;

/// Brings every open ticket's stored due times to `services`. Returns how many rows changed.
pub async fn refresh(pool: &PgPool, services: &TicketServices) -> Result<usize, sqlx::Error> {
    let mut after = Uuid::nil();
    let mut changed = 0;
    loop {
        let mut tx = pool.begin().await?;
        lock_ticket_view(&mut tx).await?;
        let rows: Vec<ClockRow> = sqlx::query_as(&format!(
            "SELECT {CLOCK_COLUMNS} FROM ticket_view
              WHERE ticket_id > $1 AND closed_at IS NULL ORDER BY ticket_id LIMIT $2"
        ))
        .bind(after)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let read = rows.len();
        let due: Vec<DueTimes> = rows
            .into_iter()
            .filter_map(|row| {
                after = row.ticket_id;
                let ticket_id = row.ticket_id;
                let (first_response_due, resolution_due) = open_due_times(&row.facts(), services)?;
                Some(DueTimes {
                    ticket_id,
                    first_response_due,
                    resolution_due,
                })
            })
            .collect();
        // A write moves the checkpoint's generation: every instance's projector forgets the
        // rows it cached before its next step.
        let stored = store_due_times(&mut tx, &due).await?;
        tx.commit().await?;
        changed += stored;
        if (read as i64) < BATCH {
            return Ok(changed);
        }
    }
}
