//! Accounts and sessions (CONTRACT 11): refresh-token lifetime and credential rate limits.

use std::time::Duration;

/// `REFRESH_TTL`, `LOGIN_RATE_LIMIT` and `LOGIN_DELAY`.
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
    /// `LOGIN_DELAY`'s first number: the consecutive login failure of an account after which it
    /// is held for [`Self::login_delay_base`], doubling with each further failure (`None`, the
    /// default and `LOGIN_DELAY=off`: no hold but the budget's, whose first failures the
    /// contract answers 401).
    pub login_delay_from: Option<u32>,
    /// The first hold (1 s).
    pub login_delay_base: Duration,
    /// The longest hold (`LOGIN_DELAY`'s second number, in seconds; default 30).
    pub login_delay_cap: Duration,
    /// How long a device cookie is trusted after the login that set it (180 days).
    pub device_ttl: Duration,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            refresh_ttl: Duration::from_secs(14 * 24 * 3600),
            account_failures: 10,
            account_window: Duration::from_secs(15 * 60),
            address_per_minute: 100,
            login_delay_from: None,
            login_delay_base: Duration::from_secs(1),
            login_delay_cap: Duration::from_secs(30),
            device_ttl: Duration::from_secs(180 * 24 * 3600),
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
        if let Some(delay) = var("LOGIN_DELAY") {
            if delay.trim().eq_ignore_ascii_case("off") {
                settings.login_delay_from = None;
            } else {
                let (from, cap) = parse_limit(&delay).ok_or((
                    "LOGIN_DELAY",
                    format!("'{delay}' is not `off` or `<failures before the first hold>[,<longest hold in seconds>]`"),
                ))?;
                settings.login_delay_from = Some(from);
                if let Some(cap) = cap {
                    settings.login_delay_cap = Duration::from_secs(u64::from(cap));
                }
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

    #[test]
    fn the_login_delay_names_its_first_failure_and_cap_or_is_off() {
        let with = |value: &'static str| {
            AccountSettings::from_vars(move |n| (n == "LOGIN_DELAY").then(|| value.into()))
        };
        let s = AccountSettings::default();
        assert_eq!(
            (s.login_delay_from, s.login_delay_cap),
            (None, Duration::from_secs(30))
        );
        let s = with("5,60").unwrap();
        assert_eq!(
            (s.login_delay_from, s.login_delay_cap),
            (Some(5), Duration::from_secs(60))
        );
        assert_eq!(with("OFF").unwrap().login_delay_from, None);
        for bad in ["", "0", "soon", "3,0"] {
            assert!(with(bad).is_err(), "{bad:?}");
        }
    }
}
