//! # ticket-projections: the projection runtime and ticketd's read models
//!
//! # Layout
//! - [`stored`]: reading stored events as envelopes.
//! - [`runtime`]: the [`Projection`] trait and the checkpointed runner.
#![warn(missing_docs)]

pub mod runtime;
pub mod stored;

pub use runtime::Projection;
pub use stored::StoredEvent;
