//! SLA warnings (CONTRACT 9): `ticket.sla_warning` once per target when 80 % of its time has
//! passed while it is still awaited, so that rules can notify before the breach.

use chrono::TimeDelta;
use ticket_nats::events::{SlaTarget, SlaWarning, TicketEvent};
use ticket_nats::Timestamp;

use super::aggregate::{Ticket, TicketServices};
use super::commands::RecordSlaWarning;

/// The share of a target's time after which it is warned, in percent.
pub const WARNING_PERCENT: i64 = 80;

impl Ticket {
    /// When `target` is warned: once 80 % of its target's business time has passed since
    /// creation, pauses left out, on the same clock as the due times.
    pub fn warning_at(&self, target: SlaTarget, services: &TicketServices) -> Option<Timestamp> {
        if let Some(clock) = self.sla_clock() {
            return clock.warning_at(target, services);
        }
        let sla = self.sla?;
        let targets = services.sla.targets(self.priority?);
        let (due, secs) = match target {
            SlaTarget::FirstResponse => (sla.first_response_due, targets.first_response_secs),
            SlaTarget::Resolution => (sla.resolution_due, targets.resolution_secs),
            SlaTarget::NextResponse => return None,
        };
        let share = secs.saturating_mul(WARNING_PERCENT) / 100;
        // Applied without a clock (bare events): back from the due time on the 24×7 clock.
        Some(due.plus(TimeDelta::try_seconds(share - secs)?))
    }

    /// The timer may fire late, early or twice, on two instances at once: a warning is
    /// recorded once per target, only from its warning instant, while the target is awaited and
    /// not yet breached.
    pub(super) fn sla_warning(
        &self,
        c: RecordSlaWarning,
        services: &TicketServices,
    ) -> Option<TicketEvent> {
        if !self.created || !self.awaits(c.target) {
            return None;
        }
        if let Some(clock) = self.sla_clock() {
            let from = clock.warning_at(c.target, services)?;
            let due_at = clock.due(c.target, services)?;
            let fresh = !clock.warned.get(c.target) && !clock.breached.get(c.target);
            return (c.at >= from && fresh).then_some(TicketEvent::SlaWarning(SlaWarning {
                target: c.target,
                due_at,
            }));
        }
        // Applied without a clock (bare events): the due times the events recorded.
        let sla = self.sla?;
        let (due_at, warned, breached) = match c.target {
            SlaTarget::FirstResponse => (
                sla.first_response_due,
                self.first_response_warned,
                self.first_response_breached,
            ),
            SlaTarget::Resolution => (
                sla.resolution_due,
                self.resolution_warned,
                self.resolution_breached,
            ),
            SlaTarget::NextResponse => return None,
        };
        let from = self.warning_at(c.target, services)?;
        (c.at >= from && !warned && !breached).then_some(TicketEvent::SlaWarning(SlaWarning {
            target: c.target,
            due_at,
        }))
    }

    pub(super) fn apply_sla_warning(&mut self, e: &SlaWarning) {
        match e.target {
            SlaTarget::FirstResponse => self.first_response_warned = true,
            SlaTarget::Resolution => self.resolution_warned = true,
            SlaTarget::NextResponse => self.next_response_warned = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use ticket_nats::events::{RequesterRef, TicketCreated};
    use uuid::Uuid;

    use super::*;
    use crate::domain::commands::{Issuer, PendTicket, RecordSlaBreach};
    use crate::domain::values::{Channel, Priority, Role};
    use crate::domain::{SlaPolicy, TicketCommand};

    fn at(secs: i64) -> Timestamp {
        let t0: Timestamp = "2026-11-23T10:00:00.000Z".parse().unwrap();
        t0.plus(TimeDelta::seconds(secs))
    }

    fn services() -> TicketServices {
        TicketServices {
            sla: SlaPolicy::default(),
            ..Default::default()
        }
    }

    /// An urgent ticket created at 0 s: first response due at 900 s, resolution at 3600 s.
    fn urgent() -> Ticket {
        let mut ticket = Ticket::default();
        ticket.apply_at(
            TicketEvent::Created(TicketCreated {
                fields: Default::default(),
                number: 1,
                title: "Server down".into(),
                description: String::new(),
                category: "system".into(),
                priority: Priority::Urgent,
                channel: Channel::Api,
                requester: RequesterRef {
                    id: Uuid::from_u128(1),
                    name: "Rita".into(),
                    email: None,
                },
                sla: SlaPolicy::default().due(at(0), Priority::Urgent),
                integration: None,
                metadata: None,
            }),
            Some(at(0)),
        );
        ticket
    }

    fn run(ticket: &mut Ticket, command: TicketCommand) -> Vec<TicketEvent> {
        let when = command.at();
        let events = ticket.decisions(command, &services()).unwrap();
        for e in &events {
            ticket.apply_at(e.clone(), Some(when));
        }
        events
    }

    fn warn(target: SlaTarget, secs: i64) -> TicketCommand {
        TicketCommand::RecordSlaWarning(RecordSlaWarning {
            target,
            at: at(secs),
        })
    }

    #[test]
    fn a_target_is_warned_once_from_eighty_percent_of_its_time() {
        let mut t = urgent();
        assert!(run(&mut t, warn(SlaTarget::FirstResponse, 719)).is_empty());
        assert_eq!(
            run(&mut t, warn(SlaTarget::FirstResponse, 720)),
            vec![TicketEvent::SlaWarning(SlaWarning {
                target: SlaTarget::FirstResponse,
                due_at: at(900),
            })]
        );
        assert!(run(&mut t, warn(SlaTarget::FirstResponse, 721)).is_empty());
        assert!(run(&mut t, warn(SlaTarget::Resolution, 2879)).is_empty());
        assert_eq!(run(&mut t, warn(SlaTarget::Resolution, 2880)).len(), 1);
        assert!(run(&mut t, warn(SlaTarget::Resolution, 2880)).is_empty());
    }

    #[test]
    fn nothing_is_warned_while_pending_or_after_the_breach() {
        let mut t = urgent();
        run(
            &mut t,
            TicketCommand::PendTicket(PendTicket {
                reason: None,
                until: None,
                by: Issuer {
                    id: Uuid::from_u128(2),
                    name: "Alan".into(),
                    email: "alan@example.com".into(),
                    role: Role::Agent,
                    stands_for: Vec::new(),
                },
                at: at(10),
            }),
        );
        assert!(run(&mut t, warn(SlaTarget::FirstResponse, 800)).is_empty());
        let mut breached = urgent();
        run(
            &mut breached,
            TicketCommand::RecordSlaBreach(RecordSlaBreach {
                target: SlaTarget::FirstResponse,
                at: at(901),
            }),
        );
        assert!(run(&mut breached, warn(SlaTarget::FirstResponse, 902)).is_empty());
    }
}
