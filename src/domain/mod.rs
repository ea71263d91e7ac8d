//! The Ticket aggregate and its commands: pure rules, no I/O (neither axum nor sqlx here).

pub mod aggregate;
pub mod commands;
pub mod fields;
pub mod linking;
pub mod links;
pub mod sla;
pub mod tagging;
pub mod tags;
pub mod values;

pub use aggregate::{Ticket, TicketError, TicketServices};
pub use commands::{Issuer, TicketCommand};
pub use sla::SlaPolicy;
pub use values::{Channel, Priority, Role, Status, Title};
