//! Keys from a JWKS document (`JWKS_URL`): fetched once at start-up, cached, and fetched again
//! when a token names a key id the cache does not know (at most once per `min_refresh`, so a
//! flood of tokens with made-up `kid`s cannot turn into a flood of requests to the provider).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// One usable verification key of the document.
#[derive(Clone)]
pub struct JwkKey {
    /// The algorithm this key verifies (RS256 or EdDSA); the only one accepted with it.
    pub alg: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

/// The usable keys of one version of the document.
#[derive(Clone, Default)]
struct KeySet {
    by_kid: HashMap<String, JwkKey>,
    without_kid: Vec<JwkKey>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<JwkKey> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None => {
                // A token without `kid` is only accepted when one key could have signed it.
                let mut candidates = self
                    .by_kid
                    .values()
                    .chain(self.without_kid.iter())
                    .filter(|k| k.alg == alg);
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Some(only.clone()),
                    _ => None,
                }
            }
        }
    }
}

/// Why no key was found for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The token names a key the document does not hold (even after a refresh).
    UnknownKid,
    /// The token names no key and the document holds none or several for its algorithm.
    NoKid,
}

/// The cached document.
pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When the last fetch was attempted; held across the fetch so that concurrent misses
    /// wait for one request instead of each sending their own.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_refresh: Duration,
}

impl JwksCache {
    /// A cache of the document at `url`, fetched again on an unknown `kid` at most once per
    /// `min_refresh`. Nothing is fetched yet: call [`JwksCache::refresh`].
    pub fn new(url: &str, min_refresh: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .user_agent(concat!("ticketd/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client for JWKS_URL")?;
        Ok(Self {
            url: url.to_string(),
            client,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_fetch: tokio::sync::Mutex::new(None),
            min_refresh,
        })
    }

    /// Fetches the document now and replaces the cached keys; returns how many are usable.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let mut last = self.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch().await
    }

    async fn fetch(&self) -> anyhow::Result<usize> {
        let document: Value = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot fetch the JWKS document at {}", self.url))?
            .json()
            .await
            .with_context(|| format!("the JWKS document at {} is not JSON", self.url))?;
        let set = parse_jwks(&document)
            .with_context(|| format!("the JWKS document at {} is not a JWK set", self.url))?;
        let usable = set.by_kid.len() + set.without_kid.len();
        tracing::info!(url = %self.url, keys = usable, "JWKS keys loaded");
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(usable)
    }

    fn cached(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key for a token with header `kid` and `alg`, fetching the document again (rate
    /// limited) when the cache does not know the key.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<JwkKey, KeyLookupError> {
        if let Some(key) = self.cached().find(kid, alg) {
            return Ok(key);
        }
        {
            let mut last = self.last_fetch.lock().await;
            // Someone else may have fetched while this request waited for the lock.
            if let Some(key) = self.cached().find(kid, alg) {
                return Ok(key);
            }
            let due = last.is_none_or(|at| at.elapsed() >= self.min_refresh);
            if due {
                *last = Some(Instant::now());
                if let Err(error) = self.fetch().await {
                    tracing::warn!(error = format!("{error:#}"), "JWKS refresh failed");
                }
            }
        }
        self.cached().find(kid, alg).ok_or(match kid {
            Some(_) => KeyLookupError::UnknownKid,
            None => KeyLookupError::NoKid,
        })
    }
}

/// The algorithm a JWK verifies, if it is one we accept (RS256 or EdDSA) and its key type fits.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        // Symmetric keys in a public document, and EC keys, are not accepted.
        _ => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => by_type,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    (declared == by_type).then_some(declared)
}

/// The usable keys of a JWKS document; keys we cannot or will not use are skipped.
fn parse_jwks(document: &Value) -> anyhow::Result<KeySet> {
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .context("no \"keys\" array")?;
    let mut set = KeySet::default();
    for raw in keys {
        // One key of a type this library does not know must not hide the others.
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            tracing::debug!("skipping a JWK that cannot be parsed");
            continue;
        };
        let Some(alg) = jwk_algorithm(&jwk) else {
            tracing::debug!(kid = ?jwk.common.key_id, "skipping a JWK that is not an RS256 or EdDSA signing key");
            continue;
        };
        let key = match DecodingKey::from_jwk(&jwk) {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(kid = ?jwk.common.key_id, error = %error, "skipping an unusable JWK");
                continue;
            }
        };
        let entry = JwkKey { alg, key };
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.insert(kid, entry);
            }
            None => set.without_kid.push(entry),
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/jwt/jwks.json")).unwrap()
    }

    #[test]
    fn only_rs256_and_eddsa_signing_keys_are_kept() {
        let mut doc = fixture();
        let (n, e) = (doc["keys"][0]["n"].clone(), doc["keys"][0]["e"].clone());
        doc["keys"].as_array_mut().unwrap().extend([
            serde_json::json!({"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "weird", "kid": "weird"}),
            serde_json::json!({"kty": "RSA", "kid": "rs512", "alg": "RS512",
                "n": n, "e": e}),
        ]);
        let set = parse_jwks(&doc).unwrap();
        let mut kids: Vec<_> = set.by_kid.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["ed-1", "rsa-1"]);
        assert_eq!(set.by_kid["rsa-1"].alg, Algorithm::RS256);
        assert_eq!(set.by_kid["ed-1"].alg, Algorithm::EdDSA);
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(parse_jwks(&serde_json::json!({"nope": []})).is_err());
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_candidate() {
        let set = parse_jwks(&fixture()).unwrap();
        assert!(set.find(None, Algorithm::RS256).is_some());
        assert!(set.find(None, Algorithm::EdDSA).is_some());
        let mut doc = fixture();
        let mut second = doc["keys"][0].clone();
        second["kid"] = "rsa-2".into();
        doc["keys"].as_array_mut().unwrap().push(second);
        assert!(parse_jwks(&doc)
            .unwrap()
            .find(None, Algorithm::RS256)
            .is_none());
    }
}
