//! Why a caller is not authenticated.

/// A token refused, or a directory that could not be reached to check its user.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No valid token: the reason is safe to show the client.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but the user directory could not be reached.
    #[error("the user directory is unreachable")]
    Unavailable(#[source] sqlx::Error),
}
