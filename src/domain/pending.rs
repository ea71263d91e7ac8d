//! Pending and resume (CONTRACT 9): a ticket waits on its requester, and its SLA clocks pause.
//!
//! The pause is kept as the instant it began; when it ends it joins the ticket's pauses and the
//! due times are recomputed from creation by the business-time clock, which leaves every pause
//! out, so pausing never shortens a target. The engine decides everything here: who may pause,
//! who resumes, and the timer's `until`.

use chrono::TimeDelta;
use ticket_nats::events::{ResumedBy, SlaDue, TicketEvent, TicketPending, TicketResumed};
use ticket_nats::Timestamp;

use super::aggregate::{Ticket, TicketError, TicketServices};
use super::business_time::Pause as ClockPause;
use super::commands::{PendTicket, ResumeAtUntil, ResumeTicket};
use super::values::{Pause, Role, Status};

/// The furthest ahead a pause's `until` may lie.
pub const UNTIL_MAX_DAYS: i64 = 365;

/// Why `until` is refused, if it is: it must lie after `now` and at most a year ahead.
pub fn check_until(until: Timestamp, now: Timestamp) -> Result<(), String> {
    let until = until.as_datetime();
    let now = now.as_datetime();
    if until <= now {
        return Err("must lie in the future".into());
    }
    if until - now > TimeDelta::days(UNTIL_MAX_DAYS) {
        return Err(format!("must lie at most {UNTIL_MAX_DAYS} days ahead"));
    }
    Ok(())
}

impl Ticket {
    /// Whether the ticket waits on its requester.
    pub fn is_pending(&self) -> bool {
        self.status == Status::Pending
    }

    pub(super) fn pend(&self, c: PendTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        Self::require_staff(&c.by, "only agents and admins may set a ticket pending")?;
        match self.status {
            Status::Open | Status::InProgress => {}
            Status::Pending => return Err(TicketError::Conflict("the ticket is pending".into())),
            Status::Closed => return Err(TicketError::Conflict("the ticket is closed".into())),
        }
        Ok(Some(TicketEvent::Pending(TicketPending {
            reason: c.reason,
            until: c.until,
        })))
    }

    pub(super) fn resume(
        &self,
        c: ResumeTicket,
        services: &TicketServices,
    ) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        Self::require_staff(&c.by, "only agents and admins may resume a ticket")?;
        if !self.is_pending() {
            return Err(TicketError::Conflict("the ticket is not pending".into()));
        }
        Ok(Some(self.resumed(ResumedBy::Staff, c.at, services)))
    }

    /// The timer may fire late, early or twice, and a pause may have ended or been replaced
    /// meanwhile: only a pause whose `until` has come is ended.
    pub(super) fn resume_at_until(
        &self,
        c: ResumeAtUntil,
        services: &TicketServices,
    ) -> Option<TicketEvent> {
        let until = self.pause.and_then(|p| p.until)?;
        (self.created && self.is_pending() && c.at >= until)
            .then(|| self.resumed(ResumedBy::Timer, c.at, services))
    }

    /// What follows `event` by rule: a public comment by the requester on a pending ticket
    /// resumes it. Decided on the state before `event`.
    pub(super) fn follow_up(
        &self,
        event: &TicketEvent,
        at: Timestamp,
        services: &TicketServices,
    ) -> Option<TicketEvent> {
        let TicketEvent::Commented(comment) = event else {
            return None;
        };
        let by_requester = self
            .requester
            .as_ref()
            .is_some_and(|r| r.id == comment.author.id)
            && comment.author.role == Role::Requester.as_str();
        (self.is_pending() && by_requester)
            .then(|| self.resumed(ResumedBy::Requester, at, services))
    }

    /// `ticket.resumed` with the due times recomputed from creation, this pause left out too.
    fn resumed(&self, by: ResumedBy, at: Timestamp, services: &TicketServices) -> TicketEvent {
        let mut pauses = self.pauses.clone();
        pauses.extend(self.clock_pause(at));
        let sla = self.sla.map(|due| match (self.priority, self.created_at) {
            (Some(p), Some(_)) => self.recomputed(services, p, &pauses, at),
            _ => self.shifted(due, self.pause_length(at)),
        });
        TicketEvent::Resumed(TicketResumed { by, sla })
    }

    /// The pause in force as the business-time clock sees it, ending at `at`.
    fn clock_pause(&self, at: Timestamp) -> Option<ClockPause> {
        let since = self.pause.and_then(|p| p.since)?;
        let start_ms = since.as_datetime().timestamp_millis();
        let end_ms = at.as_datetime().timestamp_millis().max(start_ms);
        Some(ClockPause { start_ms, end_ms })
    }

    /// Wall-clock seconds of the pause in force, up to `at` (never negative).
    fn pause_length(&self, at: Timestamp) -> i64 {
        self.pause
            .and_then(|p| p.since)
            .map(|since| {
                (at.as_datetime() - since.as_datetime())
                    .num_seconds()
                    .max(0)
            })
            .unwrap_or(0)
    }

    /// `due` moved later by `secs` seconds.
    pub(super) fn shifted(&self, due: SlaDue, secs: i64) -> SlaDue {
        let by = TimeDelta::try_seconds(secs).unwrap_or(TimeDelta::zero());
        SlaDue {
            first_response_due: due.first_response_due.plus(by),
            resolution_due: due.resolution_due.plus(by),
        }
    }

    pub(super) fn apply_pending(&mut self, e: TicketPending) {
        self.status = Status::Pending;
        self.pause = Some(Pause {
            since: self.clock,
            until: e.until,
        });
    }

    pub(super) fn apply_resumed(&mut self, e: TicketResumed) {
        self.end_pause();
        self.status = if self.assignee.is_some() {
            Status::InProgress
        } else {
            Status::Open
        };
        if let Some(sla) = e.sla {
            self.sla = Some(sla);
        }
    }

    /// Ends the pause in force (a resume, or a close of a pending ticket), counting its length
    /// and moving the due times by it: `ticket.resumed` carries the same due times, and a
    /// close has none to carry, so a reopened ticket keeps the time it spent pending.
    pub(super) fn end_pause(&mut self) {
        if let Some(at) = self.clock.filter(|_| self.pause.is_some()) {
            let paused = self.pause_length(at);
            if let Some(pause) = self.clock_pause(at) {
                self.pauses.push(pause);
            }
            self.paused_secs += paused;
            self.sla = self.sla.map(|due| self.shifted(due, paused));
        }
        self.pause = None;
    }

    /// Applies a stored event, recorded at `time`.
    pub fn apply_at(&mut self, event: TicketEvent, time: Option<Timestamp>) {
        self.clock = time;
        cqrs_es::Aggregate::apply(self, event);
    }
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
