//! Who is calling: what a verified token says about its user.

use std::time::SystemTime;

use uuid::Uuid;

use crate::domain::{Actor, Role};

/// The authenticated user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id (`sub`).
    pub id: Uuid,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// When the token expires (its `exp`): a WebSocket opened with it closes then. `None` for an
    /// `exp` beyond what the clock can represent.
    pub expires_at: Option<SystemTime>,
}

impl Caller {
    /// The caller as a command's actor.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role,
        }
    }
}
