//! A ticket's SLA clocks (CONTRACT 9) as one value: what the aggregate decides warnings and
//! breaches from, and what the SLA timer plans its next wake-up from. Both ask the same
//! functions here, over the same pure business-time clock, with the policy and calendars in
//! force *now*: so a policy or calendar edit moves the due times of every open ticket at once,
//! in the aggregate's decisions and in the timer's plan alike, with no event rewritten.

use ticket_nats::events::SlaTarget;
use ticket_nats::Timestamp;

use super::aggregate::{Ticket, TicketServices};
use super::business_time::Pause;
use super::commands::{RecordSlaBreach, RecordSlaWarning, ResumeAtUntil, TicketCommand};
use super::sla::due_after;
use super::sla_warning::WARNING_PERCENT;
use super::values::{Priority, Status};

/// Every target, in the order the timer asks about them.
pub const TARGETS: [SlaTarget; 3] = [
    SlaTarget::FirstResponse,
    SlaTarget::NextResponse,
    SlaTarget::Resolution,
];

/// One flag per target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerTarget {
    /// First response.
    pub first_response: bool,
    /// Resolution.
    pub resolution: bool,
    /// Next response (of the clock running now).
    pub next_response: bool,
}

impl PerTarget {
    /// The flag of `target`.
    pub fn get(&self, target: SlaTarget) -> bool {
        match target {
            SlaTarget::FirstResponse => self.first_response,
            SlaTarget::Resolution => self.resolution,
            SlaTarget::NextResponse => self.next_response,
        }
    }
}

/// What a ticket's SLA clocks depend on, all of it from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    /// The priority whose policy counts.
    pub priority: Priority,
    /// When `ticket.created` was recorded.
    pub created_at: Timestamp,
    /// Every pause that ended, in order.
    pub pauses: Vec<Pause>,
    /// The ticket is pending: every clock stands still.
    pub pending: bool,
    /// When the pause in force ends by itself, if it does.
    pub pending_until: Option<Timestamp>,
    /// The ticket is closed.
    pub closed: bool,
    /// Someone other than the requester commented.
    pub responded: bool,
    /// The requester's comment that started the next-response clock, while it runs.
    pub next_response_since: Option<Timestamp>,
    /// `ticket.sla_warning` recorded (for next response: for the clock running now).
    pub warned: PerTarget,
    /// `ticket.sla_breached` recorded (for next response: for the clock running now).
    pub breached: PerTarget,
}

impl SlaClock {
    /// Whether `target` is still awaited with its clock running: not closed, not pending; the
    /// first response not yet given; a next response only while a requester's comment waits.
    pub fn awaits(&self, target: SlaTarget) -> bool {
        let running = !self.closed && !self.pending;
        running
            && match target {
                SlaTarget::FirstResponse => !self.responded,
                SlaTarget::Resolution => true,
                SlaTarget::NextResponse => self.next_response_since.is_some(),
            }
    }

    /// Where `target`'s clock starts and how many seconds it has; `None` when it has none (no
    /// next-response target, or no requester comment waiting).
    fn span(&self, target: SlaTarget, services: &TicketServices) -> Option<(Timestamp, i64)> {
        let targets = services.sla.targets(self.priority);
        match target {
            SlaTarget::FirstResponse => Some((self.created_at, targets.first_response_secs)),
            SlaTarget::Resolution => Some((self.created_at, targets.resolution_secs)),
            SlaTarget::NextResponse => {
                Some((self.next_response_since?, targets.next_response_secs?))
            }
        }
    }

    /// When `target` is due by the policy and calendar in force, every ended pause left out.
    pub fn due(&self, target: SlaTarget, services: &TicketServices) -> Option<Timestamp> {
        let (start, secs) = self.span(target, services)?;
        Some(due_after(
            services.calendars.get(self.priority),
            start,
            secs,
            &self.pauses,
        ))
    }

    /// When `target` is warned: once 80 % of its business time has passed.
    pub fn warning_at(&self, target: SlaTarget, services: &TicketServices) -> Option<Timestamp> {
        let (start, secs) = self.span(target, services)?;
        let share = secs.saturating_mul(WARNING_PERCENT) / 100;
        Some(due_after(
            services.calendars.get(self.priority),
            start,
            share,
            &self.pauses,
        ))
    }

    /// The next instant at which `target` asks for the timer: its warning, else its breach;
    /// `None` when nothing more can be recorded for it.
    fn next_for(&self, target: SlaTarget, services: &TicketServices) -> Option<Timestamp> {
        if !self.awaits(target) || self.breached.get(target) {
            return None;
        }
        if self.warned.get(target) {
            self.due(target, services)
        } else {
            self.warning_at(target, services)
        }
    }

    /// The earliest instant at which the timer has something to ask the aggregate about this
    /// ticket (a warning, a breach, the end of a pause), or `None`.
    pub fn next_instant(&self, services: &TicketServices) -> Option<Timestamp> {
        if self.closed {
            return None;
        }
        if self.pending {
            return self.pending_until;
        }
        TARGETS
            .iter()
            .filter_map(|t| self.next_for(*t, services))
            .min()
    }

    /// The commands the timer issues at `now`, warnings before breaches: each one that the
    /// aggregate, deciding on the same clock, would record.
    pub fn due_commands(&self, services: &TicketServices, now: Timestamp) -> Vec<TicketCommand> {
        if self.closed {
            return Vec::new();
        }
        if self.pending {
            return match self.pending_until {
                Some(until) if until <= now => {
                    vec![TicketCommand::ResumeAtUntil(ResumeAtUntil { at: now })]
                }
                _ => Vec::new(),
            };
        }
        let mut warnings = Vec::new();
        let mut breaches = Vec::new();
        for target in TARGETS {
            if !self.awaits(target) || self.breached.get(target) {
                continue;
            }
            let warn = self.warning_at(target, services);
            if !self.warned.get(target) && warn.is_some_and(|w| w <= now) {
                warnings.push(TicketCommand::RecordSlaWarning(RecordSlaWarning {
                    target,
                    at: now,
                }));
            }
            if self.due(target, services).is_some_and(|d| d <= now) {
                breaches.push(TicketCommand::RecordSlaBreach(RecordSlaBreach {
                    target,
                    at: now,
                }));
            }
        }
        warnings.extend(breaches);
        warnings
    }
}

impl Ticket {
    /// The ticket's SLA clocks, when its creation time is known (every stored ticket).
    pub fn sla_clock(&self) -> Option<SlaClock> {
        if !self.created {
            return None;
        }
        Some(SlaClock {
            priority: self.priority?,
            created_at: self.created_at?,
            pauses: self.pauses.clone(),
            pending: self.is_pending(),
            pending_until: self.pause.and_then(|p| p.until),
            closed: self.status == Status::Closed,
            responded: self.responded,
            next_response_since: self.next_response_since,
            warned: PerTarget {
                first_response: self.first_response_warned,
                resolution: self.resolution_warned,
                next_response: self.next_response_warned,
            },
            breached: PerTarget {
                first_response: self.first_response_breached,
                resolution: self.resolution_breached,
                next_response: self.next_response_breached,
            },
        })
    }

    /// The next-response clock: a requester's public comment starts it unless one runs
    /// already (one clock, one warning and one breach per comment that starts it); a public
    /// staff reply stops it. Internal notes change nothing.
    pub(super) fn apply_reply_clock(&mut self, by_requester: bool, internal: bool) {
        if internal {
            return;
        }
        if !by_requester {
            self.next_response_since = None;
        } else if self.next_response_since.is_none() {
            self.next_response_since = self.clock;
            self.next_response_warned = false;
            self.next_response_breached = false;
        }
    }
}

#[cfg(test)]
#[path = "sla_clock_tests.rs"]
mod tests;
