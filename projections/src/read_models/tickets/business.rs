//! How the ticket view projection counts business time (CONTRACT 9): the statistics report
//! first response and resolution in business seconds of the ticket's calendar, pauses left out.
//!
//! The calendars and the clock's arithmetic belong to the engine (its one pure business-time
//! function); the projection is given them through [`BusinessClock`], so that it counts exactly
//! as the aggregate decides due times. A ticket's figures are counted once, when its first
//! response or close is applied, and kept on its row: the statistics stay a function of the
//! rows, whatever calendar is in force when they are summed.

use std::sync::Arc;

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
