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
    /// Each round's command p99 with viewers over the one without just before it.
    pub round_ratios: Vec<f64>,
}

/// What to measure.
pub struct Plan<'a> {
    pub admin_url: &'a str,
    pub sizes: &'a [usize],
    pub samples: usize,
    pub viewers: usize,
    pub rate: f64,
    pub seconds: u64,
    pub rounds: usize,
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
        let (mut without, mut with) = (Vec::new(), Vec::new());
        if tickets == largest && plan.viewers > 0 {
            // Rounds alternate, so that a machine slower for a minute weighs on both kinds;
            // the p99 of one 20 s run is its 4th-worst command, and two such runs' ratio
            // moved between 0.7 and 2.2 on this machine with nothing changed.
            let duration = Duration::from_secs(plan.seconds);
            // The viewers runs assign tickets to the set's agents, which must be known.
            engine
                .make_known(people.agents.iter().map(|a| a.id))
                .await?;
            // Unmeasured: the first commands on a set just made or just started read cold
            // pages (a first round's p99 without viewers was 108 ms, the next ones' 5-9).
            viewers::run(
                engine.clone(),
                &callers,
                &people,
                0,
                plan.rate,
                Duration::from_secs(5),
            )
            .await?;
            for _ in 0..plan.rounds {
                without.push(
                    viewers::run(engine.clone(), &callers, &people, 0, plan.rate, duration).await?,
                );
                with.push(
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
        }
        if let Ok(engine) = Arc::try_unwrap(engine) {
            engine.stop().await;
        }
        all.push(AtSize {
            tickets,
            requests,
            round_ratios: without
                .iter()
                .zip(&with)
                .map(|(a, b)| b.p99_ms() / a.p99_ms().max(1e-9))
                .collect(),
            without_viewers: (!without.is_empty()).then(|| viewers::pooled(&without)),
            with_viewers: (!with.is_empty()).then(|| viewers::pooled(&with)),
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
            let ratios: Vec<String> = at.round_ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "\nat {} tickets, {} commands/s, {} alternating rounds pooled: command p50 / p99 \
                 {:.2} / {:.2} ms without viewers, {:.2} / {:.2} ms with {} (ratio {:.2}; by \
                 round {}); boards current p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, {:.1} % \
                 within 1 s; {} fetches, {} answered 304",
                at.tickets,
                with.rate_per_s,
                with.rounds,
                without.commands_latency.p50_ms,
                without.commands_latency.p99_ms,
                with.commands_latency.p50_ms,
                with.commands_latency.p99_ms,
                with.viewers,
                with.commands_latency.p99_ms / without.commands_latency.p99_ms.max(1e-9),
                ratios.join(", "),
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
