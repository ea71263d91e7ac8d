//! Password-reset codes (CONTRACT 11): eight random digits, valid 15 minutes, single use,
//! stored as a SHA-256 digest, compared in constant time, and dead after five wrong tries.

use std::time::Duration;

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// How long a code is valid.
pub const CODE_TTL: Duration = Duration::from_secs(15 * 60);
/// Wrong tries after which a code is dead.
pub const MAX_ATTEMPTS: i32 = 5;
/// Digits in a code.
const DIGITS: usize = 8;

fn digest(code: &str) -> Vec<u8> {
    Sha256::digest(code.trim().as_bytes()).to_vec()
}

/// Makes a new code for `user_id`, replacing any earlier one; returns it for the mail.
pub async fn create(pool: &PgPool, user_id: Uuid) -> Result<String, sqlx::Error> {
    let code: String = {
        let mut rng = rand::rng();
        (0..DIGITS)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect()
    };
    sqlx::query(
        "INSERT INTO password_resets (user_id, code_hash, expires_at, attempts)
         VALUES ($1, $2, now() + make_interval(secs => $3), 0)
         ON CONFLICT (user_id) DO UPDATE
         SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
    )
    .bind(user_id)
    .bind(digest(&code))
    .bind(CODE_TTL.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(code)
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The code is right: it is used up now.
    Good,
    /// Wrong, expired, used, dead after too many tries, or never asked for.
    Bad,
}

/// Checks `code` for `user_id` and uses it up when right; a wrong try counts against it.
pub async fn check(pool: &PgPool, user_id: Uuid, code: &str) -> Result<Checked, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<(Vec<u8>, bool, i32)> = sqlx::query_as(
        "SELECT code_hash, expires_at > now(), attempts FROM password_resets
         WHERE user_id = $1 FOR UPDATE",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((stored, live, attempts)) = row else {
        return Ok(Checked::Bad);
    };
    // Compared in constant time, and compared even for a dead code, so that timing tells nothing.
    let same: bool = stored.ct_eq(&digest(code)).into();
    if same && live && attempts < MAX_ATTEMPTS {
        sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(Checked::Good);
    }
    sqlx::query("UPDATE password_resets SET attempts = attempts + 1 WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Checked::Bad)
}
