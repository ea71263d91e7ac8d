//! Refresh tokens (CONTRACT 11, RFC 6819 and the OAuth 2.0 Security BCP): opaque, random,
//! stored as SHA-256 digests only, rotated on every use. Each login starts a family; every
//! rotation adds a token to it. Presenting a token that was already rotated is reuse: someone
//! holds a copy, so the whole family is revoked, the legitimate holder's newest token included.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Longest token text accepted (a longer one is no token of ours; the digest is not computed).
pub const TOKEN_MAX: usize = 128;

/// A new refresh token: the text the client keeps, and its family.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The opaque token (URL-safe base64); never stored.
    pub token: String,
    /// The family it belongs to.
    pub family: Uuid,
}

/// Why a refresh token was refused (each a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token this engine issued (or forged, or malformed).
    Unknown,
    /// Revoked (logout, reuse, deactivation, password reset).
    Revoked,
    /// Already traded for a successor: the family is now revoked.
    Reused,
    /// Past its lifetime.
    Expired,
    /// Its user is inactive: the family is now revoked.
    Inactive,
}

impl Refused {
    /// Why, in words (for logs; the client is told only that the token is refused).
    pub fn as_str(&self) -> &'static str {
        match self {
            Refused::Unknown => "unknown refresh token",
            Refused::Revoked => "revoked refresh token",
            Refused::Reused => "reused refresh token: its family is revoked",
            Refused::Expired => "expired refresh token",
            Refused::Inactive => "the token's user is inactive",
        }
    }
}

/// The digest a token is stored under; `None` for text no token of ours can be.
fn digest(token: &str) -> Option<Vec<u8>> {
    let token = token.trim();
    if token.is_empty() || token.len() > TOKEN_MAX {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).to_vec())
}

fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}

async fn insert(
    conn: &mut PgConnection,
    user_id: Uuid,
    family: Uuid,
    ttl: Duration,
) -> Result<Issued, sqlx::Error> {
    let (token, hash) = new_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family, user_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(hash)
    .bind(family)
    .bind(user_id)
    .bind(ttl.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(Issued { token, family })
}

/// Starts a new family for `user_id` (a login).
pub async fn issue(pool: &PgPool, user_id: Uuid, ttl: Duration) -> Result<Issued, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    insert(&mut conn, user_id, Uuid::now_v7(), ttl).await
}

/// What [`rotate`] gives for a good token: the user it belongs to and its successor.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The token's user.
    pub user_id: Uuid,
    /// The successor token, in the same family.
    pub issued: Issued,
}

/// Trades `token` for a successor. The row is locked, so of two racing uses of one token one
/// rotates it and the other is reuse.
pub async fn rotate(
    pool: &PgPool,
    token: &str,
    ttl: Duration,
) -> Result<Result<Rotated, Refused>, sqlx::Error> {
    let Some(hash) = digest(token) else {
        return Ok(Err(Refused::Unknown));
    };
    let mut tx = pool.begin().await?;
    let row: Option<(Uuid, Uuid, bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT t.user_id, t.family, t.rotated_at IS NOT NULL, t.revoked_at IS NOT NULL,
                t.expires_at <= now(), u.active
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1
         FOR UPDATE OF t",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, family, rotated, revoked, expired, active)) = row else {
        return Ok(Err(Refused::Unknown));
    };
    let refused = if revoked {
        Some(Refused::Revoked)
    } else if rotated {
        Some(Refused::Reused)
    } else if expired {
        Some(Refused::Expired)
    } else if !active {
        Some(Refused::Inactive)
    } else {
        None
    };
    if let Some(refused) = refused {
        if matches!(refused, Refused::Reused | Refused::Inactive) {
            revoke_family_in(&mut tx, family).await?;
            tx.commit().await?;
            tracing::warn!(user_id = %user_id, family = %family, reason = refused.as_str(), "refresh token family revoked");
        }
        return Ok(Err(refused));
    }
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1")
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    let issued = insert(&mut tx, user_id, family, ttl).await?;
    tx.commit().await?;
    Ok(Ok(Rotated { user_id, issued }))
}

/// The family and user of `token`, whatever its state (`None`: not ours).
pub async fn family_of(pool: &PgPool, token: &str) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    let Some(hash) = digest(token) else {
        return Ok(None);
    };
    sqlx::query_as("SELECT family, user_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(pool)
        .await
}

async fn revoke_family_in(conn: &mut PgConnection, family: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Revokes the family `token` belongs to (a logout). Whether the token was one of ours.
pub async fn revoke_family_of(pool: &PgPool, token: &str) -> Result<bool, sqlx::Error> {
    let Some((family, user_id)) = family_of(pool, token).await? else {
        return Ok(false);
    };
    let mut conn = pool.acquire().await?;
    revoke_family_in(&mut conn, family).await?;
    tracing::info!(user_id = %user_id, family = %family, "refresh token family revoked");
    Ok(true)
}

/// Revokes every refresh token of `user_id` but those of `keep` (deactivation, merge, a
/// password reset or change), in the caller's transaction.
pub async fn revoke_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND family IS DISTINCT FROM $2",
    )
    .bind(user_id)
    .bind(keep)
    .execute(conn)
    .await?
    .rows_affected())
}
