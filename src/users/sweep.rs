//! Forgets credential state that can no longer matter: refresh tokens past their expiry,
//! reset codes past theirs (a used code is deleted when it is used), and failure counts whose
//! window has ended. Run by the janitor; every instance may run it, each statement is
//! idempotent.
//!
//! An expired refresh token is refused whether it is stored or not, so dropping it changes no
//! answer; its family's live tokens, if any, keep their own rows.

use std::time::Duration;

use sqlx::PgPool;

/// How many rows one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Expired reset codes.
    pub reset_codes: u64,
    /// Failure counts whose window (`window`) has ended.
    pub failure_counts: u64,
}

/// Deletes what has expired; `window` is the per-account failure window.
#[tracing::instrument(skip(pool), err)]
pub async fn sweep(pool: &PgPool, window: Duration) -> Result<Swept, sqlx::Error> {
    let refresh_tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= now()")
        .execute(pool)
        .await?
        .rows_affected();
    let reset_codes = sqlx::query("DELETE FROM password_resets WHERE expires_at <= now()")
        .execute(pool)
        .await?
        .rows_affected();
    let failure_counts = sqlx::query(
        "DELETE FROM credential_failures
         WHERE window_start + make_interval(secs => $1) <= now()",
    )
    .bind(window.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    let swept = Swept {
        refresh_tokens,
        reset_codes,
        failure_counts,
    };
    if swept != Swept::default() {
        tracing::info!(?swept, "expired credential state removed");
    }
    Ok(swept)
}
