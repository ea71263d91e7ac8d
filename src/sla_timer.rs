//! The SLA timer: records `ticket.sla_warning` at 80 % of a target and `ticket.sla_breached`
//! when its due time passes, on a ticket still waiting for it, and resumes a pending ticket at
//! its pause's `until`.
//!
//! It sleeps until the next instant at which some open ticket has something due (see
//! [`Plan`]), and is woken early when the ticket view applies new events or the SLA
//! configuration changes here; `cap` bounds every sleep, so a missed wake-up (a policy changed
//! through another instance) costs at most that long.
//!
//! Every instance keeps a plan and wakes; a pass that acts happens under a transaction-level
//! advisory lock, so one instance acts at a time and another takes over the moment the first
//! dies. The plan only finds the tickets worth asking: the Ticket aggregate decides, on the same
//! [`SlaClock`], and records a warning or breach only when it is due, still unmet and not yet
//! recorded. So a read model that lags, a pass repeated after a crash, or two leaders in a row
//! never record anything twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use ticket_nats::{Status, Timestamp};
use ticket_projections::{CancellationToken, Runner};
use uuid::Uuid;

use crate::command_service::{CommandContext, CommandService};
use crate::domain::sla_clock::SlaClock;
use crate::domain::TicketServices;
use crate::sla_clocks::{ClockRow, CLOCK_COLUMNS};

/// Advisory lock key of the SLA timer (ASCII "tktdsla1"); advisory locks are per database.
pub const SLA_LOCK: i64 = 0x746b_7464_736c_6131;

/// Tickets acted on per pass; the next pass, at once, takes the rest.
const PASS_LIMIT: usize = 500;

/// The least time between two looks woken by the projections.
const COALESCE: Duration = Duration::from_millis(50);

/// Rows read from the ticket view per query.
const PAGE: i64 = 5000;

/// What the timer knows: every open ticket's clock and the next instant it is due at, ordered.
#[derive(Default)]
pub struct Plan {
    clocks: HashMap<Uuid, SlaClock>,
    at: HashMap<Uuid, Timestamp>,
    queue: BTreeSet<(Timestamp, Uuid)>,
    /// The highest `last_position` read (kept indexed in `ticket_recency`, see its migration).
    seen: i64,
    /// A digest of the stored SLA configuration the plan was made with.
    version: Option<String>,
}

impl Plan {
    fn schedule(&mut self, id: Uuid, at: Option<Timestamp>) {
        if let Some(old) = self.at.remove(&id) {
            self.queue.remove(&(old, id));
        }
        if let Some(at) = at {
            self.at.insert(id, at);
            self.queue.insert((at, id));
        }
    }

    fn put(&mut self, id: Uuid, clock: SlaClock, services: &TicketServices) {
        let next = clock.next_instant(services);
        if clock.closed {
            self.clocks.remove(&id);
        } else {
            self.clocks.insert(id, clock);
        }
        self.schedule(id, next);
    }

    /// Every instant again, under `services` (the policy or a calendar changed).
    fn replan(&mut self, services: &TicketServices) {
        self.queue.clear();
        self.at.clear();
        let next: Vec<(Uuid, Option<Timestamp>)> = self
            .clocks
            .iter()
            .map(|(id, c)| (*id, c.next_instant(services)))
            .collect();
        for (id, at) in next {
            self.schedule(id, at);
        }
    }

    /// The earliest planned instant.
    pub fn next(&self) -> Option<Timestamp> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// The tickets due at `now`, earliest first, at most `limit`.
    fn due(&self, now: Timestamp, limit: usize) -> Vec<Uuid> {
        self.queue
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Reads the rows the ticket view changed since the last look (all open tickets on the
    /// first look) and plans them.
    pub async fn catch_up(
        &mut self,
        pool: &PgPool,
        services: &TicketServices,
    ) -> Result<usize, sqlx::Error> {
        if self.version.is_none() && self.seen == 0 {
            return self.first_look(pool, services).await;
        }
        let mut read = 0;
        loop {
            let rows: Vec<ClockRow> = sqlx::query_as(&format!(
                "SELECT {CLOCK_COLUMNS} FROM ticket_view
                   JOIN (SELECT ticket_id, last_position AS changed FROM ticket_recency
                          WHERE last_position > $1) r USING (ticket_id)
                  ORDER BY changed LIMIT $2"
            ))
            .bind(self.seen)
            .bind(PAGE)
            .fetch_all(pool)
            .await?;
            let n = rows.len();
            for row in rows {
                self.seen = self.seen.max(row.last_position);
                let id = row.ticket_id;
                self.put(id, row.clock(), services);
            }
            read += n;
            if (n as i64) < PAGE {
                return Ok(read);
            }
        }
    }

    /// The first look: every open ticket, through the status index. (Read through the recency
    /// order, as later looks are, it joined every ticket ever changed to keep the open ones: 200
    /// ms and 84,000 pages at 1,000,000 tickets, at every start, beside the first requests.)
    /// The high-water mark is read first and kept: a ticket changed meanwhile, closed ones
    /// too, is read again on the next look.
    async fn first_look(
        &mut self,
        pool: &PgPool,
        services: &TicketServices,
    ) -> Result<usize, sqlx::Error> {
        let seen: i64 =
            sqlx::query_scalar("SELECT coalesce(max(last_position), 0) FROM ticket_recency")
                .fetch_one(pool)
                .await?;
        let open: Vec<&str> = Status::ALL
            .iter()
            .filter(|s| **s != Status::Closed)
            .map(|s| s.as_str())
            .collect();
        let rows: Vec<ClockRow> = sqlx::query_as(&format!(
            "SELECT {CLOCK_COLUMNS} FROM ticket_view WHERE status = ANY($1)"
        ))
        .bind(&open)
        .fetch_all(pool)
        .await?;
        let read = rows.len();
        for row in rows {
            let id = row.ticket_id;
            self.put(id, row.clock(), services);
        }
        self.seen = seen;
        Ok(read)
    }
}

/// A digest of the stored SLA configuration: it changes with every policy or calendar write,
/// on whichever instance it was taken.
pub async fn configuration_version(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT concat_ws('/',
             (SELECT count(*) FROM sla_policies), (SELECT max(updated_at) FROM sla_policies),
             (SELECT count(*) FROM calendars), (SELECT max(updated_at) FROM calendars))",
    )
    .fetch_one(pool)
    .await
}

/// Runs until `shutdown`, sleeping at most `cap` at a time.
pub async fn run(
    pool: PgPool,
    commands: Arc<CommandService>,
    projections: Arc<Runner>,
    cap: Duration,
    shutdown: CancellationToken,
) {
    let mut plan = Plan::default();
    let mut refreshed: Option<String> = None;
    let mut applied = projections.subscribe_positions();
    let mut sla_changes = commands.subscribe_sla_changes();
    loop {
        // One read of the digest per look serves both the stored rows and the plan.
        let wait = match configuration_version(&pool).await {
            Ok(version) => {
                if let Err(error) =
                    refresh_due_times(&pool, &commands, &version, &mut refreshed).await
                {
                    tracing::warn!(error = %error, "refreshing stored SLA due times failed; retrying");
                }
                match pass(&pool, &commands, &mut plan, &version, cap).await {
                    Ok(wait) => wait,
                    Err(error) => {
                        tracing::warn!(error = %error, "SLA timer pass failed; retrying");
                        cap
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "reading the SLA configuration failed; retrying");
                cap
            }
        };
        let deadline = tokio::time::Instant::now() + wait;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(deadline) => {}
            changed = applied.changed() => {
                if changed.is_err() {
                    return;
                }
                // Under a stream of events, one look per `COALESCE` is enough: a new instant
                // lies at least a target's 80 % ahead.
                let soon = deadline.min(tokio::time::Instant::now() + COALESCE);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(soon) => {}
                }
            }
            changed = sla_changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Brings the open tickets' stored due times to the configuration in force when its digest
/// differs from the one `done` was made with (the first time on every start: a rebuild
/// replays the due times the events recorded).
async fn refresh_due_times(
    pool: &PgPool,
    commands: &CommandService,
    version: &str,
    done: &mut Option<String>,
) -> Result<(), sqlx::Error> {
    if done.as_deref() == Some(version) {
        return Ok(());
    }
    commands.sla_changed();
    let services = commands.services().await;
    // The stored mark outlives this process: it names the configured targets too.
    let configuration = format!("{version}|{}", commands.configured_sla());
    let changed = crate::sla_due_times::refresh(pool, &services, Some(&configuration)).await?;
    if changed > 0 {
        tracing::info!(
            changed,
            "stored SLA due times follow the configuration in force"
        );
    }
    *done = Some(version.to_string());
    Ok(())
}

/// One look: follow the configuration (`version`, its digest) and the ticket view, act on what
/// is due if this instance gets the lock. Returns how long to sleep.
pub async fn pass(
    pool: &PgPool,
    commands: &CommandService,
    plan: &mut Plan,
    version: &str,
    cap: Duration,
) -> Result<Duration, sqlx::Error> {
    if plan.version.as_deref() != Some(version) {
        if plan.version.is_some() {
            // Changed through another instance: read it now rather than within the second.
            commands.sla_changed();
        }
        let services = commands.services().await;
        plan.catch_up(pool, &services).await?;
        plan.replan(&services);
        plan.version = Some(version.to_string());
    }
    let services = commands.services().await;
    plan.catch_up(pool, &services).await?;
    let now = Timestamp::now();
    let due = plan.due(now, PASS_LIMIT);
    if !due.is_empty() {
        let recorded = act(pool, commands, plan, &services, &due, now, cap).await?;
        if recorded > 0 {
            tracing::info!(recorded, "SLA timer events recorded");
        }
        if due.len() == PASS_LIMIT {
            return Ok(Duration::ZERO);
        }
    }
    Ok(until(plan.next(), cap))
}

/// How long to sleep before `next`, at most `cap`.
fn until(next: Option<Timestamp>, cap: Duration) -> Duration {
    let Some(next) = next else { return cap };
    let left = next.as_datetime() - Utc::now();
    // One millisecond past the instant: the command's clock must not read just before it.
    left.to_std()
        .map_or(Duration::ZERO, |d| d + Duration::from_millis(1))
        .min(cap)
}

/// Issues what is due on `due` under the timer's lock. Returns how many events were recorded.
async fn act(
    pool: &PgPool,
    commands: &CommandService,
    plan: &mut Plan,
    services: &TicketServices,
    due: &[Uuid],
    now: Timestamp,
    cap: Duration,
) -> Result<usize, sqlx::Error> {
    // The lock lives as long as this read-only transaction, which takes no transaction id and
    // so never holds back the sequencer.
    let mut tx = pool.begin().await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SLA_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !leader {
        // Another instance acts now; look again once its events have reached the view.
        let later = now.plus(chrono::TimeDelta::from_std(cap).unwrap_or_default());
        for id in due {
            plan.schedule(*id, Some(later));
        }
        return Ok(0);
    }
    let mut recorded = 0;
    let later = now.plus(chrono::TimeDelta::from_std(cap).unwrap_or_default());
    for id in due {
        let Some(clock) = plan.clocks.get(id) else {
            plan.schedule(*id, None);
            continue;
        };
        for command in clock.due_commands(services, Timestamp::now()) {
            let ctx = CommandContext {
                correlation_id: format!("sla-timer:{}", Uuid::now_v7()),
                ..CommandContext::default()
            };
            let name = command.name();
            match commands.execute(*id, command, &ctx).await {
                Ok(outcome) => recorded += outcome.events,
                Err(error) => {
                    tracing::warn!(ticket_id = %id, command = name, error = %error, "SLA timer command failed")
                }
            }
        }
        // Until the view shows what was recorded (and the plan moves on from it), ask again
        // no sooner than `cap`: the aggregate answers a repeated question with nothing.
        plan.schedule(*id, Some(later));
    }
    tx.commit().await?;
    Ok(recorded)
}
