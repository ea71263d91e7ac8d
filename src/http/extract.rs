//! Extractors shared by the routes.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use uuid::Uuid;

use super::error::{ApiError, Result};

/// The ticket id of a path. Anything that is not a UUID (not even UTF-8, as `%ff`) names no
/// ticket: [`TicketId::id`] answers 404. The extractor itself never refuses, so that the
/// handler's other extractors (the token's 401 first) decide before it. `PATCH /users/{id}` reads
/// its id the same way, with its own 404.
#[derive(Debug, Clone, Copy)]
pub struct TicketId(Option<Uuid>);

impl<S: Send + Sync> FromRequestParts<S> for TicketId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let id = Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|Path(raw)| Uuid::parse_str(&raw).ok());
        Ok(Self(id))
    }
}

impl TicketId {
    /// The id, or the 404 of a ticket that does not exist.
    pub fn id(self) -> Result<Uuid> {
        self.0.ok_or_else(ApiError::ticket_not_found)
    }
}

/// `/tickets/{id}/links/{other}`: the ticket's id as [`TicketId`] reads it, and the other
/// ticket's (`None` when it is not a UUID, which names no ticket either).
#[derive(Debug, Clone, Copy)]
pub struct TicketAndOther(pub TicketId, pub Option<Uuid>);

impl<S: Send + Sync> FromRequestParts<S> for TicketAndOther {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let ids = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|Path((id, other))| (Uuid::parse_str(&id).ok(), Uuid::parse_str(&other).ok()));
        let (id, other) = ids.unwrap_or((None, None));
        Ok(Self(TicketId(id), other))
    }
}
