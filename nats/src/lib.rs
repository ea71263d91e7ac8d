//! # ticket-nats: the public ticketd event contract
//!
//! Downstream Rust services depend on this crate alone to read ticketd's stream.
//!
//! # Layout
//! - [`events`]: the typed events ([`TicketEvent`]) and their data.
//! - [`envelope`]: the CloudEvents envelope ([`Envelope`]) and its hash chain.
//! - [`time`]: millisecond RFC 3339 timestamps.
#![warn(missing_docs)]

pub mod envelope;
pub mod events;
pub mod time;

pub use envelope::{Actor, Envelope, EnvelopeHeader, GENESIS_HASH};
pub use events::TicketEvent;
pub use time::Timestamp;
