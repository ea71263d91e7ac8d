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

/// A request's bearer token, as [`bearer_token`] found it.
#[derive(Debug, Clone)]
pub struct BearerToken {
    /// The token.
    pub value: String,
    /// From the `Authorization` header (else from an `access_token` query parameter).
    pub from_header: bool,
}

/// The token a request authenticates with: its `Authorization: Bearer` header or, without that
/// header, its last `access_token` query parameter. `None` when there is none or the header is
/// not a bearer token.
pub fn bearer_token(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Option<BearerToken> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
        let token = token.trim();
        return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| BearerToken {
            value: token.to_string(),
            from_header: true,
        });
    }
    let Query(query) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    query
        .into_iter()
        .rev()
        .find(|(k, _)| k == "access_token")
        .map(|(_, value)| BearerToken {
            value,
            from_header: false,
        })
}

/// A token the rate limiter already verified for this request (a request extension), so that
/// the `Caller` extractor does not verify it again.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The token that was verified.
    pub token: String,
    /// Whom it names.
    pub caller: Caller,
}

/// [`Authenticator::verify`], reusing the verification the rate limiter did for this very token
/// on this request, if it did.
async fn verify_in(auth: &Authenticator, parts: &Parts, token: &str) -> Result<Caller, ApiError> {
    // An integration's key is no user's token: said plainly rather than as a malformed JWT.
    if token.starts_with(crate::integrations::KEY_PREFIX) {
        return Err(ApiError::Unauthorized(
            "an integration key may call only /api/v1/intake/*".into(),
        ));
    }
    match parts.extensions.get::<VerifiedToken>() {
        Some(verified) if verified.token == token => {
            auth.ensure_known(&verified.caller).await?;
            Ok(verified.caller.clone())
        }
        _ => Ok(auth.verify(token).await?),
    }
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
        Some(token) => verify_in(auth, parts, token?).await,
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
    }
}

/// The token of a request: its `Authorization: Bearer` header's when there is one (an error when
/// that header is not a bearer token), else the last `access_token` query parameter.
pub(crate) fn token_of(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(token) = bearer(parts) {
        return token.map(|t| Some(t.to_string()));
    }
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map_err(|_| ApiError::Unauthorized("missing bearer token".into()))?;
    Ok(query
        .0
        .into_iter()
        .rev()
        .find(|(k, _)| k == "access_token")
        .map(|(_, token)| token))
}

/// The caller of a request authenticated by its `Authorization: Bearer` header or, failing that
/// header, by an `access_token` query parameter (browsers cannot set headers on a WebSocket).
pub async fn caller_from_parts(parts: &Parts, auth: &Authenticator) -> Result<Caller, ApiError> {
    match token_of(parts)? {
        Some(token) => verify_in(auth, parts, &token).await,
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut builder = Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_header_token_wins_over_the_query_parameter() {
        let both = parts(&[("authorization", "Bearer abc")], "/ws?access_token=xyz");
        let query = parts(&[], "/ws?access_token=one&access_token=two");
        assert_eq!(token_of(&both).unwrap().as_deref(), Some("abc"));
        assert_eq!(token_of(&query).unwrap().as_deref(), Some("two"));
    }
}
