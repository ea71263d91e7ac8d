//! ticketd's read models: each module owns its tables (see
//! `migrations/20261123000004_read_models.sql`) and the SQL that reads them, and answers with
//! serde structs that the HTTP layer serializes as they are.
//!
//! - [`tickets`]: the ticket view and list (`ticket_view`, `ticket_comments`).
//! - [`board`]: the Kanban board, served from `ticket_view`; [`board_groups`]: the same, grouped
//!   by a `select` field.
//! - [`me`]: per-user counts and unread state (from what the ticket view keeps, and the
//!   user-owned `ticket_reads`).
//! - [`stats`]: statistics over a creation window, summed from `ticket_stats` (kept by the
//!   ticket view projection); [`histogram`]: the mergeable histograms of its percentiles.
//! - [`query`]: what every query shares: who is asking, and one snapshot for a whole answer.

use std::sync::Arc;

use crate::runtime::Projection;

pub mod board;
pub mod board_groups;
pub mod cursor;
pub mod histogram;
pub mod me;
pub mod query;
pub mod requesters;
pub mod stats;
pub mod tickets;

pub use query::Viewer;

/// Every read model's projection, each keyed by its own checkpoint; the ticket view counts
/// business time on the calendars `clock` gives.
pub fn all(clock: Arc<dyn tickets::BusinessClock>) -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(tickets::TicketViewProjection::new(clock))]
}
