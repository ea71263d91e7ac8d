//! Where the stream lives and how the relay and consumers talk to it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The shortest duplicate window the relay can rely on: a restarted relay republishes what it had
/// sent but not yet checkpointed, and JetStream must still remember those message ids.
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Configuration of the NATS side: the stream, its subjects and the relay's pace.
///
/// Every field has a default (see [`Config::default`]), so a partial configuration file or
/// environment section deserializes; durations are written in seconds (fractions allowed).
///
/// ```
/// let config: ticket_nats::Config = serde_json::from_str(r#"{"stream": "ACME_TICKETS"}"#).unwrap();
/// assert_eq!(config.stream, "ACME_TICKETS");
/// assert_eq!(config.subject_prefix, "tickets");
/// assert_eq!(config.duplicate_window.as_secs(), 120);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The JetStream stream holding the events (default `TICKETS`).
    pub stream: String,
    /// The first subject token(s) (default `tickets`): events go to
    /// `<prefix>.v1.<ticket_id>.<kind>` and the stream captures `<prefix>.>`.
    pub subject_prefix: String,
    /// How long JetStream remembers message ids to drop repeats (default and minimum two
    /// minutes). Used when the stream is created; an existing stream's window is only checked.
    #[serde(with = "seconds")]
    pub duplicate_window: Duration,
    /// Replicas of the stream when the engine has to create it (default 1, for development;
    /// create a replicated stream yourself in production, see `deploy/nats/README.md`).
    pub replicas: usize,
    /// Publishes the relay keeps in flight before it waits for the oldest acknowledgement, and
    /// the most events it reads from the store at once (default 4096).
    pub max_in_flight: usize,
    /// How long to wait for JetStream to acknowledge a publish (default 5 s).
    #[serde(with = "seconds")]
    pub ack_timeout: Duration,
    /// How often the relay looks for new events when no notification wakes it (default 1 s).
    #[serde(with = "seconds")]
    pub poll_interval: Duration,
    /// The longest pause between two attempts after a NATS error (default 5 s); the pause
    /// starts at 50 ms and doubles.
    #[serde(with = "seconds")]
    pub max_backoff: Duration,
}

impl Default for Config {
    /// `TICKETS` on `tickets.>`, a two-minute duplicate window, one replica, 4096 publishes in
    /// flight, 5 s to acknowledge, a 1 s poll and back-off capped at 5 s.
    fn default() -> Self {
        Self {
            stream: "TICKETS".into(),
            subject_prefix: "tickets".into(),
            duplicate_window: MIN_DUPLICATE_WINDOW,
            replicas: 1,
            max_in_flight: 4096,
            ack_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The default configuration with another stream name and subject prefix.
    pub fn named(stream: impl Into<String>, subject_prefix: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            subject_prefix: subject_prefix.into(),
            ..Self::default()
        }
    }

    /// Checks the names and numbers before anything is sent to a server.
    pub fn validate(&self) -> Result<(), Error> {
        let bad_name = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
        if self.stream.is_empty() || self.stream.contains(bad_name) {
            return Err(Error::Config(format!(
                "stream name {:?} must be non-empty without spaces, '.', '*', '>', '/' or '\\'",
                self.stream
            )));
        }
        let bad_token = |t: &str| {
            t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
        };
        if self.subject_prefix.split('.').any(bad_token) {
            return Err(Error::Config(format!(
                "subject prefix {:?} must be dot-separated tokens without spaces or wildcards",
                self.subject_prefix
            )));
        }
        if self.duplicate_window < MIN_DUPLICATE_WINDOW {
            return Err(Error::Config(format!(
                "duplicate window {:?} is shorter than two minutes",
                self.duplicate_window
            )));
        }
        if self.max_in_flight == 0 || self.replicas == 0 {
            return Err(Error::Config(
                "max_in_flight and replicas must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Durations as (fractional) seconds.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_valid_and_round_trips() {
        let config = Config::default();
        config.validate().unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), config);
    }

    #[test]
    fn bad_names_and_short_windows_are_refused() {
        for (config, case) in [
            (Config::named("A.B", "tickets"), "a dot in the stream name"),
            (Config::named("", "tickets"), "an empty stream name"),
            (Config::named("A", "tick ets"), "a space in the prefix"),
            (Config::named("A", "tickets.>"), "a wildcard in the prefix"),
            (Config::named("A", "acme..tickets"), "an empty token"),
            (
                Config {
                    duplicate_window: Duration::from_secs(60),
                    ..Config::default()
                },
                "a one-minute window",
            ),
        ] {
            assert!(config.validate().is_err(), "{case} was accepted");
        }
        Config::named("A", "acme.tickets").validate().unwrap();
    }

    #[test]
    fn durations_are_read_as_seconds() {
        let config: Config =
            serde_json::from_str(r#"{"duplicate_window": 300, "ack_timeout": 0.5}"#).unwrap();
        assert_eq!(config.duplicate_window, Duration::from_secs(300));
        assert_eq!(config.ack_timeout, Duration::from_millis(500));
        assert_eq!(config.max_in_flight, 4096);
    }
}
