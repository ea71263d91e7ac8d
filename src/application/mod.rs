//! The application layer: the use cases every way in calls. The HTTP handlers today, and intake
//! by API, chat or e-mail and rules later, parse and authenticate their input and then call
//! these; the decisions stay in the aggregate, and the outside facts a command needs (users
//! looked up, the ticket number, the clock) are resolved here, once.
//!
//! - [`attachments`]: store an uploaded file, comment with stored files.
//! - [`tickets`]: open a ticket, comment, assign, update, close, reopen, rate.
//! - [`links`]: link, unlink and merge tickets (each side its own ticket's events).
//! - [`people`]: the requester behind an intake, found by contact or added.
//! - [`intake`]: tickets and messages from integrations.
//! - [`fields`]: custom field values checked against their definitions.
//! - [`import_users`]: users from a CSV file, all or nothing.

pub mod attachments;
pub mod fields;
pub mod import_users;
pub mod intake;
mod intake_record;
pub mod links;
pub mod people;
pub mod tickets;
