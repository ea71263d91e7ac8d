//! The `Caller` extractor: the bearer token of a request, verified by [`Authenticator`].

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{Authenticator, Caller};

/// The token of an `Authorization: Bearer <token>` header: `None` without the header, an error
/// when it is there but not a bearer token.
pub(crate) fn bearer(parts: &Parts) -> Option<Result<&str, ApiError>> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let malformed =
        || ApiError::Unauthorized("the Authorization header must be Bearer <token>".into());
    let Ok(value) = value.to_str() else {
        return Some(Err(malformed()));
    };
    let value = value.trim();
    Some(match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(malformed()),
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller_from_header(parts, &state.auth).await
    }
}

/// The caller of a request authenticated by its `Authorization: Bearer` header alone.
pub async fn caller_from_header(parts: &Parts, auth: &Authenticator) -> Result<Caller, ApiError> {
    match bearer(parts) {
        Some(token) => Ok(auth.verify(token?).await?),
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
    }
}

/// The caller of a request authenticated by its `Authorization: Bearer` header or, failing that
/// header, by an `access_token` query parameter (browsers cannot set headers on a WebSocket).
pub async fn caller_from_parts(parts: &Parts, auth: &Authenticator) -> Result<Caller, ApiError> {
    if let Some(token) = bearer(parts) {
        return Ok(auth.verify(token?).await?);
    }
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map_err(|_| ApiError::Unauthorized("missing bearer token".into()))?;
    match query.0.iter().rev().find(|(k, _)| k == "access_token") {
        Some((_, token)) => Ok(auth.verify(token).await?),
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
    }
}
