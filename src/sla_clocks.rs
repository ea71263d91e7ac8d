//! A ticket's SLA clocks on the read side (CONTRACT 9). The ticket view keeps what the clocks
//! depend on ([`SlaClockFacts`]); the due times an open ticket shows are computed here with the
//! policy and calendars in force, by the same [`SlaClock`] the aggregate decides with, so an
//! edit of a policy or calendar moves them at once. A closed ticket shows the due times its
//! events recorded: its figures are history.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use ticket_nats::events::SlaTarget;
use ticket_nats::Priority;
use ticket_projections::read_models::tickets::{
    Sla, SlaClockFacts, SlaFacts, TicketPage, TicketView,
};
use uuid::Uuid;

use crate::domain::business_time::Pause;
use crate::domain::sla_clock::{PerTarget, SlaClock};
use crate::domain::TicketServices;

/// The clock the aggregate would build from the same events.
pub fn clock_of(f: &SlaClockFacts) -> SlaClock {
    SlaClock {
        priority: f.priority,
        created_at: f.created_at.into(),
        pauses: f
            .pauses
            .iter()
            .map(|[start, end]| Pause {
                start_ms: start.timestamp_millis(),
                end_ms: end.timestamp_millis(),
            })
            .collect(),
        pending: f.facts.pending_since.is_some(),
        pending_until: f.pending_until.map(Into::into),
        closed: f.facts.closed_at.is_some(),
        responded: f.facts.first_response_at.is_some(),
        next_response_since: f.next_response_since.map(Into::into),
        warned: PerTarget {
            first_response: f.first_response_warning_recorded,
            resolution: f.resolution_warning_recorded,
            next_response: f.next_response_warning_recorded,
        },
        breached: PerTarget {
            first_response: f.facts.first_response_breach_recorded,
            resolution: f.facts.resolution_breach_recorded,
            next_response: f.next_response_breach_recorded,
        },
    }
}

/// `view.sla` as it stands at `now` under `services`: an open ticket's due times recomputed,
/// `next_response_due` added while a requester's comment waits for a staff reply.
pub fn fill(view: &mut TicketView, services: &TicketServices, now: DateTime<Utc>) {
    if let Some(facts) = view.clock.as_ref() {
        fill_sla(&mut view.sla, facts, services, now);
    }
}

/// [`fill`] for every item of a page of tickets.
pub fn fill_page(page: &mut TicketPage, services: &TicketServices, now: DateTime<Utc>) {
    for item in &mut page.items {
        if let Some(facts) = item.clock.as_ref() {
            fill_sla(&mut item.sla, facts, services, now);
        }
    }
}

/// The first-response and resolution due times of an open ticket under `services`, or `None`
/// when the recorded ones stand: a closed ticket (its figures are history), or a row
/// projected before the view kept its pauses (its recorded due times count them, a
/// recomputation would not; a rebuild gives it the pauses).
pub fn open_due_times(
    facts: &SlaClockFacts,
    services: &TicketServices,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let clock = clock_of(facts);
    if clock.closed || (facts.pauses.is_empty() && facts.facts.paused_seconds > 0) {
        return None;
    }
    let due = |target| clock.due(target, services).map(DateTime::<Utc>::from);
    Some((
        due(SlaTarget::FirstResponse).unwrap_or(facts.facts.first_response_due),
        due(SlaTarget::Resolution).unwrap_or(facts.facts.resolution_due),
    ))
}

fn fill_sla(sla: &mut Sla, facts: &SlaClockFacts, services: &TicketServices, now: DateTime<Utc>) {
    let Some((first_response_due, resolution_due)) = open_due_times(facts, services) else {
        return;
    };
    let recomputed = SlaFacts {
        first_response_due,
        resolution_due,
        ..facts.facts
    };
    *sla = recomputed.at(now);
    sla.next_response_due = clock_of(facts)
        .due(SlaTarget::NextResponse, services)
        .filter(|_| facts.next_response_since.is_some());
}

/// The SLA facts of a ticket view row.
#[derive(sqlx::FromRow)]
pub(crate) struct ClockRow {
    pub(crate) ticket_id: Uuid,
    #[sqlx(try_from = "String")]
    priority: Priority,
    created_at: DateTime<Utc>,
    pauses: Json<Vec<[DateTime<Utc>; 2]>>,
    pending_since: Option<DateTime<Utc>>,
    pending_until: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    first_response_due: DateTime<Utc>,
    resolution_due: DateTime<Utc>,
    paused_seconds: i64,
    first_response_breach_recorded: bool,
    resolution_breach_recorded: bool,
    next_response_breach_recorded: bool,
    first_response_warning_recorded: bool,
    resolution_warning_recorded: bool,
    next_response_warning_recorded: bool,
    next_response_since: Option<DateTime<Utc>>,
    pub(crate) last_position: i64,
}

impl ClockRow {
    /// The ticket's clock.
    pub(crate) fn clock(self) -> SlaClock {
        clock_of(&self.facts())
    }

    /// What the clock depends on, as the ticket view keeps it.
    pub(crate) fn facts(self) -> SlaClockFacts {
        SlaClockFacts {
            facts: SlaFacts {
                first_response_due: self.first_response_due,
                resolution_due: self.resolution_due,
                first_response_at: self.first_response_at,
                closed_at: self.closed_at,
                first_response_breach_recorded: self.first_response_breach_recorded,
                resolution_breach_recorded: self.resolution_breach_recorded,
                pending_since: self.pending_since,
                paused_seconds: self.paused_seconds,
            },
            priority: self.priority,
            created_at: self.created_at,
            pauses: self.pauses.0,
            pending_until: self.pending_until,
            next_response_since: self.next_response_since,
            next_response_breach_recorded: self.next_response_breach_recorded,
            first_response_warning_recorded: self.first_response_warning_recorded,
            resolution_warning_recorded: self.resolution_warning_recorded,
            next_response_warning_recorded: self.next_response_warning_recorded,
        }
    }
}

pub(crate) const CLOCK_COLUMNS: &str =
    "ticket_id, priority, created_at, pauses, pending_since, pending_until,
    first_response_at, closed_at, first_response_due, resolution_due, paused_seconds,
    first_response_breach_recorded, resolution_breach_recorded, next_response_breach_recorded,
    first_response_warning_recorded, resolution_warning_recorded, next_response_warning_recorded,
    next_response_since, last_position";
