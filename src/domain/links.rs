//! What a ticket knows of its links to other tickets and of merges (CONTRACT 10); the rules:
//! `linking`.

use std::collections::BTreeMap;

use ticket_nats::events::LinkKind;
use uuid::Uuid;

/// What a ticket knows of its links and merges.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Links {
    /// The linked tickets and how each relates to this one.
    pub linked: BTreeMap<Uuid, LinkKind>,
    /// Set once the ticket was merged into another.
    pub merged_into: Option<Uuid>,
}
