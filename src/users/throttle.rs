//! Failed credentials per account (CONTRACT 11: `LOGIN_RATE_LIMIT`), counted in Postgres so
//! that every instance shares one budget. An attempt is counted *before* its credentials are
//! checked, and the count starts afresh when they are right, so that concurrent guesses cannot outrun the
//! budget. The window starts at the first failure and ends on its own: an attacker can hold
//! an account's password sign-in for at most one window, never lock it for good.
//!
//! Within the window, a [`Backoff`] spaces the guesses out: from the `from`-th counted failure
//! on, the account is held for a short, doubling time (`held_until`), refused without being
//! counted while it runs. Like the count, the hold is taken in the statement that counts the
//! attempt, so concurrent guesses cannot slip through it; a right answer clears both.

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
    /// Failed logins presenting one device cookie (the subject is the cookie's nonce): a
    /// device cookie that fails too often is trusted no more.
    Device,
}

impl Kind {
    fn as_str(&self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::ResetMail => "reset_mail",
            Kind::Refresh => "refresh",
            Kind::Device => "device",
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
    /// The hold between consecutive failures, if any.
    pub backoff: Option<Backoff>,
}

/// An exponential hold after consecutive failures: after the `from`-th failure the account is
/// held for `base`, after the next for twice that, and so on up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The failure (1-based, within the window) after which the first hold starts.
    pub from: u32,
    /// The first hold.
    pub base: Duration,
    /// The longest hold.
    pub cap: Duration,
}

impl Backoff {
    /// The hold after the `failures`-th failure (zero before [`Self::from`]).
    pub fn hold(&self, failures: u32) -> Duration {
        if failures < self.from {
            return Duration::ZERO;
        }
        let doublings = (failures - self.from).min(30);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }
}

/// Counts an attempt on `subject` (a normalized e-mail). `Err(seconds)`: the budget is spent,
/// or the account is held by the budget's [`Backoff`]: try again after that many seconds
/// (nothing is counted then).
pub async fn attempt(
    pool: &PgPool,
    kind: Kind,
    subject: &str,
    budget: Budget,
) -> Result<Result<(), u64>, sqlx::Error> {
    // The hold after the count `n` reached by this attempt (the same rule as `Backoff::hold`),
    // none past the budget: the window's end holds the account then.
    const NEW: &str = "CASE WHEN f.window_start + make_interval(secs => $3) <= now() THEN 1
                            ELSE least(f.failures + 1, $4 + 1) END";
    let hold = |n: &str| {
        format!(
            "CASE WHEN {n} >= $5 AND {n} <= $4
                  THEN now() + make_interval(secs => least($6 * power(2::float8, least({n} - $5, 30)), $7))
             END"
        )
    };
    let (from, base, cap) = match budget.backoff {
        Some(b) => (
            i32::try_from(b.from.max(1)).unwrap_or(i32::MAX),
            b.base.as_secs_f64(),
            b.cap.as_secs_f64(),
        ),
        None => (i32::MAX, 0.0, 0.0),
    };
    let counted: Option<(i32, f64)> = sqlx::query_as(&format!(
        "INSERT INTO credential_failures AS f (kind, subject, failures, window_start, held_until)
         VALUES ($1, $2, 1, now(), {first})
         ON CONFLICT (kind, subject) DO UPDATE SET
             failures = {NEW},
             window_start = CASE WHEN f.window_start + make_interval(secs => $3) <= now()
                                 THEN now() ELSE f.window_start END,
             held_until = {next}
         WHERE f.held_until IS NULL OR f.held_until <= now()
         RETURNING failures,
                   extract(epoch FROM window_start + make_interval(secs => $3) - now())::float8",
        first = hold("1"),
        next = hold(NEW),
    ))
    .bind(kind.as_str())
    .bind(subject)
    .bind(budget.window.as_secs_f64())
    .bind(i32::try_from(budget.failures).unwrap_or(i32::MAX - 1))
    .bind(from)
    .bind(base)
    .bind(cap)
    .fetch_optional(pool)
    .await?;
    let Some((failures, remaining)) = counted else {
        // Held: the row is left as it was. It may have gone since (a right answer), then the
        // shortest wait is the answer.
        let held: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM held_until - now())::float8 FROM credential_failures
             WHERE kind = $1 AND subject = $2",
        )
        .bind(kind.as_str())
        .bind(subject)
        .fetch_optional(pool)
        .await?
        .flatten();
        return Ok(Err(held.unwrap_or(1.0).ceil().max(1.0) as u64));
    };
    if i64::from(failures) > i64::from(budget.failures) {
        return Ok(Err(remaining.ceil().max(1.0) as u64));
    }
    Ok(Ok(()))
}

/// Restarts the hold of `subject` from now, once its attempt is known to have failed: the hold
/// taken when the attempt was counted kept concurrent guesses out while it was checked; the
/// owner's next try is spaced from the answer, however long the check took.
pub async fn failed(
    pool: &PgPool,
    kind: Kind,
    subject: &str,
    budget: Budget,
) -> Result<(), sqlx::Error> {
    let Some(backoff) = budget.backoff else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE credential_failures
         SET held_until = now() + make_interval(
                 secs => least($4 * power(2::float8, least(failures - $3, 30)), $5))
         WHERE kind = $1 AND subject = $2 AND failures >= $3 AND failures <= $6",
    )
    .bind(kind.as_str())
    .bind(subject)
    .bind(i32::try_from(backoff.from.max(1)).unwrap_or(i32::MAX))
    .bind(backoff.base.as_secs_f64())
    .bind(backoff.cap.as_secs_f64())
    .bind(i32::try_from(budget.failures).unwrap_or(i32::MAX - 1))
    .execute(pool)
    .await?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_doubles_from_its_first_failure_up_to_its_cap() {
        let backoff = Backoff {
            from: 3,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        };
        let holds: Vec<u64> = (1..=10).map(|n| backoff.hold(n).as_secs()).collect();
        assert_eq!(holds, [0, 0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff.hold(u32::MAX), Duration::from_secs(30));
    }
}
