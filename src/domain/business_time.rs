//! The business-time clock (CONTRACT 9): the one pure function that turns a start instant, a
//! target, a calendar and the ticket's pauses into a due instant, and back into elapsed business
//! time. The aggregate, the projections and the statistics all call it, so they cannot disagree.
//!
//! Instants are milliseconds since the Unix epoch; pauses are `[start, end)` in the same unit,
//! sorted and disjoint (an open pause ends at `i64::MAX`).

use super::calendar::Calendar;

/// How far ahead the clock looks for business time before it gives up: a calendar open a few
/// minutes a week could otherwise push a 365-day target past the year 9999.
pub const HORIZON_DAYS: i64 = 366 * 30;

const DAY_MS: i64 = 86_400_000;
const DAY_MINUTES: u16 = 24 * 60;

/// A time the SLA clock stood still: `[start_ms, end_ms)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Pause {
    /// When the ticket went pending.
    pub start_ms: i64,
    /// When it resumed (`i64::MAX` while still pending).
    pub end_ms: i64,
}

/// The instant at which `target_ms` of business time has passed since `start_ms`, or `None`
/// when that lies beyond `HORIZON_DAYS` (or the clock stands still for good).
pub fn due_ms(start_ms: i64, target_ms: i64, calendar: &Calendar, pauses: &[Pause]) -> Option<i64> {
    if target_ms <= 0 {
        return Some(start_ms);
    }
    let mut left = target_ms;
    let mut due = None;
    walk(start_ms, calendar, pauses, |from, to| {
        if to - from >= left {
            due = Some(from + left);
            return false;
        }
        left -= to - from;
        true
    });
    due
}

/// The business time (milliseconds) between `start_ms` and `end_ms`, pauses excluded.
pub fn elapsed_ms(start_ms: i64, end_ms: i64, calendar: &Calendar, pauses: &[Pause]) -> i64 {
    let mut sum = 0;
    if end_ms <= start_ms {
        return 0;
    }
    walk(start_ms, calendar, pauses, |from, to| {
        // A stretch that opens after the end (a ticket answered while the desk was closed)
        // adds nothing.
        if from >= end_ms {
            return false;
        }
        sum += to.min(end_ms) - from;
        to < end_ms
    });
    sum
}

/// Calls `f` with each stretch of running business time after `start_ms`, in order, until it
/// returns false or the horizon is reached.
fn walk(start_ms: i64, calendar: &Calendar, pauses: &[Pause], mut f: impl FnMut(i64, i64) -> bool) {
    let horizon = start_ms.saturating_add(HORIZON_DAYS * DAY_MS);
    let mut pauses = pauses
        .iter()
        .skip_while(|p| p.end_ms <= start_ms)
        .peekable();
    let mut emit = |mut from: i64, to: i64| -> bool {
        while let Some(p) = pauses.peek() {
            if p.start_ms >= to {
                break;
            }
            if p.start_ms > from && !f(from, p.start_ms) {
                return false;
            }
            from = from.max(p.end_ms);
            if p.end_ms > to {
                return true;
            }
            pauses.next();
            if from >= to {
                return true;
            }
        }
        from >= to || f(from, to)
    };
    if calendar.always {
        emit(start_ms, horizon);
        return;
    }
    let Some(mut date) = calendar.local_date(start_ms) else {
        return;
    };
    let Some(mut midnight) = calendar.instant_ms(date, 0) else {
        return;
    };
    loop {
        // One zone lookup a day: local minutes map to `midnight + minutes` unless a
        // daylight-saving change falls on this day (its length is then not 24 h).
        let Some(next_midnight) = calendar.instant_ms(date, DAY_MINUTES) else {
            return;
        };
        let uniform = next_midnight - midnight == DAY_MS;
        if !calendar.holidays.contains(&date) {
            let day = &calendar.week[date.weekday().to_monday_zero_offset() as usize];
            for &(open, close) in day {
                let at = |minute: u16| {
                    if uniform {
                        Some(midnight + i64::from(minute) * 60_000)
                    } else {
                        calendar.instant_ms(date, minute)
                    }
                };
                let (Some(from), Some(to)) = (at(open), at(close)) else {
                    return;
                };
                let from = from.max(start_ms);
                if from >= horizon {
                    return;
                }
                if to > from && !emit(from, to) {
                    return;
                }
            }
        }
        date = match date.tomorrow() {
            Ok(next) => next,
            Err(_) => return,
        };
        midnight = next_midnight;
        if midnight >= horizon {
            return;
        }
    }
}

#[cfg(test)]
#[path = "business_time_tests.rs"]
mod tests;
