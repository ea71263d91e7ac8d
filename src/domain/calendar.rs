//! Business-hours calendars (CONTRACT 9): an IANA zone, local opening intervals per weekday, and
//! holidays as dates in that zone. Built only through `Calendar::new`, so every value the clock
//! sees is valid.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

/// Most holidays one calendar may list: decades of public holidays, far from what would make a
/// calendar slow to load or store.
pub const MAX_HOLIDAYS: usize = 1000;
/// Most intervals a weekday may have.
pub const MAX_INTERVALS_PER_DAY: usize = 24;
/// The weekday keys, Monday first (jiff's `to_monday_zero_offset` order).
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const DAY_MINUTES: u16 = 24 * 60;

/// One invalid part of a calendar: the member it is in (`hours.mon[0]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFault {
    /// The member, in the request body's terms.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn fault(field: impl Into<String>, message: impl Into<String>) -> CalendarFault {
    CalendarFault {
        field: field.into(),
        message: message.into(),
    }
}

/// A valid calendar; `Calendar::always()` is the 24×7 clock.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub(super) always: bool,
    pub(super) zone: TimeZone,
    /// Monday first: `[start, end)` in minutes after local midnight, sorted, disjoint.
    pub(super) week: [Vec<(u16, u16)>; 7],
    pub(super) holidays: BTreeSet<Date>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self::always()
    }
}

impl Calendar {
    /// The 24×7 clock: every instant is business time (the default of CONTRACT 9).
    pub fn always() -> Self {
        Self {
            always: true,
            zone: TimeZone::UTC,
            week: Default::default(),
            holidays: BTreeSet::new(),
        }
    }

    /// Whether this is the 24×7 clock.
    pub fn is_always(&self) -> bool {
        self.always
    }

    /// Validates a calendar as a request names it: `time_zone` (IANA), `hours` keyed by
    /// `mon`..`sun` with local `HH:MM` pairs (a missing weekday is closed), `holidays` as
    /// `YYYY-MM-DD`. Every fault is reported, each naming its member.
    pub fn new(
        time_zone: &str,
        hours: &BTreeMap<String, Vec<[String; 2]>>,
        holidays: &[String],
    ) -> Result<Self, Vec<CalendarFault>> {
        let mut faults = Vec::new();
        let zone = match TimeZone::get(time_zone) {
            Ok(zone) if !time_zone.is_empty() => Some(zone),
            _ => {
                faults.push(fault("time_zone", "must be an IANA time zone name"));
                None
            }
        };
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (day, intervals) in hours {
            let Some(index) = WEEKDAYS.iter().position(|d| d == day) else {
                faults.push(fault(
                    format!("hours.{day}"),
                    "must be one of mon, tue, wed, thu, fri, sat, sun",
                ));
                continue;
            };
            if intervals.len() > MAX_INTERVALS_PER_DAY {
                faults.push(fault(
                    format!("hours.{day}"),
                    format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
                continue;
            }
            week[index] = day_intervals(day, intervals, &mut faults);
        }
        if zone.is_some() && faults.is_empty() && week.iter().all(Vec::is_empty) {
            faults.push(fault("hours", "must open on at least one weekday"));
        }
        if holidays.len() > MAX_HOLIDAYS {
            faults.push(fault(
                "holidays",
                format!("at most {MAX_HOLIDAYS} holidays"),
            ));
        }
        let mut dates = BTreeSet::new();
        for (i, text) in holidays.iter().enumerate().take(MAX_HOLIDAYS) {
            match parse_date(text) {
                Some(date) => {
                    dates.insert(date);
                }
                None => faults.push(fault(format!("holidays[{i}]"), "must be a date YYYY-MM-DD")),
            }
        }
        match zone {
            Some(zone) if faults.is_empty() => Ok(Self {
                always: false,
                zone,
                week,
                holidays: dates,
            }),
            _ => Err(faults),
        }
    }

    /// The instant (milliseconds since the epoch) at which local `minute` of `date` begins; a
    /// local time skipped by a daylight-saving change maps to the instant after the gap, a
    /// repeated one to its first occurrence.
    pub(super) fn instant_ms(&self, date: Date, minute: u16) -> Option<i64> {
        let local = if minute >= DAY_MINUTES {
            DateTime::from(date.tomorrow().ok()?)
        } else {
            let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
            date.to_datetime(time)
        };
        let ts = self.zone.to_ambiguous_timestamp(local).compatible().ok()?;
        Some(ts.as_millisecond())
    }

    /// The local date of an instant.
    pub(super) fn local_date(&self, ms: i64) -> Option<Date> {
        let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
        Some(self.zone.to_datetime(ts).date())
    }
}

fn parse_date(text: &str) -> Option<Date> {
    // Only the plain form: jiff also reads forms the contract does not name.
    if text.len() != 10 {
        return None;
    }
    text.parse::<Date>().ok()
}

/// Parses `HH:MM` into minutes after midnight; `24:00` only where `end` allows it.
fn parse_minute(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if end => Some(DAY_MINUTES),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn day_intervals(
    day: &str,
    intervals: &[[String; 2]],
    faults: &mut Vec<CalendarFault>,
) -> Vec<(u16, u16)> {
    let mut parsed = Vec::with_capacity(intervals.len());
    for (i, [start, end]) in intervals.iter().enumerate() {
        let field = format!("hours.{day}[{i}]");
        match (parse_minute(start, false), parse_minute(end, true)) {
            (Some(s), Some(e)) if s < e => parsed.push((s, e, i)),
            (Some(_), Some(_)) => faults.push(fault(field, "start must be before end")),
            (None, _) => faults.push(fault(field, "start must be HH:MM from 00:00 to 23:59")),
            (_, None) => faults.push(fault(field, "end must be HH:MM from 00:01 to 24:00")),
        }
    }
    parsed.sort_unstable();
    for pair in parsed.windows(2) {
        if pair[1].0 < pair[0].1 {
            faults.push(fault(
                format!("hours.{day}[{}]", pair[1].2.max(pair[0].2)),
                "overlaps another interval of the day",
            ));
        }
    }
    parsed.into_iter().map(|(s, e, _)| (s, e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(pairs: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, Vec<[String; 2]>> {
        pairs
            .iter()
            .map(|(d, iv)| {
                (
                    d.to_string(),
                    iv.iter()
                        .map(|(s, e)| [s.to_string(), e.to_string()])
                        .collect(),
                )
            })
            .collect()
    }

    fn fields(r: Result<Calendar, Vec<CalendarFault>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.field)
            .collect()
    }

    #[test]
    fn a_valid_calendar_with_several_intervals_and_24_00_is_accepted() {
        let h = hours(&[
            ("mon", &[("13:00", "18:00"), ("08:00", "12:00")]),
            ("sat", &[("20:00", "24:00")]),
        ]);
        let cal = Calendar::new("Europe/Berlin", &h, &["2026-12-25".into()]).unwrap();
        assert_eq!(cal.week[0], vec![(480, 720), (780, 1080)]);
        assert_eq!(cal.week[5], vec![(1200, 1440)]);
        assert_eq!(cal.holidays.len(), 1);
    }

    #[test]
    fn every_fault_names_its_member() {
        let h = hours(&[
            ("mon", &[("08:00", "12:00"), ("11:00", "13:00")]),
            ("tue", &[("18:00", "08:00")]),
            ("wed", &[("24:00", "24:00")]),
            ("thu", &[("8:00", "9:00")]),
            ("funday", &[("08:00", "09:00")]),
        ]);
        let f = fields(Calendar::new("Mars/Olympus", &h, &["2026-13-01".into()]));
        assert_eq!(
            f,
            [
                "time_zone",
                "hours.funday",
                "hours.mon[1]",
                "hours.thu[0]",
                "hours.tue[0]",
                "hours.wed[0]",
                "holidays[0]"
            ]
        );
    }

    #[test]
    fn ten_thousand_holidays_or_no_open_day_are_refused() {
        let h = hours(&[("mon", &[("08:00", "18:00")])]);
        let many: Vec<String> = (0..10_000).map(|_| "2026-12-25".to_string()).collect();
        assert_eq!(fields(Calendar::new("UTC", &h, &many)), ["holidays"]);
        assert_eq!(
            fields(Calendar::new("UTC", &BTreeMap::new(), &[])),
            ["hours"]
        );
    }
}
