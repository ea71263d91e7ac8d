//! # ticket-projections: the projection runtime and ticketd's read models
//!
//! # Layout
//! - [`stored`]: reading stored events as envelopes.
//! - [`runtime`]: the [`Projection`] trait and the checkpointed runner.
//! - [`read_models`]: the read models and the queries they serve.
#![warn(missing_docs)]

pub mod read_models;
pub mod runtime;
pub mod stored;

pub use runtime::Projection;
pub use stored::StoredEvent;
