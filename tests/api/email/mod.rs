//! Mail in and out (CONTRACT 7) against real servers: the engine's SMTP listener fed by a real
//! SMTP client, the local dovecot over IMAP, and an SMTP receiver in the test process.

mod imaps;
mod inbound;
mod outbound;
pub(crate) mod support;
