//! Part `sla`: due-time computations per second of the business-time clock, the pure function
//! every SLA figure goes through, with a business-hours calendar and with 24×7.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use ticketd::domain::business_time::{due_ms, Pause};
use ticketd::domain::calendar::Calendar;

/// Computations per second with each calendar.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SlaResult {
    /// Computations timed per calendar.
    pub computations: usize,
    /// Europe/Berlin, 08:00–12:00 and 13:00–18:00 on weekdays, 10 holidays.
    pub business_hours_per_s: f64,
    /// The 24×7 clock.
    pub always_per_s: f64,
}

fn office() -> anyhow::Result<Calendar> {
    let day = vec![
        ["08:00".to_string(), "12:00".to_string()],
        ["13:00".to_string(), "18:00".to_string()],
    ];
    let hours: BTreeMap<String, Vec<[String; 2]>> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), day.clone()))
        .collect();
    let holidays: Vec<String> = [
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-01",
        "2026-05-14",
        "2026-05-25",
        "2026-10-03",
        "2026-12-24",
        "2026-12-25",
        "2026-12-26",
    ]
    .iter()
    .map(|d| d.to_string())
    .collect();
    Calendar::new("Europe/Berlin", &hours, &holidays)
        .map_err(|faults| anyhow::anyhow!("the bench calendar is invalid: {faults:?}"))
}

fn time(calendar: &Calendar, n: usize) -> f64 {
    // Starts spread over a year (xorshift), targets from the contract's defaults, one ticket
    // in four with a pause: what a rebuild meets.
    const TARGETS_MS: [i64; 5] = [900_000, 3_600_000, 14_400_000, 86_400_000, 259_200_000];
    let year_start = 1_767_225_600_000_i64; // 2026-01-01T00:00:00Z
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut checksum = 0i64;
    let started = Instant::now();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let start = year_start + (x % 31_536_000_000) as i64;
        let pause = [Pause {
            start_ms: start + 600_000,
            end_ms: start + 7_800_000,
        }];
        let pauses: &[Pause] = if i % 4 == 0 { &pause } else { &[] };
        let due = due_ms(start, TARGETS_MS[i % TARGETS_MS.len()], calendar, pauses);
        checksum = checksum.wrapping_add(due.unwrap_or(0));
    }
    let secs = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    n as f64 / secs.max(f64::EPSILON)
}

/// Times `n` computations with each calendar.
pub fn measure(n: usize) -> anyhow::Result<SlaResult> {
    let office = office()?;
    Ok(SlaResult {
        computations: n,
        business_hours_per_s: time(&office, n),
        always_per_s: time(&Calendar::always(), n),
    })
}
