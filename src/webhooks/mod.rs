//! Signed webhooks (CONTRACT 8): endpoints that receive the events of the log, each a consumer
//! with its own checkpoint, delivered per the Standard Webhooks specification.
//!
//! - [`config`]: allow-lists, retry schedule, timeouts.
//! - [`address`], [`target`]: the SSRF policy (which addresses and URLs may be reached).
//! - [`signature`]: `whsec_` secrets and `v1,` signatures.
//! - [`input`]: event types and descriptions.
//! - [`store`]: endpoints and deliveries as the API manages them.
//! - [`queue`], [`deliverer`], [`send`]: following the log, attempts, retries, auto-disable.

pub mod address;
pub mod config;
pub mod deliverer;
pub mod input;
pub mod queue;
pub mod send;
pub mod signature;
pub mod store;
pub mod target;

pub use config::WebhookSettings;
pub use deliverer::Deliverer;
