//! Times on the wire: RFC 3339 UTC with exactly three fractional digits.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant truncated to the millisecond, written as `2026-11-23T10:15:30.123Z`.
///
/// Truncating on construction makes a value survive a round trip through JSON unchanged, which
/// the hash chain depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current instant.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// The instant as a chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// This instant moved by `delta`.
    pub fn plus(&self, delta: TimeDelta) -> Self {
        Self::from(self.0 + delta)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        // Truncation to a whole millisecond cannot overflow for any representable instant.
        Self(
            value
                .duration_trunc(TimeDelta::milliseconds(1))
                .unwrap_or(value),
        )
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(value: Timestamp) -> Self {
        value.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl FromStr for Timestamp {
    type Err = chrono::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(
            DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc),
        ))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_three_fractional_digits_in_utc() {
        let t: Timestamp = "2026-11-23T11:15:30.123456+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-23T10:15:30.123Z");
        let whole: Timestamp = "2026-11-23T10:15:30Z".parse().unwrap();
        assert_eq!(whole.to_string(), "2026-11-23T10:15:30.000Z");
    }

    #[test]
    fn a_timestamp_survives_a_json_round_trip() {
        let t = Timestamp::now();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}
