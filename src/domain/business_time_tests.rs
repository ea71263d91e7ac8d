use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn office(zone: &str, holidays: &[&str]) -> Calendar {
    let day = vec![["08:00".to_string(), "18:00".to_string()]];
    let hours: BTreeMap<String, Vec<[String; 2]>> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), day.clone()))
        .collect();
    let holidays: Vec<String> = holidays.iter().map(|h| h.to_string()).collect();
    Calendar::new(zone, &hours, &holidays).unwrap()
}

fn all_day(zone: &str) -> Calendar {
    let hours = super::super::calendar::WEEKDAYS
        .iter()
        .map(|d| {
            (
                d.to_string(),
                vec![["00:00".to_string(), "24:00".to_string()]],
            )
        })
        .collect();
    Calendar::new(zone, &hours, &[]).unwrap()
}

#[test]
fn always_is_wall_clock_time_plus_pauses() {
    let start = ms("2026-12-04T10:00:00Z");
    let cal = Calendar::always();
    assert_eq!(due_ms(start, 4 * HOUR, &cal, &[]), Some(start + 4 * HOUR));
    let pause = Pause {
        start_ms: start + HOUR,
        end_ms: start + 3 * HOUR,
    };
    assert_eq!(
        due_ms(start, 4 * HOUR, &cal, &[pause]),
        Some(start + 6 * HOUR)
    );
    assert_eq!(
        elapsed_ms(start, start + 6 * HOUR, &cal, &[pause]),
        4 * HOUR
    );
}

#[test]
fn business_hours_skip_nights_and_weekends() {
    let cal = office("Europe/Berlin", &[]);
    // Friday 17:00 in Berlin (UTC+1) plus 2 h: one hour on Friday, one on Monday.
    let due = due_ms(ms("2026-12-04T16:00:00Z"), 2 * HOUR, &cal, &[]);
    assert_eq!(at(due.unwrap()), "2026-12-07T08:00:00Z");
    // Saturday: the clock starts on Monday at 08:00.
    let due = due_ms(ms("2026-12-05T12:00:00Z"), 30 * MIN, &cal, &[]);
    assert_eq!(at(due.unwrap()), "2026-12-07T07:30:00Z");
}

#[test]
fn a_ticket_created_on_a_holiday_at_23_59_starts_on_the_next_business_day() {
    let cal = office("Europe/Berlin", &["2026-12-24", "2026-12-25"]);
    // Thursday 2026-12-24 23:59 Berlin; Friday is a holiday too, so Monday 08:00 + 1 h.
    let due = due_ms(ms("2026-12-24T22:59:00Z"), HOUR, &cal, &[]);
    assert_eq!(at(due.unwrap()), "2026-12-28T08:00:00Z");
}

#[test]
fn daylight_saving_days_have_their_real_length() {
    let cal = all_day("Europe/Berlin");
    // 2026-03-29 has 23 hours in Berlin, 2026-10-25 has 25.
    let spring = ms("2026-03-28T23:00:00Z"); // local midnight
    assert_eq!(
        elapsed_ms(spring, ms("2026-03-29T22:00:00Z"), &cal, &[]),
        23 * HOUR
    );
    let autumn = ms("2026-10-24T22:00:00Z");
    assert_eq!(
        elapsed_ms(autumn, ms("2026-10-25T23:00:00Z"), &cal, &[]),
        25 * HOUR
    );
    // 08:00–18:00 on the spring day is still ten hours, now at UTC+2.
    let office = office("America/New_York", &[]);
    let due = due_ms(ms("2026-03-09T12:00:00Z"), 10 * HOUR, &office, &[]);
    assert_eq!(at(due.unwrap()), "2026-03-09T22:00:00Z");
}

#[test]
fn a_pause_inside_business_hours_moves_the_due_time_by_its_business_length() {
    let cal = office("Europe/Berlin", &[]);
    let start = ms("2026-12-07T08:00:00Z"); // Monday 09:00
                                            // Pending from 10:00 until Tuesday 10:00 local: the pause covers 9 business hours.
    let pause = Pause {
        start_ms: ms("2026-12-07T09:00:00Z"),
        end_ms: ms("2026-12-08T09:00:00Z"),
    };
    let due = due_ms(start, 2 * HOUR, &cal, &[pause]);
    assert_eq!(at(due.unwrap()), "2026-12-08T10:00:00Z");
    assert_eq!(elapsed_ms(start, due.unwrap(), &cal, &[pause]), 2 * HOUR);
}

#[test]
fn an_open_pause_stops_the_clock_for_good() {
    let start = ms("2026-12-07T08:00:00Z");
    let pause = Pause {
        start_ms: start + MIN,
        end_ms: i64::MAX,
    };
    assert_eq!(due_ms(start, HOUR, &Calendar::always(), &[pause]), None);
    assert_eq!(
        elapsed_ms(start, start + 5 * HOUR, &office("UTC", &[]), &[pause]),
        MIN
    );
}

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
];

fn calendar() -> impl Strategy<Value = Calendar> {
    let day = proptest::collection::btree_set(0u16..=96, 0..6);
    (
        0..ZONES.len(),
        proptest::collection::vec(day, 7),
        proptest::collection::vec(0i64..800, 0..40),
        any::<bool>(),
    )
        .prop_map(|(zone, days, holidays, always)| {
            if always {
                return Calendar::always();
            }
            let mut hours = BTreeMap::new();
            for (i, marks) in days.into_iter().enumerate() {
                // Pairs of quarter-hour marks make disjoint, sorted intervals.
                let marks: Vec<u16> = marks.into_iter().collect();
                let intervals: Vec<[String; 2]> = marks
                    .chunks_exact(2)
                    .map(|p| [hhmm(p[0]), hhmm(p[1])])
                    .collect();
                hours.insert(super::super::calendar::WEEKDAYS[i].to_string(), intervals);
            }
            hours.insert("wed".into(), vec![["09:00".into(), "17:00".into()]]);
            let base = jiff::civil::date(2026, 1, 1);
            let holidays: Vec<String> = holidays
                .into_iter()
                .map(|d| {
                    base.checked_add(jiff::Span::new().days(d))
                        .unwrap()
                        .to_string()
                })
                .collect();
            Calendar::new(ZONES[zone], &hours, &holidays).unwrap()
        })
}

fn hhmm(quarter: u16) -> String {
    format!("{:02}:{:02}", quarter / 4, quarter % 4 * 15)
}

fn pauses() -> impl Strategy<Value = Vec<Pause>> {
    proptest::collection::vec((0i64..2_000, 1i64..600), 0..5).prop_map(|gaps| {
        let mut t = ms("2026-01-01T00:00:00Z");
        gaps.into_iter()
            .map(|(gap, len)| {
                t += gap * 10 * MIN;
                let p = Pause {
                    start_ms: t,
                    end_ms: t + len * 10 * MIN,
                };
                t = p.end_ms;
                p
            })
            .collect()
    })
}

fn instant() -> impl Strategy<Value = i64> {
    (0i64..(700 * 24 * 60)).prop_map(|m| ms("2026-01-01T00:00:00Z") + m * MIN + (m * 7_919) % MIN)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_due_time_is_monotone_and_inverts_elapsed(
        cal in calendar(), pauses in pauses(), a in instant(), b in instant(),
        t1 in 1i64..20_000, t2 in 1i64..20_000,
    ) {
        let (s1, s2) = (a.min(b), a.max(b));
        let (t1, t2) = (t1.min(t2) * MIN, t1.max(t2) * MIN);
        let d = |s, t| due_ms(s, t, &cal, &pauses).unwrap_or(i64::MAX);
        prop_assert!(d(s1, t1) <= d(s2, t1), "a later start is never due earlier");
        prop_assert!(d(s1, t1) <= d(s1, t2), "a longer target is never due earlier");
        if let Some(due) = due_ms(s1, t1, &cal, &pauses) {
            prop_assert!(due > s1);
            prop_assert_eq!(elapsed_ms(s1, due, &cal, &pauses), t1);
        }
    }

    #[test]
    fn pausing_never_shortens(cal in calendar(), pauses in pauses(), s in instant(), t in 1i64..20_000) {
        let free = due_ms(s, t * MIN, &cal, &[]).unwrap_or(i64::MAX);
        let paused = due_ms(s, t * MIN, &cal, &pauses).unwrap_or(i64::MAX);
        prop_assert!(paused >= free);
        prop_assert!(due_ms(s, t * MIN, &Calendar::always(), &pauses).unwrap() >= s + t * MIN);
    }

    /// A calendar change mid-ticket recomputes from creation under the new calendar: widening
    /// the hours never postpones the due time, and 24×7 is the earliest of all.
    #[test]
    fn more_business_hours_never_postpone(cal in calendar(), s in instant(), t in 1i64..20_000) {
        let narrow = due_ms(s, t * MIN, &cal, &[]).unwrap_or(i64::MAX);
        let wide = due_ms(s, t * MIN, &Calendar::always(), &[]).unwrap_or(i64::MAX);
        prop_assert!(wide <= narrow);
        prop_assert_eq!(wide, s + t * MIN);
    }
}

#[test]
fn time_spent_while_the_desk_is_closed_counts_nothing() {
    // Saturday 10:00 to 10:05 in Berlin: the next business hour is Monday's, after the end.
    let cal = office("Europe/Berlin", &[]);
    let start = ms("2026-12-05T09:00:00Z");
    assert_eq!(elapsed_ms(start, start + 5 * MIN, &cal, &[]), 0);
    // Friday 17:55 to Saturday 10:00: the five minutes before closing.
    let friday = ms("2026-12-04T16:55:00Z");
    assert_eq!(elapsed_ms(friday, start, &cal, &[]), 5 * MIN);
}
