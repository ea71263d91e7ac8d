//! Stored events as every consumer sees them.

use ticket_nats::{Envelope, TicketEvent};

/// One positioned event from the store.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Its global position.
    pub position: i64,
    /// The envelope, `position` filled in.
    pub envelope: Envelope,
    /// The typed event (the envelope's `type` and `data`).
    pub event: TicketEvent,
}
