//! SLA policy durations (CONTRACT 9): `<n>d`, `<n>h`, `<n>m`, combinable in that order
//! (`1h30m`), from one minute to 365 days.

use std::fmt;

/// The shortest target.
pub const MIN_SECS: i64 = 60;
/// The longest target.
pub const MAX_SECS: i64 = 365 * 86_400;

/// A checked target length, in whole minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlaDuration(i64);

impl SlaDuration {
    /// Parses `1d`, `4h`, `30m`, `1h30m`, `2d4h`: each unit at most once, days before hours
    /// before minutes, no spaces, within 1m..=365d.
    pub fn parse(text: &str) -> Result<Self, String> {
        const SHAPE: &str = "must be like 4h, 30m, 1h30m or 2d (units d, h, m in that order)";
        if text.is_empty() || text.len() > 32 {
            return Err(SHAPE.into());
        }
        let mut secs: i64 = 0;
        let mut digits = String::new();
        let mut last_unit = 0u8;
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let (rank, unit) = match c {
                'd' => (1, 86_400),
                'h' => (2, 3_600),
                'm' => (3, 60),
                _ => return Err(SHAPE.into()),
            };
            if digits.is_empty() || rank <= last_unit {
                return Err(SHAPE.into());
            }
            let n: i64 = digits.parse().map_err(|_| SHAPE.to_string())?;
            secs = n
                .checked_mul(unit)
                .and_then(|s| secs.checked_add(s))
                .ok_or_else(|| "must be at most 365d".to_string())?;
            digits.clear();
            last_unit = rank;
        }
        if !digits.is_empty() {
            return Err(SHAPE.into());
        }
        if secs < MIN_SECS {
            return Err("must be at least 1m".into());
        }
        if secs > MAX_SECS {
            return Err("must be at most 365d".into());
        }
        Ok(Self(secs))
    }

    /// The length in seconds.
    pub fn secs(self) -> i64 {
        self.0
    }
}

impl fmt::Display for SlaDuration {
    /// The shortest spelling: `1h30m`, `2d`, `45m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, h, m) = (
            self.0 / 86_400,
            self.0 % 86_400 / 3_600,
            self.0 % 3_600 / 60,
        );
        if d > 0 {
            write!(f, "{d}d")?;
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_contract_forms_are_read() {
        assert_eq!(SlaDuration::parse("4h").unwrap().secs(), 14_400);
        assert_eq!(SlaDuration::parse("30m").unwrap().secs(), 1_800);
        assert_eq!(SlaDuration::parse("1h30m").unwrap().secs(), 5_400);
        assert_eq!(SlaDuration::parse("365d").unwrap().secs(), MAX_SECS);
        assert_eq!(SlaDuration::parse("1m").unwrap().secs(), 60);
    }

    #[test]
    fn out_of_bounds_and_malformed_durations_are_refused() {
        for bad in [
            "0m",
            "10000d",
            "",
            "4",
            "h",
            "30m1h",
            "1h1h",
            "1 h",
            "-1h",
            "1.5h",
            "4H",
            "1s",
            "99999999999999999999d",
        ] {
            assert!(SlaDuration::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    proptest! {
        #[test]
        fn every_duration_in_bounds_round_trips(minutes in 1i64..=365 * 1440) {
            let d = SlaDuration(minutes * 60);
            prop_assert_eq!(SlaDuration::parse(&d.to_string()), Ok(d));
        }
    }
}
