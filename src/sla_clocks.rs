//! A ticket's SLA clocks on the read side (CONTRACT 9). The ticket view keeps what the clocks
//! depend on ([`SlaClockFacts`]); the due times an open ticket shows are computed here with the
//! policy and calendars in force, by the same [`SlaClock`] the aggregate decides with, so an
//! edit of a policy or calendar moves them at once. A closed ticket shows the due times its
//! events recorded: its figures are history.

use chrono::{DateTime, Utc};
use ticket_nats::events::SlaTarget;
use ticket_projections::read_models::tickets::{
    Sla, SlaClockFacts, SlaFacts, TicketPage, TicketView,
};

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

fn fill_sla(sla: &mut Sla, facts: &SlaClockFacts, services: &TicketServices, now: DateTime<Utc>) {
    let clock = clock_of(facts);
    if clock.closed {
        return;
    }
    if facts.pauses.is_empty() && facts.facts.paused_seconds > 0 {
        // Projected before the view kept its pauses: the recorded due times count them, a
        // recomputation would not (a rebuild gives it the pauses).
        return;
    }
    let due = |target| clock.due(target, services).map(DateTime::<Utc>::from);
    let recomputed = SlaFacts {
        first_response_due: due(SlaTarget::FirstResponse).unwrap_or(facts.facts.first_response_due),
        resolution_due: due(SlaTarget::Resolution).unwrap_or(facts.facts.resolution_due),
        ..facts.facts
    };
    *sla = recomputed.at(now);
    sla.next_response_due = clock
        .due(SlaTarget::NextResponse, services)
        .filter(|_| facts.next_response_since.is_some());
}
