//! Automation rules (CONTRACT 8): `when` an event of some type leaves a ticket in some state,
//! `then` notify, assign, set the priority or comment.
//!
//! - [`model`]: conditions and actions, read from their JSON.
//! - [`template`]: texts with named placeholders.
//! - [`store`]: rules as the API manages them and the processor reads them.
//! - [`processor`]: follows the event log and acts, once per (rule, event, action).

pub mod model;
pub mod processor;
pub mod store;
pub mod template;
