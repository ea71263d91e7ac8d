//! The Ticket aggregate and its commands: pure rules, no I/O (neither axum nor sqlx here).

pub mod aggregate;
pub mod business_time;
pub mod calendar;
pub mod commands;
pub mod fields;
pub mod linking;
pub mod links;
mod opening_files;
pub mod pending;
pub mod sla;
pub mod sla_clock;
pub mod sla_duration;
pub mod sla_warning;
pub mod tagging;
pub mod tags;
pub mod values;

#[cfg(test)]
mod business_hours_tests;

pub use aggregate::{Ticket, TicketError, TicketServices};
pub use commands::{Issuer, TicketCommand};
pub use sla::SlaPolicy;
pub use values::{Channel, Priority, Role, Status, Title};
