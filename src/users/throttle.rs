//! Failed credentials per account (CONTRACT 11: `LOGIN_RATE_LIMIT`), counted in Postgres so
//! that every instance shares one budget. An attempt is counted *before* its credentials are
//! checked, and the count starts afresh when they are right, so that concurrent guesses cannot outrun the
//! budget. The window starts at the first failure and ends on its own: an attacker can hold
//! an account's password sign-in for at most one window, never lock it for good.

use std::time::Duration;

use sqlx::PgPool;

/// What is being guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Passwords at `POST /auth/login`.
    Login,
    /// Reset mails asked for at `POST /auth/password-reset` (a budget, not failures).
    ResetMail,
    /// Refreshes of an account's tokens at `POST /auth/refresh` (a budget, not failures).
    Refresh,
}

impl Kind {
    fn as_str(&self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::ResetMail => "reset_mail",
            Kind::Refresh => "refresh",
        }
    }
}

/// An account's budget: `failures` in `window`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Attempts that may fail in one window.
    pub failures: u32,
    /// The window.
    pub window: Duration,
}

/// Counts an attempt on `subject` (a normalized e-mail). `Err(seconds)`: the budget is spent,
/// try again after that many seconds (nothing is counted then).
pub async fn attempt(
    pool: &PgPool,
    kind: Kind,
    subject: &str,
    budget: Budget,
) -> Result<Result<(), u64>, sqlx::Error> {
    let (failures, remaining): (i32, f64) = sqlx::query_as(
        "INSERT INTO credential_failures AS f (kind, subject, failures, window_start)
         VALUES ($1, $2, 1, now())
         ON CONFLICT (kind, subject) DO UPDATE SET
             failures = CASE WHEN f.window_start + make_interval(secs => $3) <= now() THEN 1
                             ELSE least(f.failures + 1, $4 + 1) END,
             window_start = CASE WHEN f.window_start + make_interval(secs => $3) <= now()
                                 THEN now() ELSE f.window_start END
         RETURNING failures,
                   extract(epoch FROM window_start + make_interval(secs => $3) - now())::float8",
    )
    .bind(kind.as_str())
    .bind(subject)
    .bind(budget.window.as_secs_f64())
    .bind(i32::try_from(budget.failures).unwrap_or(i32::MAX - 1))
    .fetch_one(pool)
    .await?;
    if i64::from(failures) > i64::from(budget.failures) {
        return Ok(Err(remaining.ceil().max(1.0) as u64));
    }
    Ok(Ok(()))
}

/// Starts the account's count afresh (its credentials were right, or its password was reset).
pub async fn clear(pool: &PgPool, kind: Kind, subject: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM credential_failures WHERE kind = $1 AND subject = $2")
        .bind(kind.as_str())
        .bind(subject)
        .execute(pool)
        .await?;
    Ok(())
}
