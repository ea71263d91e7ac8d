//! CPU time of processes, from /proc (Linux): the engine's and every Postgres backend's.

use std::fs;

fn ticks_per_second() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux configuration we run on.
    100.0
}

/// User + system CPU seconds of one process, if it exists.
pub fn process_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

/// CPU seconds of every running Postgres server process (backends included).
pub fn postgres_seconds() -> f64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == "postgres")
                .unwrap_or(false)
        })
        .filter_map(process_seconds)
        .sum()
}

/// Measures CPU over an interval: the engine (if any) and Postgres.
pub struct CpuMeter {
    engine_pid: Option<u32>,
    engine_start: f64,
    postgres_start: f64,
}

impl CpuMeter {
    pub fn start(engine_pid: Option<u32>) -> Self {
        Self {
            engine_pid,
            engine_start: engine_pid.and_then(process_seconds).unwrap_or(0.0),
            postgres_start: postgres_seconds(),
        }
    }

    /// (engine seconds, postgres seconds) since start. Backends that exited meanwhile are not
    /// counted, so pools are kept open across a measurement.
    pub fn stop(&self) -> (f64, f64) {
        let engine = self
            .engine_pid
            .and_then(process_seconds)
            .map(|s| s - self.engine_start)
            .unwrap_or(0.0);
        let postgres = (postgres_seconds() - self.postgres_start).max(0.0);
        (engine, postgres)
    }
}
