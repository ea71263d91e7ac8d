//! Integrations: other systems (web forms, chat widgets, anything with HTTP) that open tickets
//! through `/intake/*`, each with its own key. A key is `tdk_` + 32 random bytes in base64url,
//! shown once at creation; only its SHA-256 is stored, and revoking it takes effect at once.
//!
//! An instance remembers the keys it verified for a minute ([`KeyCache`]), so that an intake
//! does not pay a lookup for its key besides the statement that records it. That statement
//! checks that the integration is not revoked, in the same snapshot as its write, so a key
//! revoked on any instance writes nothing from the moment the revocation committed; every other
//! use of a remembered key confirms it first ([`is_active`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Channel, Priority};

/// What every integration key starts with.
pub const KEY_PREFIX: &str = "tdk_";

/// A stored integration (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Integration {
    /// Id.
    pub id: Uuid,
    /// Name, for people.
    pub name: String,
    /// The channel of every ticket it opens.
    #[schema(value_type = String)]
    pub channel: Channel,
    /// Category of its tickets when an intake names none (else `other`).
    pub default_category: Option<String>,
    /// Priority of its tickets when an intake names none (else `medium`).
    #[schema(value_type = Option<String>)]
    pub default_priority: Option<Priority>,
    /// When it was created.
    #[schema(value_type = String)]
    pub created_at: ticket_nats::Timestamp,
}

/// A new integration's settings, checked.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    /// Name.
    pub name: String,
    /// Channel.
    pub channel: Channel,
    /// Default category (one of the configured ones).
    pub default_category: Option<String>,
    /// Default priority.
    pub default_priority: Option<Priority>,
}

/// A new random key.
fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What is stored of a key: lowercase hex SHA-256. Keys are 256 random bits, so a plain hash
/// (no salt, no stretching) is as strong as the key itself, and lets a request find its
/// integration by one index probe.
fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

type Row = (
    Uuid,
    String,
    String,
    Option<String>,
    Option<String>,
    chrono::DateTime<chrono::Utc>,
);

fn from_row((id, name, channel, category, priority, created_at): Row) -> Option<Integration> {
    Some(Integration {
        id,
        name,
        channel: channel.parse().ok()?,
        default_category: category,
        default_priority: priority.and_then(|p| p.parse().ok()),
        created_at: created_at.into(),
    })
}

const COLUMNS: &str = "id, name, channel, default_category, default_priority, created_at";

/// Creates an integration; returns it with its key, which is not kept.
pub async fn create(
    pool: &PgPool,
    new: NewIntegration,
) -> Result<(Integration, String), sqlx::Error> {
    let key = new_key();
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO integrations (id, name, channel, default_category, default_priority, key_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&new.name)
    .bind(new.channel.as_str())
    .bind(&new.default_category)
    .bind(new.default_priority.map(|p| p.as_str()))
    .bind(key_hash(&key))
    .fetch_one(pool)
    .await?;
    let integration = from_row(row)
        .ok_or_else(|| sqlx::Error::Protocol("a stored integration does not read back".into()))?;
    Ok((integration, key))
}

/// Every integration not revoked, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Integration>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM integrations WHERE revoked_at IS NULL ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

/// Revokes an integration's key; false when there is no such integration (or it was revoked).
pub async fn revoke(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE integrations SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The integration a key belongs to, unless revoked.
pub async fn authenticate(pool: &PgPool, key: &str) -> Result<Option<Integration>, sqlx::Error> {
    if !key.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM integrations WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(key_hash(key))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(from_row))
}

/// An integration a key names, and whether that was checked against the database just now
/// (`false`: remembered by this instance, to be confirmed by whatever uses it).
#[derive(Debug, Clone)]
pub struct Identified {
    /// The integration.
    pub integration: Integration,
    /// Looked up now, and not revoked.
    pub confirmed: bool,
}

/// The integration a key belongs to: remembered in `cache`, else looked up (unless revoked) and
/// remembered.
pub async fn identify(
    pool: &PgPool,
    cache: &KeyCache,
    key: &str,
) -> Result<Option<Identified>, sqlx::Error> {
    if !key.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let hash = key_hash(key);
    if let Some(integration) = cache.get(&hash) {
        return Ok(Some(Identified {
            integration,
            confirmed: false,
        }));
    }
    let Some(integration) = authenticate(pool, key).await? else {
        return Ok(None);
    };
    cache.remember(hash, integration.clone());
    Ok(Some(Identified {
        integration,
        confirmed: true,
    }))
}

/// Whether an integration exists and is not revoked.
pub async fn is_active(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE id = $1 AND revoked_at IS NULL)",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}

/// How long an instance remembers a verified key.
const REMEMBERED: Duration = Duration::from_secs(60);
/// Most keys remembered at once; past it the expired ones go, then all of them.
const REMEMBERED_KEYS: usize = 1024;

/// The keys this instance verified lately, by their SHA-256: the integration each belongs to
/// when it was verified. A remembered key is not proof that it is still valid (see the
/// module's documentation): only unknown or revoked keys are never remembered.
#[derive(Clone, Default)]
pub struct KeyCache {
    keys: Arc<Mutex<HashMap<String, (Integration, Instant)>>>,
}

impl KeyCache {
    /// The integration remembered for the key with this hash, if verified within the minute.
    pub fn get(&self, hash: &str) -> Option<Integration> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(hash)
            .filter(|(_, at)| at.elapsed() < REMEMBERED)
            .map(|(integration, _)| integration.clone())
    }

    /// Remembers a key just verified.
    pub fn remember(&self, hash: String, integration: Integration) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= REMEMBERED_KEYS {
            keys.retain(|_, (_, at)| at.elapsed() < REMEMBERED);
            if keys.len() >= REMEMBERED_KEYS {
                keys.clear();
            }
        }
        keys.insert(hash, (integration, Instant::now()));
    }

    /// Forgets an integration's key: it was revoked.
    pub fn forget(&self, id: Uuid) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.retain(|_, (integration, _)| integration.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tdk_and_32_random_bytes_in_base64url() {
        let key = new_key();
        let body = key.strip_prefix(KEY_PREFIX).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        assert_ne!(new_key(), key);
        assert_eq!(key_hash(&key).len(), 64);
        assert_ne!(key_hash(&key), key_hash(&new_key()));
    }
}
