//! The read side at several data sizes: single requests at each size, viewers at the largest,
//! and the plans of the largest (`--explain`).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::dataset;
use super::engine::Engine;
use super::reads::{self, Callers, Timed};
use super::viewers::{self, ViewersRun};

/// Everything measured at one size.
#[derive(Debug, Serialize)]
pub struct AtSize {
    pub tickets: usize,
    pub requests: Vec<Timed>,
    pub without_viewers: Option<ViewersRun>,
    pub with_viewers: Option<ViewersRun>,
}

/// What to measure.
pub struct Plan<'a> {
    pub admin_url: &'a str,
    pub sizes: &'a [usize],
    pub samples: usize,
    pub viewers: usize,
    pub rate: f64,
    pub seconds: u64,
    pub explain: bool,
}

pub async fn run(plan: Plan<'_>) -> anyhow::Result<Vec<AtSize>> {
    let mut all = Vec::new();
    let largest = plan.sizes.iter().copied().max().unwrap_or(0);
    for &tickets in plan.sizes {
        let url = dataset::ensure(plan.admin_url, tickets).await?;
        let people = dataset::people(tickets);
        let callers = Callers::new(&people)?;
        let engine = Arc::new(Engine::start(&url, None).await?);
        let requests = reads::single_requests(&engine, &callers, plan.samples).await?;
        let (mut without, mut with) = (None, None);
        if tickets == largest && plan.viewers > 0 {
            let duration = Duration::from_secs(plan.seconds);
            without = Some(
                viewers::run(engine.clone(), &callers, &people, 0, plan.rate, duration).await?,
            );
            with = Some(
                viewers::run(
                    engine.clone(),
                    &callers,
                    &people,
                    plan.viewers,
                    plan.rate,
                    duration,
                )
                .await?,
            );
        }
        if let Ok(engine) = Arc::try_unwrap(engine) {
            engine.stop().await;
        }
        all.push(AtSize {
            tickets,
            requests,
            without_viewers: without,
            with_viewers: with,
        });
    }
    if plan.explain && largest > 0 {
        let url = dataset::ensure(plan.admin_url, largest).await?;
        reads::explain(plan.admin_url, &url, largest).await?;
    }
    print(&all);
    Ok(all)
}

/// The p99 table: one row per question, one column per size.
fn print(all: &[AtSize]) {
    let Some(first) = all.first() else { return };
    print!("\n| request (p99 ms, one at a time) |");
    for at in all {
        print!(" {} tickets |", at.tickets);
    }
    print!("\n|---|");
    for _ in all {
        print!("---:|");
    }
    println!();
    for (i, timed) in first.requests.iter().enumerate() {
        print!("| {} |", timed.name);
        for at in all {
            match at.requests.get(i) {
                Some(t) => print!(" {:.2} |", t.latency.p99_ms),
                None => print!(" – |"),
            }
        }
        println!();
    }
    for at in all {
        if let (Some(without), Some(with)) = (&at.without_viewers, &at.with_viewers) {
            println!(
                "\nat {} tickets, {} commands/s: command p50 / p99 {:.2} / {:.2} ms without \
                 viewers, {:.2} / {:.2} ms with {} (ratio {:.2}); boards current p50 {:.0} ms, \
                 p99 {:.0} ms, max {:.0} ms, {:.1} % within 1 s; {} fetches, {} answered 304",
                at.tickets,
                with.rate_per_s,
                without.commands_latency.p50_ms,
                without.commands_latency.p99_ms,
                with.commands_latency.p50_ms,
                with.commands_latency.p99_ms,
                with.viewers,
                with.commands_latency.p99_ms / without.commands_latency.p99_ms.max(1e-9),
                with.board_current.p50_ms,
                with.board_current.p99_ms,
                with.board_current.max_ms,
                with.current_within_1s * 100.0,
                with.fetches,
                with.not_modified
            );
        }
    }
}
