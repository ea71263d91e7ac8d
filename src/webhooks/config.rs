//! Webhook settings: allow-lists, the retry schedule, timeouts.

use std::time::Duration;

/// How webhooks are delivered (CONTRACT 8). The defaults are the contract's; tests shorten the
/// schedule and the disable period.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Hosts (as written in the URL) that may be reached over plain `http`.
    pub allow_http_hosts: Vec<String>,
    /// Hosts (as written in the URL) that may resolve to internal addresses.
    pub allow_private_hosts: Vec<String>,
    /// The pause before each retry: the first retry waits `retry_schedule[0]` (plus jitter), and
    /// a delivery that failed `1 + retry_schedule.len()` times is `failed`.
    pub retry_schedule: Vec<Duration>,
    /// How long a receiver has to answer (connection, request and the start of the body).
    pub timeout: Duration,
    /// An endpoint failing without a single success for this long is disabled.
    pub disable_after: Duration,
    /// Requests in flight at once per endpoint.
    pub concurrency: usize,
}

/// The Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): about 27.6 h of
/// retries in all, so a delivery keeps being retried past the 24 h after which its endpoint is
/// disabled.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_http_hosts: Vec::new(),
            allow_private_hosts: Vec::new(),
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap_or_default(),
            timeout: Duration::from_secs(10),
            disable_after: Duration::from_secs(24 * 3600),
            concurrency: 4,
        }
    }
}

impl WebhookSettings {
    /// Whether `host` (as written in a URL) is in `list`. IPv6 literals match with or without
    /// their brackets; names match whatever their case.
    pub fn listed(list: &[String], host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        list.iter().any(|entry| {
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            entry.eq_ignore_ascii_case(bare)
        })
    }
}

/// Parses durations such as `5s,5m,30m,2h` (units `ms`, `s`, `m`, `h`); at least one.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let schedule: Vec<Duration> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(parse_duration)
        .collect::<Result<_, _>>()?;
    if schedule.is_empty() {
        return Err("no duration given".into());
    }
    Ok(schedule)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{text}' has no unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' does not start with a number"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("'{text}': the unit must be ms, s, m or h")),
    };
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_retries_quickly_first_and_for_more_than_a_day() {
        let schedule = WebhookSettings::default().retry_schedule;
        assert!(schedule[0] <= Duration::from_secs(10));
        assert!(schedule.windows(2).all(|w| w[0] <= w[1]));
        let total: Duration = schedule.iter().sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
    }

    #[test]
    fn schedules_parse_with_units_and_refuse_the_rest() {
        assert_eq!(
            parse_schedule("100ms, 2s,1m,1h").unwrap(),
            vec![
                Duration::from_millis(100),
                Duration::from_secs(2),
                Duration::from_secs(60),
                Duration::from_secs(3600)
            ]
        );
        for bad in ["", "5", "5d", "s", "-1s", "1.5s"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_lists_match_the_host_as_written() {
        let list = vec![
            "127.0.0.1".to_string(),
            "[::1]".into(),
            "Hooks.Local".into(),
        ];
        assert!(WebhookSettings::listed(&list, "127.0.0.1"));
        assert!(WebhookSettings::listed(&list, "[::1]"));
        assert!(WebhookSettings::listed(&list, "hooks.local"));
        assert!(!WebhookSettings::listed(&list, "localhost"));
        assert!(!WebhookSettings::listed(&list, "127.0.0.2"));
    }
}
