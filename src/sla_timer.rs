//! The SLA timer: records `ticket.sla_warning` at 80 % of a target and `ticket.sla_breached` when
//! its due time passes, on a ticket still waiting for it, and resumes a pending ticket at its
//! pause's `until`.
//!
//! Every instance runs the loop; a sweep happens under a transaction-level advisory lock, so one
//! instance sweeps at a time and another takes over the moment the first dies. Candidates come
//! from the ticket view (indexed by due time), but the Ticket aggregate decides: it records a
//! breach only when it is due, still unmet and not yet recorded. So a read model that lags, a
//! sweep repeated after a crash, or two leaders in a row never record a breach twice.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use ticket_nats::events::SlaTarget;
use ticket_nats::Timestamp;
use ticket_projections::listen::sleep_or_cancel;
use ticket_projections::CancellationToken;
use uuid::Uuid;

use crate::command_service::{CommandContext, CommandService};
use crate::domain::commands::{RecordSlaBreach, RecordSlaWarning, ResumeAtUntil};
use crate::domain::sla_warning::WARNING_PERCENT;
use crate::domain::Priority;
use crate::domain::TicketCommand;

/// Advisory lock key of the SLA timer (ASCII "tktdsla1"); advisory locks are per database.
pub const SLA_LOCK: i64 = 0x746b_7464_736c_6131;

/// Every priority, each with its own targets (so its own warning instants).
const PRIORITIES: [Priority; 4] = [
    Priority::Urgent,
    Priority::High,
    Priority::Medium,
    Priority::Low,
];

/// Tickets looked at per sweep; the next sweep takes the rest.
const SWEEP_LIMIT: i64 = 500;

/// Runs sweeps every `interval` until `shutdown`.
pub async fn run(
    pool: PgPool,
    commands: Arc<CommandService>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if sleep_or_cancel(interval, &shutdown).await {
            return;
        }
        match sweep(&pool, &commands).await {
            Ok(0) => {}
            Ok(recorded) => tracing::info!(recorded, "SLA timer events recorded"),
            Err(error) => tracing::warn!(error = %error, "SLA sweep failed; retrying next tick"),
        }
    }
}

/// One sweep, if this instance gets the lock. Returns how many events were recorded.
pub async fn sweep(pool: &PgPool, commands: &CommandService) -> Result<usize, sqlx::Error> {
    // The lock lives as long as this read-only transaction, which takes no transaction id and
    // so never holds back the sequencer.
    let mut tx = pool.begin().await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SLA_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !leader {
        return Ok(0);
    }
    // The candidates' warning instants, as `Ticket::warning_at` computes them (the aggregate
    // decides; this only finds the tickets worth asking).
    let services = commands.services().await;
    let policy = &services.sla;
    let targets = PRIORITIES.map(|p| policy.targets(p));
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "(SELECT ticket_id, 'first_response' FROM ticket_view
           WHERE status NOT IN ('closed', 'pending') AND first_response_at IS NULL
             AND NOT first_response_breach_recorded AND first_response_due <= now()
           ORDER BY first_response_due LIMIT $1)
         UNION ALL
         (SELECT ticket_id, 'resolution' FROM ticket_view
           WHERE status NOT IN ('closed', 'pending') AND NOT resolution_breach_recorded AND resolution_due <= now()
           ORDER BY resolution_due LIMIT $1)
         UNION ALL
         (SELECT v.ticket_id, 'warn_first_response'
            FROM unnest($2::text[], $3::bigint[]) AS p(priority, secs)
            CROSS JOIN LATERAL (
              SELECT ticket_id, first_response_due FROM ticket_view
               WHERE priority = p.priority AND status NOT IN ('closed', 'pending')
                 AND first_response_at IS NULL AND NOT first_response_warning_recorded
                 AND NOT first_response_breach_recorded
                 AND first_response_due
                     <= now() + make_interval(secs => (p.secs * $5 / 100)::double precision)
               ORDER BY first_response_due LIMIT $1) v
           ORDER BY v.first_response_due LIMIT $1)
         UNION ALL
         (SELECT v.ticket_id, 'warn_resolution'
            FROM unnest($2::text[], $4::bigint[]) AS p(priority, secs)
            CROSS JOIN LATERAL (
              SELECT ticket_id, resolution_due FROM ticket_view
               WHERE priority = p.priority AND status NOT IN ('closed', 'pending')
                 AND NOT resolution_warning_recorded AND NOT resolution_breach_recorded
                 AND resolution_due
                     <= now() + make_interval(secs => (p.secs * $5 / 100)::double precision)
               ORDER BY resolution_due LIMIT $1) v
           ORDER BY v.resolution_due LIMIT $1)
         UNION ALL
         (SELECT ticket_id, 'resume' FROM ticket_view
           WHERE status = 'pending' AND pending_until IS NOT NULL AND pending_until <= now()
           ORDER BY pending_until LIMIT $1)",
    )
    .bind(SWEEP_LIMIT)
    .bind(PRIORITIES.map(|p| p.as_str()))
    .bind(targets.map(|t| t.first_response_secs))
    .bind(targets.map(|t| t.resolution_secs))
    .bind(100 - WARNING_PERCENT)
    .fetch_all(&mut *tx)
    .await?;
    // A warning comes before its breach even when a late sweep finds both due.
    let mut due = due;
    due.sort_by_key(|(_, kind)| !kind.starts_with("warn"));
    let mut recorded = 0;
    for (ticket, target) in due {
        let at = Timestamp::now();
        let command = match target.as_str() {
            "resume" => TicketCommand::ResumeAtUntil(ResumeAtUntil { at }),
            "warn_first_response" => TicketCommand::RecordSlaWarning(RecordSlaWarning {
                target: SlaTarget::FirstResponse,
                at,
            }),
            "warn_resolution" => TicketCommand::RecordSlaWarning(RecordSlaWarning {
                target: SlaTarget::Resolution,
                at,
            }),
            "first_response" => TicketCommand::RecordSlaBreach(RecordSlaBreach {
                target: SlaTarget::FirstResponse,
                at,
            }),
            _ => TicketCommand::RecordSlaBreach(RecordSlaBreach {
                target: SlaTarget::Resolution,
                at,
            }),
        };
        let ctx = CommandContext {
            correlation_id: format!("sla-timer:{}", Uuid::now_v7()),
            ..CommandContext::default()
        };
        match commands.execute(ticket, command, &ctx).await {
            Ok(outcome) => recorded += outcome.events,
            Err(error) => {
                tracing::warn!(%ticket, %target, error = %error, "SLA timer command failed")
            }
        }
    }
    tx.commit().await?;
    Ok(recorded)
}
