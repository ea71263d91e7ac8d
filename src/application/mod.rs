//! The application layer: the use cases every way in calls. The HTTP handlers today, and intake
//! by API, chat or e-mail and rules later, parse and authenticate their input and then call
//! these; the decisions stay in the aggregate, and the outside facts a command needs (users
//! looked up, the ticket number, the clock) are resolved here, once.
//!
//! - [`tickets`]: open a ticket, comment, assign, update, close, reopen, rate.
//! - [`people`]: the requester behind an intake, found by contact or added.
//! - [`intake`]: tickets and messages from integrations.

pub mod intake;
mod intake_record;
pub mod people;
pub mod tickets;
