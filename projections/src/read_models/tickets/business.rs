//! How the ticket view projection counts business time (CONTRACT 9): the statistics report
//! first response and resolution in business seconds of the ticket's calendar, pauses left out.
//!
//! The calendars and the clock's arithmetic belong to the engine (its one pure business-time
//! function); the projection is given them through [`BusinessClock`], so that it counts exactly
//! as the aggregate decides due times. A ticket's figures are counted on the calendar of its
//! priority in force, when its first response or close is applied and again when its priority
//! changes, and kept on its row: the statistics stay a function of the rows, whatever calendar
//! is in force when they are summed. After an SLA edit they are counted again
//! ([`super::due_times`]), as a rebuild would count them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ticket_nats::Priority;

/// A time the ticket's SLA clock stood still, `[start, end)` in milliseconds since the epoch
/// (an open pause ends at `i64::MAX`).
pub type PauseMs = [i64; 2];

/// The business time of the calendars in force.
pub trait BusinessTime: Send + Sync {
    /// Business milliseconds between `start_ms` and `end_ms` on the calendar of `priority`,
    /// `pauses` (sorted, disjoint) left out.
    fn elapsed_ms(&self, priority: Priority, start_ms: i64, end_ms: i64, pauses: &[PauseMs])
        -> i64;
}

/// Where the projection finds the calendars in force when it applies a batch.
#[async_trait::async_trait]
pub trait BusinessClock: Send + Sync {
    /// The calendars in force now.
    async fn current(&self) -> Arc<dyn BusinessTime>;
}

/// The business time from a ticket's creation on the calendar of its priority, its pauses left
/// out: how the projector counts a first response or close, and how a recount after an SLA
/// edit counts them again ([`super::due_times`]), so that both give the same figure.
pub(crate) struct BusinessSpan<'a> {
    clock: &'a dyn BusinessTime,
    priority: Priority,
    created_ms: i64,
    pauses: Vec<PauseMs>,
}

impl<'a> BusinessSpan<'a> {
    /// From `created_at` on `priority`'s calendar; `pauses` are the ended ones and
    /// `pending_since` the one in force.
    pub(crate) fn new(
        clock: &'a dyn BusinessTime,
        priority: Priority,
        created_at: DateTime<Utc>,
        pauses: &[[DateTime<Utc>; 2]],
        pending_since: Option<DateTime<Utc>>,
    ) -> Self {
        let mut pauses: Vec<PauseMs> = pauses
            .iter()
            .map(|[start, end]| [start.timestamp_millis(), end.timestamp_millis()])
            .collect();
        if let Some(since) = pending_since {
            pauses.push([since.timestamp_millis(), i64::MAX]);
        }
        Self {
            clock,
            priority,
            created_ms: created_at.timestamp_millis(),
            pauses,
        }
    }

    /// Business milliseconds up to `end`.
    pub(crate) fn to(&self, end: DateTime<Utc>) -> i64 {
        self.clock.elapsed_ms(
            self.priority,
            self.created_ms,
            end.timestamp_millis(),
            &self.pauses,
        )
    }
}
