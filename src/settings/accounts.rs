//! Accounts and sessions (CONTRACT 11): refresh-token lifetime and credential rate limits.

use std::time::Duration;

/// `REFRESH_TTL` and `LOGIN_RATE_LIMIT`.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// `REFRESH_TTL`: how long a refresh token lives (default 14 days).
    pub refresh_ttl: Duration,
    /// Failed logins (and reset-code guesses) per account in [`Self::account_window`]
    /// (`LOGIN_RATE_LIMIT`'s first number, default 10).
    pub account_failures: u32,
    /// The window the account's failures are counted in (15 minutes).
    pub account_window: Duration,
    /// Login, reset and refresh attempts per address per minute (`LOGIN_RATE_LIMIT`'s second
    /// number, default 100).
    pub address_per_minute: u32,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            refresh_ttl: Duration::from_secs(14 * 24 * 3600),
            account_failures: 10,
            account_window: Duration::from_secs(15 * 60),
            address_per_minute: 100,
        }
    }
}

impl AccountSettings {
    /// Reads the variables through `var`; an unusable value is named with the reason.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, (&'static str, String)> {
        let mut settings = Self::default();
        if let Some(ttl) = var("REFRESH_TTL") {
            settings.refresh_ttl = parse_duration(&ttl).ok_or((
                "REFRESH_TTL",
                format!("'{ttl}' is not a duration (seconds, or a number with s, m, h or d)"),
            ))?;
        }
        if let Some(limit) = var("LOGIN_RATE_LIMIT") {
            let (account, address) = parse_limit(&limit).ok_or((
                "LOGIN_RATE_LIMIT",
                format!(
                    "'{limit}' is not `<failures per account per 15 min>[,<attempts per address per minute>]`"
                ),
            ))?;
            settings.account_failures = account;
            if let Some(address) = address {
                settings.address_per_minute = address;
            }
        }
        Ok(settings)
    }
}

/// `1209600`, `90s`, `30m`, `12h`, `14d`; zero is refused.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let scale = match unit.to_ascii_lowercase() {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let secs = number.trim().parse::<u64>().ok()?.checked_mul(scale)?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// `10` or `10,100`: positive numbers.
fn parse_limit(text: &str) -> Option<(u32, Option<u32>)> {
    let positive = |s: &str| s.trim().parse::<u32>().ok().filter(|n| *n > 0);
    match text.split_once(',') {
        Some((account, address)) => Some((positive(account)?, Some(positive(address)?))),
        None => Some((positive(text)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(
            parse_duration("14d"),
            Some(Duration::from_secs(14 * 86_400))
        );
        for bad in ["", "0", "d", "-1", "5w", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_login_limit_names_the_account_budget_and_optionally_the_address_one() {
        assert_eq!(parse_limit("10"), Some((10, None)));
        assert_eq!(parse_limit("3, 20"), Some((3, Some(20))));
        for bad in ["", "0", "x", "3,", "3,0"] {
            assert_eq!(parse_limit(bad), None, "{bad:?}");
        }
        let s =
            AccountSettings::from_vars(|n| (n == "LOGIN_RATE_LIMIT").then(|| "5".into())).unwrap();
        assert_eq!((s.account_failures, s.address_per_minute), (5, 100));
        assert!(
            AccountSettings::from_vars(|n| (n == "REFRESH_TTL").then(|| "soon".into())).is_err()
        );
    }
}
