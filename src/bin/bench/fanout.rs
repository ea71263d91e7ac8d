//! WebSocket fan-out: what delivering events to many board clients costs the engine. The same
//! open loop of commands runs once without clients and once per client count; the engine's CPU
//! time beyond the run without clients, divided by the `event` frames the clients received, is
//! its CPU time per delivered frame. The clients run in the benchmark's process, so none of
//! their work is counted.

use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use super::engine::Engine;
use super::stats::Summary;

/// One client count.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FanoutRun {
    pub clients: usize,
    pub rate_per_s: f64,
    /// `event` frames received by all clients together.
    pub frames: u64,
    pub frames_per_s: f64,
    /// The engine's CPU seconds in this run.
    pub engine_cpu_seconds: f64,
    /// (CPU seconds of this run − of the run without clients) / frames, in µs.
    pub cpu_us_per_frame: f64,
    /// Command response → push received (a tenth of the clients measure).
    pub push: Summary,
}

/// The run without clients, and one run per client count.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FanoutResult {
    pub rate_per_s: f64,
    pub seconds: f64,
    /// The engine's CPU seconds for the same commands with no client connected.
    pub baseline_cpu_seconds: f64,
    pub runs: Vec<FanoutRun>,
}

/// Runs `rate` commands/s for `seconds` without clients, then with each of `clients`.
pub async fn measure(
    engine: &Engine,
    tickets: &[Uuid],
    rate: f64,
    seconds: Duration,
    clients: &[usize],
) -> anyhow::Result<FanoutResult> {
    let baseline = engine.open_loop(tickets, rate, seconds, 0, None).await?;
    eprintln!(
        "fan-out    no clients at {rate:.0}/s: engine CPU {:.2} s",
        baseline.engine_cpu_seconds
    );
    let mut runs = Vec::with_capacity(clients.len());
    for &n in clients {
        let open = engine.open_loop(tickets, rate, seconds, n, None).await?;
        let extra = (open.engine_cpu_seconds - baseline.engine_cpu_seconds).max(0.0);
        let run = FanoutRun {
            clients: n,
            rate_per_s: rate,
            frames: open.frames,
            frames_per_s: open.frames as f64 / seconds.as_secs_f64(),
            engine_cpu_seconds: open.engine_cpu_seconds,
            cpu_us_per_frame: if open.frames > 0 {
                extra * 1e6 / open.frames as f64
            } else {
                0.0
            },
            push: open.push,
        };
        eprintln!(
            "fan-out    {n} clients at {rate:.0}/s: {} frames ({:.0}/s), engine CPU {:.2} s, \
             {:.2} µs per frame, push p99 {:.2} ms",
            run.frames,
            run.frames_per_s,
            run.engine_cpu_seconds,
            run.cpu_us_per_frame,
            run.push.p99_ms
        );
        runs.push(run);
    }
    Ok(FanoutResult {
        rate_per_s: rate,
        seconds: seconds.as_secs_f64(),
        baseline_cpu_seconds: baseline.engine_cpu_seconds,
        runs,
    })
}

/// The figures as a Markdown table.
pub fn print(result: &FanoutResult) {
    if result.runs.is_empty() {
        return;
    }
    println!();
    println!(
        "| WebSocket fan-out at {:.0} cmd/s ({:.0} s; engine CPU without clients {:.2} s) | frames | frames/s | engine CPU s | CPU µs/frame | push p50 ms | push p99 ms |",
        result.rate_per_s, result.seconds, result.baseline_cpu_seconds
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in &result.runs {
        println!(
            "| {} clients | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.clients,
            r.frames,
            r.frames_per_s,
            r.engine_cpu_seconds,
            r.cpu_us_per_frame,
            r.push.p50_ms,
            r.push.p99_ms
        );
    }
}
