//! A window `[from, to)` as whole months, whole days and the parts of a day at either end, so
//! that statistics read a few hundred summed rows and at most two days of tickets.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};

use crate::read_models::tickets::tally::{month_of, week_end, week_of};

/// Tickets created in `[$1, $2)`; either bound may be NULL (open-ended).
pub(super) const WINDOW: &str = "($1::timestamptz IS NULL OR v.created_at >= $1)
     AND ($2::timestamptz IS NULL OR v.created_at < $2)";

/// Where a window's statistics come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// Months `[from, to)` summed from the monthly rows (`None`: unbounded on that side), if any.
    pub(super) months: Option<(Option<NaiveDate>, Option<NaiveDate>)>,
    /// Days `[from, to)` summed from the daily rows.
    pub(super) days: Vec<(NaiveDate, NaiveDate)>,
    /// Instants `[from, to)` within one day, whose tickets are read and tallied one by one.
    pub(super) partial: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

/// Splits `[from, to)` (either side unbounded when `None`).
pub(super) fn plan(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Plan {
    let mut partial = Vec::new();
    // The first whole day, after the end of `from`'s day when `from` is not a midnight.
    let mut covered_to = from;
    let first_day = from.map(|f| {
        let day = f.date_naive();
        if midnight(day) == f {
            return day;
        }
        let next = next_day(day);
        let end = to.map_or(midnight(next), |t| t.min(midnight(next)));
        if f < end {
            partial.push((f, end));
        }
        covered_to = Some(end);
        next
    });
    // The day after the last whole day: `to`'s day, whose part before `to` is read apart.
    let end_day = to.map(|t| {
        let day = t.date_naive();
        let start = covered_to.map_or(midnight(day), |c| c.max(midnight(day)));
        if start < t {
            partial.push((start, t));
        }
        day
    });
    if let (Some(a), Some(b)) = (first_day, end_day) {
        if a >= b {
            return Plan {
                months: None,
                days: Vec::new(),
                partial,
            };
        }
    }
    let first_month = first_day.map(|d| {
        if d.day() == 1 {
            d
        } else {
            month_of(d) + Months::new(1)
        }
    });
    let end_month = end_day.map(month_of);
    let whole_months = match (first_month, end_month) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    let mut days = Vec::new();
    if !whole_months {
        if let (Some(a), Some(b)) = (first_day, end_day) {
            days.push((a, b));
        }
        return Plan {
            months: None,
            days,
            partial,
        };
    }
    if let (Some(a), Some(m)) = (first_day, first_month) {
        if a < m {
            days.push((a, m));
        }
    }
    if let (Some(m), Some(b)) = (end_month, end_day) {
        if m < b {
            days.push((m, b));
        }
    }
    Plan {
        months: Some((first_month, end_month)),
        days,
        partial,
    }
}

/// Days `[from, to)` as the whole weeks within them ([`week_of`]'s pieces, by first day) and
/// the days left over, so that a run of days reads one row set per week.
pub(super) fn weeks_within(
    days: &[(NaiveDate, NaiveDate)],
) -> (Vec<NaiveDate>, Vec<(NaiveDate, NaiveDate)>) {
    let (mut weeks, mut rest) = (Vec::new(), Vec::new());
    for &(from, to) in days {
        let mut at = from;
        while at < to {
            let end = week_end(week_of(at));
            if week_of(at) == at && end <= to {
                weeks.push(at);
            } else {
                match rest.last_mut() {
                    Some((_, last)) if *last == at => *last = end.min(to),
                    _ => rest.push((at, end.min(to))),
                }
            }
            at = end.min(to);
        }
    }
    (weeks, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn days_are_read_as_whole_weeks_and_the_days_around_them() {
        // 2026-11-06 is a Friday; Mondays: 11-09, 11-16, 11-23, 11-30.
        let (weeks, days) = weeks_within(&[(d("2026-11-06"), d("2026-12-01"))]);
        assert_eq!(
            weeks,
            vec![
                d("2026-11-09"),
                d("2026-11-16"),
                d("2026-11-23"),
                d("2026-11-30")
            ]
        );
        assert_eq!(days, vec![(d("2026-11-06"), d("2026-11-09"))]);
        let (weeks, days) = weeks_within(&[(d("2026-12-01"), d("2026-12-10"))]);
        assert_eq!(weeks, vec![d("2026-12-01")]);
        assert_eq!(days, vec![(d("2026-12-07"), d("2026-12-10"))]);
        let (weeks, days) = weeks_within(&[(d("2026-12-02"), d("2026-12-04"))]);
        assert!(weeks.is_empty());
        assert_eq!(days, vec![(d("2026-12-02"), d("2026-12-04"))]);
    }

    #[test]
    fn all_time_is_every_month() {
        assert_eq!(
            plan(None, None),
            Plan {
                months: Some((None, None)),
                days: vec![],
                partial: vec![]
            }
        );
    }

    #[test]
    fn thirty_days_from_an_instant_read_one_partial_day_then_days_then_months() {
        let from = t("2026-11-05T13:20:00Z");
        assert_eq!(
            plan(Some(from), None),
            Plan {
                months: Some((Some(d("2026-12-01")), None)),
                days: vec![(d("2026-11-06"), d("2026-12-01"))],
                partial: vec![(from, t("2026-11-06T00:00:00Z"))],
            }
        );
    }

    #[test]
    fn a_window_within_one_day_is_read_once() {
        let (from, to) = (t("2026-11-05T13:20:00Z"), t("2026-11-05T14:00:00Z"));
        assert_eq!(
            plan(Some(from), Some(to)),
            Plan {
                months: None,
                days: vec![],
                partial: vec![(from, to)]
            }
        );
        let from = t("2026-11-05T00:00:00Z");
        assert_eq!(plan(Some(from), Some(to)).partial, vec![(from, to)]);
        assert_eq!(plan(Some(to), Some(to)).partial, vec![]);
    }

    #[test]
    fn bounded_windows_split_at_months_and_days() {
        let (from, to) = (t("2026-01-31T12:00:00Z"), t("2026-04-02T06:00:00Z"));
        assert_eq!(
            plan(Some(from), Some(to)),
            Plan {
                months: Some((Some(d("2026-02-01")), Some(d("2026-04-01")))),
                days: vec![(d("2026-04-01"), d("2026-04-02"))],
                partial: vec![
                    (from, t("2026-02-01T00:00:00Z")),
                    (t("2026-04-02T00:00:00Z"), to)
                ],
            }
        );
        let (from, to) = (t("2026-03-03T00:00:00Z"), t("2026-03-20T00:00:00Z"));
        assert_eq!(
            plan(Some(from), Some(to)),
            Plan {
                months: None,
                days: vec![(d("2026-03-03"), d("2026-03-20"))],
                partial: vec![]
            }
        );
    }
}
