//! A window `[from, to)` as whole months, whole days and the parts of a day at either end, so
//! that statistics read a few hundred summed rows and at most a day of tickets.
//!
//! A part of a day is read ticket by ticket, or, when the rest of its day is shorter, the day
//! is summed whole and the rest's tickets are taken out: every figure kept is a sum, so a
//! window starting at 02:00 reads two hours of tickets, not twenty-two, and no end reads
//! more than half a day.

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
    /// Instants `[from, to)` within one of `days` but outside the window, whose tickets are
    /// read and taken out of it.
    pub(super) less: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

/// Splits `[from, to)` (either side unbounded when `None`).
pub(super) fn plan(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Plan {
    let (mut partial, mut less) = (Vec::new(), Vec::new());
    // The first day summed: `from`'s, whole or less its part before `from`, or the next.
    let mut covered_to = from;
    let first_day = from.map(|f| {
        let day = f.date_naive();
        if midnight(day) == f {
            return day;
        }
        let next = next_day(day);
        let end = to.map_or(midnight(next), |t| t.min(midnight(next)));
        covered_to = Some(end);
        if end == midnight(next) && f - midnight(day) < end - f {
            less.push((midnight(day), f));
            return day;
        }
        if f < end {
            partial.push((f, end));
        }
        next
    });
    // The day after the last day summed: `to`'s, whose part before `to` is read apart, or the
    // next, less `to`'s day's part from `to` on.
    let end_day = to.map(|t| {
        let day = t.date_naive();
        let start = covered_to.map_or(midnight(day), |c| c.max(midnight(day)));
        let next = next_day(day);
        if next > day && start == midnight(day) && midnight(next) - t < t - start {
            less.push((t, midnight(next)));
            return next;
        }
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
                less,
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
            less,
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
        less,
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
                partial: vec![],
                less: vec![]
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
                less: vec![],
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
                partial: vec![(from, to)],
                less: vec![]
            }
        );
        let from = t("2026-11-05T10:00:00Z");
        assert_eq!(plan(Some(from), Some(to)).partial, vec![(from, to)]);
        assert_eq!(plan(Some(to), Some(to)).partial, vec![]);
        // From midnight to 14:00: the day less its last ten hours.
        let from = t("2026-11-05T00:00:00Z");
        let day = plan(Some(from), Some(to));
        assert_eq!(day.days, vec![(d("2026-11-05"), d("2026-11-06"))]);
        assert_eq!(day.less, vec![(to, t("2026-11-06T00:00:00Z"))]);
    }

    #[test]
    fn a_part_of_a_day_longer_than_the_rest_is_read_as_the_day_less_the_rest() {
        let from = t("2026-11-05T02:00:00Z");
        assert_eq!(
            plan(Some(from), None),
            Plan {
                months: Some((Some(d("2026-12-01")), None)),
                days: vec![(d("2026-11-05"), d("2026-12-01"))],
                partial: vec![],
                less: vec![(t("2026-11-05T00:00:00Z"), from)],
            }
        );
        let to = t("2026-11-20T21:00:00Z");
        assert_eq!(
            plan(Some(from), Some(to)),
            Plan {
                months: None,
                days: vec![(d("2026-11-05"), d("2026-11-21"))],
                partial: vec![],
                less: vec![
                    (t("2026-11-05T00:00:00Z"), from),
                    (to, t("2026-11-21T00:00:00Z"))
                ],
            }
        );
        // Within one day, the window is read as it is.
        let to = t("2026-11-05T23:00:00Z");
        assert_eq!(plan(Some(from), Some(to)).partial, vec![(from, to)]);
        assert_eq!(plan(Some(from), Some(to)).less, vec![]);
    }

    /// How many times `plan` counts a ticket created at `at`: once inside the window, never
    /// outside it.
    fn times_counted(plan: &Plan, at: DateTime<Utc>) -> i32 {
        let day = at.date_naive();
        let within = |(from, to): &(DateTime<Utc>, DateTime<Utc>)| *from <= at && at < *to;
        let months = plan
            .months
            .is_some_and(|(from, to)| from.is_none_or(|f| f <= day) && to.is_none_or(|t| day < t));
        let days = plan
            .days
            .iter()
            .filter(|(a, b)| *a <= day && day < *b)
            .count();
        i32::from(months) + days as i32 + plan.partial.iter().filter(|w| within(w)).count() as i32
            - plan.less.iter().filter(|w| within(w)).count() as i32
    }

    proptest::proptest! {
        #[test]
        fn every_instant_of_the_window_is_counted_once_and_none_outside(
            from in proptest::option::of(0i64..100_000_000),
            length in 0i64..20_000_000,
            bounded in proptest::bool::ANY,
            offsets in proptest::collection::vec(-200_000i64..20_200_000, 1..40),
        ) {
            let base = t("2024-01-01T00:00:00Z");
            let at = |s: i64| base + chrono::Duration::seconds(s);
            let (from_s, to_s) = (from.unwrap_or(0), from.unwrap_or(0) + length);
            let (from, to) = (from.map(at), bounded.then(|| at(to_s)));
            let plan = plan(from, to);
            let mut instants: Vec<DateTime<Utc>> = offsets.iter().map(|o| at(from_s + o)).collect();
            for edge in [Some(at(from_s)), to].into_iter().flatten() {
                let midnight = midnight(edge.date_naive());
                for i in [edge, midnight, midnight + chrono::Duration::days(1)] {
                    instants.extend([i - chrono::Duration::microseconds(1), i]);
                }
            }
            for i in instants {
                let inside = from.is_none_or(|f| f <= i) && to.is_none_or(|t| i < t);
                proptest::prop_assert_eq!(times_counted(&plan, i), i32::from(inside), "{:?} at {}", plan, i);
            }
        }
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
                less: vec![],
            }
        );
        let (from, to) = (t("2026-03-03T00:00:00Z"), t("2026-03-20T00:00:00Z"));
        assert_eq!(
            plan(Some(from), Some(to)),
            Plan {
                months: None,
                days: vec![(d("2026-03-03"), d("2026-03-20"))],
                partial: vec![],
                less: vec![]
            }
        );
    }
}
