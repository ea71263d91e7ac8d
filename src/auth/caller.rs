//! Who is calling: what a verified token says about its user.

use std::time::SystemTime;

use uuid::Uuid;

use crate::domain::{Issuer, Role};

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
    /// The caller as the issuer of a command.
    pub fn issuer(&self) -> Issuer {
        Issuer {
            id: self.id,
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role,
            stands_for: Vec::new(),
        }
    }
}
