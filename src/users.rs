//! The user directory. (Interface in place; the implementation is being written.)

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Role;

/// A known user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// Id (the tokens' `sub`).
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
}

/// Finds a user by id.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(Uuid, String, String, String)> =
        sqlx::query_as("SELECT id, email, name, role FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(id, email, name, role)| {
        Some(User {
            id,
            email,
            name,
            role: role.parse().ok()?,
        })
    }))
}

/// `ticketd user add`.
pub async fn cli_add(_pool: &PgPool, _args: crate::cli::UserAddArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
