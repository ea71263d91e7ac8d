//! Authentication: JWT verification, passwords and token minting. The HTTP side (reading the
//! bearer token of a request) is `http::bearer`.
//!
//! - [`caller`]: who a verified token names; [`refusal`]: why a token is refused.
//! - [`jwt`]: the checks every token goes through, and minting (HS256 with `JWT_SECRET`).
//! - [`jwks`]: keys from a `JWKS_URL`, cached and refreshed on an unknown `kid`.
//! - [`password`]: Argon2id hashes for `POST /auth/login`; [`common_passwords`]: the list a
//!   new password must not be on.
//! - [`device`]: device cookies, which exempt a browser that signed in before from an
//!   account's login holds.
//!
//! Tokens are never logged.

pub mod caller;
pub mod common_passwords;
pub mod device;
pub mod jwks;
pub mod jwt;
pub mod password;
pub mod refusal;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub use caller::Caller;
pub use refusal::AuthError;

use crate::db::is_unreachable;
use crate::settings::AuthSettings;
use crate::store::user_stream::Recorder;
use crate::users::{self, Ensured, User};

/// How often an unknown `kid` may trigger a new fetch of the JWKS document.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

/// How many user ids the authenticator remembers as already in the directory before it starts
/// over (a forgotten id costs one read of the directory, nothing more).
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
    /// Ids known to be in the directory and active, and since when, so that a request costs
    /// no read: a deactivation made on another instance is seen within [`ACTIVE_RECHECK`].
    known: Mutex<HashMap<Uuid, Instant>>,
    /// The CloudEvents `source` of the `user.created` a token's first request records.
    source: String,
}

/// How long a user found active is trusted to stay so (CONTRACT 11: cached ≤ 30 s).
const ACTIVE_RECHECK: Duration = Duration::from_secs(30);

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
            known: Mutex::new(HashMap::new()),
            source: "ticketd".into(),
        })
    }

    /// The CloudEvents `source` of the user events it records (default `ticketd`).
    pub fn with_source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        self
    }

    /// Forgets that user `id` was found active, so that their next request looks again (after
    /// a deactivation or a merge on this instance: refused at once).
    pub fn forget(&self, id: Uuid) {
        self.known_lock().remove(&id);
    }

    /// Checks a bearer token and makes sure its user is in the directory.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let caller = self.verify_token(token).await?;
        self.ensure_known(&caller).await?;
        Ok(caller)
    }

    /// Checks a bearer token (signature, algorithm, `iss`, `aud`, `exp`, claims) without
    /// touching the directory.
    pub async fn verify_token(&self, token: &str) -> Result<Caller, AuthError> {
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
    ) -> Result<(Algorithm, jsonwebtoken::DecodingKey), AuthError> {
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

    /// Adds a token's user to the directory the first time this process sees it, and refuses
    /// the token of an inactive user.
    pub async fn ensure_known(&self, caller: &Caller) -> Result<(), AuthError> {
        if self
            .known_lock()
            .get(&caller.id)
            .is_some_and(|since| since.elapsed() < ACTIVE_RECHECK)
        {
            return Ok(());
        }
        match users::is_active(&self.pool, caller.id).await {
            Ok(Some(true)) => {}
            Ok(Some(false)) => return Err(refuse("the user is inactive".into())),
            Ok(None) => self.add_from_token(caller).await?,
            Err(error) if is_unreachable(&error) => return Err(AuthError::Unavailable(error)),
            Err(error) => {
                // The token is valid: serve the request, and look again on the next one.
                tracing::warn!(user_id = %caller.id, error = %error, "cannot look a token's user up");
                return Ok(());
            }
        }
        let mut known = self.known_lock();
        if known.len() >= KNOWN_USERS_MAX {
            known.clear();
        }
        known.insert(caller.id, Instant::now());
        Ok(())
    }

    async fn add_from_token(&self, caller: &Caller) -> Result<(), AuthError> {
        let user = User {
            id: caller.id,
            email: Some(caller.email.clone()).filter(|e| !e.is_empty()),
            phone: None,
            name: caller.name.clone(),
            role: caller.role,
            login: false,
            active: true,
            merged_into: None,
        };
        let recorder = Recorder {
            source: self.source.clone(),
            actor: ticket_nats::Actor {
                id: caller.id.to_string(),
                name: caller.name.clone(),
                role: caller.role.as_str().to_string(),
            },
            correlation_id: Uuid::now_v7().to_string(),
        };
        match users::ensure_from_token(&self.pool, &recorder, &user).await {
            Ok(Ensured::Inserted) => {
                tracing::info!(user_id = %user.id, role = %user.role, "user added from a token");
            }
            Ok(Ensured::Known) => {}
            Ok(Ensured::EmailTaken) => tracing::warn!(
                user_id = %user.id,
                "a token's e-mail belongs to another user in the directory; the token's user is not added"
            ),
            Err(error) if is_unreachable(&error) => return Err(AuthError::Unavailable(error)),
            Err(error) => {
                tracing::warn!(user_id = %user.id, error = %error, "cannot add a token's user to the directory");
            }
        }
        Ok(())
    }

    fn known_lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Instant>> {
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

fn refuse(reason: String) -> AuthError {
    tracing::debug!(reason = %reason, "token refused");
    AuthError::Unauthorized(reason)
}

#[cfg(test)]
mod tests;
