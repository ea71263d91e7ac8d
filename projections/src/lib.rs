//! # ticket-projections: the projection runtime and ticketd's read models
//!
//! # Layout
//! - [`stored`]: reading stored events as envelopes.
//! - [`runtime`]: the [`Projection`] trait, the checkpointed runner and rebuilds.
//! - [`shadow`]: a rebuild's copy of a model's tables.
//! - [`sequencer`]: gives committed events their dense global position.
//! - [`backlog`]: events committed but not yet positioned, and what holds them.
//! - [`verify`]: hash-chain verification of a ticket's events.
//! - [`listen`]: a reconnecting `LISTEN` loop.
//! - [`read_models`]: the read models and the queries they serve.
#![warn(missing_docs)]

pub mod backlog;
pub mod connection;
mod copy_text;
pub mod listen;
pub mod read_models;
pub mod rebuild;
pub mod runtime;
pub mod sequencer;
pub mod shadow;
pub mod stored;
pub mod verify;

pub use runtime::Projection;
pub use runtime::{Runner, RunnerOptions};
pub use stored::StoredEvent;
/// The token the sequencer and the runner stop on (re-exported so that the engine need not
/// name tokio-util itself).
pub use tokio_util::sync::CancellationToken;
