//! Authentication: JWT verification, the caller extractor, passwords and token minting.
//!
//! - [`jwt`]: the checks every token goes through, and minting (HS256 with `JWT_SECRET`).
//! - [`jwks`]: keys from a `JWKS_URL`, cached and refreshed on an unknown `kid`.
//! - [`password`]: Argon2id hashes for `POST /auth/login`.
//!
//! Tokens are never logged.

pub mod jwks;
pub mod jwt;
pub mod password;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Actor, Role};
use crate::http::error::{is_unreachable, ApiError};
use crate::settings::AuthSettings;
use crate::state::AppState;
use crate::users::{self, Ensured, Origin, User};

/// How often an unknown `kid` may trigger a new fetch of the JWKS document.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

/// How many user ids the authenticator remembers as already in the directory before it starts
/// over (a forgotten id costs one `INSERT … ON CONFLICT DO NOTHING`, nothing more).
const KNOWN_USERS_MAX: usize = 65_536;

/// Verifies tokens and mints development ones.
pub struct Authenticator {
    settings: AuthSettings,
    /// `JWT_SECRET`, pinned to HS256.
    secret: Option<jwt::PinnedKey>,
    /// `JWT_PUBLIC_KEY`, pinned to RS256 or EdDSA by its type.
    public_key: Option<jwt::PinnedKey>,
    /// `JWKS_URL`.
    jwks: Option<jwks::JwksCache>,
    /// Where users first seen in a token are added.
    pool: PgPool,
    /// Ids known to be in the directory already, so that a request costs no write.
    known: Mutex<HashSet<Uuid>>,
}

impl Authenticator {
    /// Builds the verifier from its settings. With a `JWKS_URL`, the document is fetched now; if
    /// that fails the engine still starts and fetches it on the first token.
    pub async fn new(settings: &AuthSettings, pool: PgPool) -> anyhow::Result<Self> {
        let public_key = settings
            .public_key
            .as_deref()
            .map(jwt::public_key)
            .transpose()?;
        let jwks = match settings.jwks_url.as_deref() {
            Some(url) => {
                let cache = jwks::JwksCache::new(url, JWKS_MIN_REFRESH)?;
                if let Err(error) = cache.refresh().await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "JWKS not available at start-up; it is fetched again on the first token"
                    );
                }
                Some(cache)
            }
            None => None,
        };
        Ok(Self {
            settings: settings.clone(),
            secret: jwt::secret_key(settings),
            public_key,
            jwks,
            pool,
            known: Mutex::new(HashSet::new()),
        })
    }

    /// Checks a bearer token and makes sure its user is in the directory.
    pub async fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let caller = self.verify_token(token).await?;
        self.ensure_known(&caller).await?;
        Ok(caller)
    }

    /// Checks a bearer token (signature, algorithm, `iss`, `aud`, `exp`, claims) without
    /// touching the directory.
    pub async fn verify_token(&self, token: &str) -> Result<Caller, ApiError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(refuse("missing bearer token".into()));
        }
        // Unknown algorithms ("none" in any spelling included) fail here, as a 401.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refuse("malformed token header or algorithm not accepted".into()))?;
        let (alg, key) = self.key_for(&header).await?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &key,
            &jwt::validation(alg, &self.settings),
        )
        .map_err(|e| refuse(jwt::reason(&e)))?;
        jwt::caller_from_claims(&data.claims, jsonwebtoken::get_current_timestamp()).map_err(refuse)
    }

    /// The configured key for a token's header, with the one algorithm it is pinned to. The
    /// header only chooses among the configured keys; each key then accepts its algorithm only.
    async fn key_for(
        &self,
        header: &Header,
    ) -> Result<(Algorithm, jsonwebtoken::DecodingKey), ApiError> {
        let asymmetric = matches!(header.alg, Algorithm::RS256 | Algorithm::EdDSA);
        let jwks = self.jwks.as_ref().filter(|_| asymmetric);
        // A `kid` names a key of the JWKS document; without one, `JWT_PUBLIC_KEY` comes first.
        let pinned = [&self.secret, &self.public_key]
            .into_iter()
            .flatten()
            .find(|k| k.alg == header.alg);
        match (pinned, jwks) {
            (Some(pinned), None) => Ok((pinned.alg, pinned.key.clone())),
            (Some(pinned), Some(_)) if header.kid.is_none() => Ok((pinned.alg, pinned.key.clone())),
            (_, Some(jwks)) => match jwks.key_for(header.kid.as_deref(), header.alg).await {
                Ok(found) => Ok((found.alg, found.key)),
                Err(jwks::KeyLookupError::UnknownKid) => Err(refuse("unknown token key id".into())),
                Err(jwks::KeyLookupError::NoKid) => Err(refuse("token key id missing".into())),
            },
            (None, None) => Err(refuse("token algorithm not accepted".into())),
        }
    }

    /// Adds a token's user to the directory the first time this process sees it.
    async fn ensure_known(&self, caller: &Caller) -> Result<(), ApiError> {
        if self.known_lock().contains(&caller.id) {
            return Ok(());
        }
        let user = User {
            id: caller.id,
            email: caller.email.clone(),
            name: caller.name.clone(),
            role: caller.role,
        };
        match users::ensure_from_token(&self.pool, &user).await {
            Ok(Ensured::Inserted) => {
                tracing::info!(user_id = %user.id, role = %user.role, "user added from a token");
            }
            Ok(Ensured::Known) => {}
            Ok(Ensured::EmailTaken) => tracing::warn!(
                user_id = %user.id,
                "a token's e-mail belongs to another user in the directory; the token's user is not added"
            ),
            Err(error) if is_unreachable(&error) => return Err(ApiError::from(error)),
            Err(error) => {
                // The token is valid: serve the request, and try again on the next one.
                tracing::warn!(user_id = %user.id, error = %error, "cannot add a token's user to the directory");
                return Ok(());
            }
        }
        let mut known = self.known_lock();
        if known.len() >= KNOWN_USERS_MAX {
            known.clear();
        }
        known.insert(caller.id);
        Ok(())
    }

    fn known_lock(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this engine can mint tokens (it has a `JWT_SECRET`).
    pub fn can_mint(&self) -> bool {
        self.secret.is_some()
    }

    /// Lifetime of the tokens `POST /auth/login` mints, in seconds.
    pub fn token_ttl_secs(&self) -> i64 {
        self.settings.token_ttl_secs
    }

    /// Mints an HS256 token for `user` (error when no `JWT_SECRET` is configured).
    pub fn mint(&self, user: &User, ttl_secs: i64) -> anyhow::Result<String> {
        jwt::mint(&self.settings, user, ttl_secs)
    }
}

fn refuse(reason: String) -> ApiError {
    tracing::debug!(reason = %reason, "token refused");
    ApiError::Unauthorized(reason)
}

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

impl Authenticator {
    /// [`Authenticator::verify`], reusing the verification the rate limiter did for this very
    /// token on this request, if it did.
    async fn verify_in(&self, parts: &Parts, token: &str) -> Result<Caller, ApiError> {
        match parts.extensions.get::<VerifiedToken>() {
            Some(verified) if verified.token == token => {
                self.ensure_known(&verified.caller).await?;
                Ok(verified.caller.clone())
            }
            _ => self.verify(token).await,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header: `None` without the header, an error
/// when it is there but not a bearer token.
fn bearer(parts: &Parts) -> Option<Result<&str, ApiError>> {
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
        Some(token) => auth.verify_in(parts, token?).await,
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
    }
}

/// The caller of a request authenticated by its `Authorization: Bearer` header or, failing that
/// header, by an `access_token` query parameter (browsers cannot set headers on a WebSocket).
pub async fn caller_from_query_or_header(
    parts: &Parts,
    state: &AppState,
) -> Result<Caller, ApiError> {
    caller_from_parts(parts, &state.auth).await
}

/// [`caller_from_query_or_header`] with the authenticator alone.
pub async fn caller_from_parts(parts: &Parts, auth: &Authenticator) -> Result<Caller, ApiError> {
    if let Some(token) = bearer(parts) {
        return auth.verify_in(parts, token?).await;
    }
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map_err(|_| ApiError::Unauthorized("missing bearer token".into()))?;
    match query.0.iter().rev().find(|(k, _)| k == "access_token") {
        Some((_, token)) => auth.verify_in(parts, token).await,
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
    }
}

/// `ticketd token`: prints a token for the user with `--email`, adding the user first (origin
/// `cli`) when it is unknown and `--role` is given.
pub async fn cli_token(
    pool: &sqlx::PgPool,
    settings: &crate::settings::Settings,
    args: crate::cli::TokenArgs,
) -> anyhow::Result<()> {
    if settings.auth.secret.is_none() {
        anyhow::bail!("`ticketd token` signs with JWT_SECRET, which is not set");
    }
    if args.ttl <= 0 {
        anyhow::bail!("--ttl must be a positive number of seconds");
    }
    let role = args
        .role
        .as_deref()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| anyhow::anyhow!("--role: {e}"))
        })
        .transpose()?;
    let user = match users::find_by_email(pool, &args.email)
        .await
        .context("cannot look the user up")?
    {
        Some(user) => {
            if role.is_some_and(|r| r != user.role) {
                tracing::warn!(
                    role = %user.role,
                    "the user exists with another role; the token carries the directory's role"
                );
            }
            user
        }
        None => {
            let Some(role) = role else {
                anyhow::bail!(
                    "no user has the e-mail {}; pass --role (and --name) to add one",
                    args.email
                );
            };
            let email =
                users::check_email(&args.email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let name = args
                .name
                .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
            let name = users::check_name(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            users::create(pool, &email, &name, role, None, Origin::Cli)
                .await
                .context("cannot add the user")?
        }
    };
    let token = jwt::mint(&settings.auth, &user, args.ttl)?;
    println!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests;
