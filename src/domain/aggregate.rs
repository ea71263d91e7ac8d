//! The Ticket aggregate: who may do what to a ticket and when (CONTRACT 2.1 and 2.3).
//!
//! `handle` decides, `apply` only records. Each command yields at most one event, so the rules
//! live in [`Ticket::decide`], a plain function, and `handle` merely writes what it decided.

use chrono::TimeDelta;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use ticket_nats::events::{
    AuthorRef, FieldChange, RequesterRef, SlaBreached, SlaDue, SlaTarget, TeamRef, TicketAssigned,
    TicketChanges, TicketClosed, TicketCommented, TicketCreated, TicketRated, TicketReopened,
    TicketUpdated, UserRef, CUSTOM_FIELD_PREFIX,
};
use ticket_nats::{TicketEvent, Timestamp};

use super::business_time::Pause as ClockPause;
use super::commands::{
    AssignTicket, CloseTicket, CommentOnTicket, CreateTicket, Issuer, RateTicket, RecordSlaBreach,
    ReopenTicket, TicketCommand, UpdateTicket,
};
use super::fields::custom_changes;
use super::opening_files::opening_comment;
use super::sla::{PriorityCalendars, SlaPolicy};
use super::values::{Channel, Priority, Role, Status};

/// What the aggregate needs from outside: the SLA targets and calendars in force.
#[derive(Debug, Clone, Default)]
pub struct TicketServices {
    /// Targets used for new tickets and for recomputing due times on a priority change.
    pub sla: SlaPolicy,
    /// The business hours each priority's targets count (24×7 by default).
    pub calendars: PriorityCalendars,
}

/// A ticket's state, rebuilt by applying its events in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// False until `ticket.created` is applied; every other command needs it true.
    pub created: bool,
    /// The short number for humans.
    pub number: i64,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The category.
    pub category: String,
    /// `None` only before creation (or for a stored priority this build cannot read).
    pub priority: Option<Priority>,
    /// `None` only before creation (or for a stored channel this build cannot read).
    pub channel: Option<Channel>,
    /// Open, in progress or closed.
    pub status: Status,
    /// Who the ticket is for.
    pub requester: Option<RequesterRef>,
    /// Who works on it.
    pub assignee: Option<UserRef>,
    /// The team it is given to (kept when only the assignee changes).
    #[serde(default)]
    pub team: Option<TeamRef>,
    /// The due times in force (recomputed when the priority changes).
    pub sla: Option<SlaDue>,
    /// A first response (a comment by someone other than the requester) happened.
    pub responded: bool,
    /// The resolution given by the latest close; kept across a reopen until the next close.
    pub resolution: Option<String>,
    /// The latest rating: score and comment. A later rating replaces it; a reopen keeps it.
    pub rating: Option<(u8, Option<String>)>,
    /// `ticket.sla_breached` was recorded for the first response.
    pub first_response_breached: bool,
    /// `ticket.sla_breached` was recorded for the resolution.
    pub resolution_breached: bool,
    /// Number of events applied, which is the `seq` of the last one.
    pub version: i64,
    /// The pause in force while `pending` (see [`super::pending`]).
    #[serde(default)]
    pub pause: Option<super::values::Pause>,
    /// Wall-clock seconds spent pending so far, over every pause that ended.
    #[serde(default)]
    pub paused_secs: i64,
    /// The time of the event being applied: set by whoever applies events (the store from the
    /// stored envelope, `handle` from the command), because an event's `data` does not carry
    /// its own time. `None` for events applied without one (tests that give bare events).
    #[serde(skip)]
    pub clock: Option<Timestamp>,
    /// `ticket.sla_warning` was recorded for the first response.
    #[serde(default)]
    pub first_response_warned: bool,
    /// `ticket.sla_warning` was recorded for the resolution.
    #[serde(default)]
    pub resolution_warned: bool,
    /// When `ticket.created` was recorded; `None` when applied without a clock.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Every pause that ended, in order: the business-time clock leaves them out.
    #[serde(default)]
    pub pauses: Vec<ClockPause>,
    /// The tags it carries (see `tags`).
    #[serde(default)]
    pub tags: std::collections::BTreeSet<String>,
    /// Its custom field values by key (unset ones absent).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
    /// Its links and merges (see `links`).
    #[serde(default)]
    pub links: super::links::Links,
    /// When the requester's public comment that started the next-response clock was recorded,
    /// while that clock runs (until a public staff reply or a close); `None` otherwise, and for
    /// a comment applied without a clock.
    #[serde(default)]
    pub next_response_since: Option<Timestamp>,
    /// `ticket.sla_warning` was recorded for the next response of the clock running now.
    #[serde(default)]
    pub next_response_warned: bool,
    /// `ticket.sla_breached` was recorded for the next response of the clock running now.
    #[serde(default)]
    pub next_response_breached: bool,
}

/// Why a command was refused. The HTTP layer maps these to 404, 403 and 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The ticket does not exist, or the caller may not know that it does.
    #[error("ticket not found")]
    NotFound,
    /// The caller's role may not use this command or field.
    #[error("{0}")]
    Forbidden(String),
    /// The ticket's state does not allow the command.
    #[error("{0}")]
    Conflict(String),
}

impl TicketError {
    fn forbidden(message: &str) -> Self {
        Self::Forbidden(message.to_string())
    }

    fn conflict(message: &str) -> Self {
        Self::Conflict(message.to_string())
    }
}

const CLOSED: &str = "the ticket is closed";
const NOT_CLOSED: &str = "the ticket is not closed";

impl Ticket {
    /// Whether `actor` may read this ticket: staff and auditors read every ticket, a requester
    /// only the tickets they requested.
    pub fn can_read(&self, actor: &Issuer) -> bool {
        actor.role.reads_everything() || self.is_requester(actor)
    }

    /// The ticket's requester is the actor, or a user merged into the actor (who now stands
    /// for them, CONTRACT 7).
    fn is_requester(&self, actor: &Issuer) -> bool {
        self.requester
            .as_ref()
            .is_some_and(|r| r.id == actor.id || actor.stands_for.contains(&r.id))
    }

    fn is_closed(&self) -> bool {
        self.status == Status::Closed
    }

    /// Rules (1) and (2) shared by every command on an existing ticket.
    pub(super) fn admit(&self, by: &Issuer) -> Result<(), TicketError> {
        // Checked before any role rule so that a requester learns nothing about tickets that
        // are not theirs, not even that they exist.
        if !self.created || (by.role == Role::Requester && !self.is_requester(by)) {
            return Err(TicketError::NotFound);
        }
        if by.role == Role::Auditor {
            return Err(TicketError::forbidden("auditors may not issue commands"));
        }
        Ok(())
    }

    pub(super) fn require_staff(by: &Issuer, message: &str) -> Result<(), TicketError> {
        if by.role.is_staff() {
            Ok(())
        } else {
            Err(TicketError::forbidden(message))
        }
    }

    fn require_open(&self) -> Result<(), TicketError> {
        if self.is_closed() {
            Err(TicketError::conflict(CLOSED))
        } else {
            Ok(())
        }
    }

    fn require_closed(&self) -> Result<(), TicketError> {
        if self.is_closed() {
            Ok(())
        } else {
            Err(TicketError::conflict(NOT_CLOSED))
        }
    }

    /// Every event `command` records, in order: its own (a merge records two on each side, a
    /// creation with files two, every other command at most one), each followed by what follows from it by rule (see
    /// [`Ticket::follow_up`]). Empty for an accepted no-op.
    pub(super) fn decisions(
        &self,
        command: TicketCommand,
        services: &TicketServices,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        let at = command.at();
        let own: Vec<TicketEvent> = match command {
            TicketCommand::MergeTicket(c) => self.merge(c)?,
            TicketCommand::MergeFrom(c) => self.merge_from(c)?,
            TicketCommand::CreateTicket(mut c) if c.files.is_some() => {
                let files = c.files.take();
                let by = c.by.clone();
                let mut events: Vec<_> = self.create(c, services)?.into_iter().collect();
                events.extend(files.and_then(|f| opening_comment(&by, *f)));
                events
            }
            other => self.decide(other, services)?.into_iter().collect(),
        };
        let mut events = Vec::with_capacity(own.len() + 1);
        for event in own {
            let follow_up = self.follow_up(&event, at, services);
            events.push(event);
            events.extend(follow_up);
        }
        Ok(events)
    }

    /// The event `command` records, if any: `Ok(None)` is an accepted no-op.
    fn decide(
        &self,
        command: TicketCommand,
        services: &TicketServices,
    ) -> Result<Option<TicketEvent>, TicketError> {
        match command {
            TicketCommand::CreateTicket(c) => self.create(c, services),
            TicketCommand::CommentOnTicket(c) => self.comment(c),
            TicketCommand::AssignTicket(c) => self.assign(c),
            TicketCommand::UpdateTicket(c) => self.update(c, services),
            TicketCommand::CloseTicket(c) => self.close(c),
            TicketCommand::ReopenTicket(c) => self.reopen(c),
            TicketCommand::RateTicket(c) => self.rate(c),
            TicketCommand::RecordSlaBreach(c) => Ok(self.sla_breach(c, services)),
            TicketCommand::PendTicket(c) => self.pend(c),
            TicketCommand::ResumeTicket(c) => self.resume(c, services),
            TicketCommand::ResumeAtUntil(c) => Ok(self.resume_at_until(c, services)),
            TicketCommand::RecordSlaWarning(c) => Ok(self.sla_warning(c, services)),
            TicketCommand::TagTicket(c) => self.tag(c),
            TicketCommand::LinkTicket(c) => self.link(c),
            TicketCommand::UnlinkTicket(c) => self.unlink(c),
            // Two events each: decided by `decide_events`, never here.
            TicketCommand::MergeTicket(_) | TicketCommand::MergeFrom(_) => Err(
                TicketError::conflict("a merge is decided with both of its events"),
            ),
        }
    }

    fn create(
        &self,
        c: CreateTicket,
        services: &TicketServices,
    ) -> Result<Option<TicketEvent>, TicketError> {
        if c.by.role == Role::Auditor {
            return Err(TicketError::forbidden("auditors may not issue commands"));
        }
        if c.by.role == Role::Requester && c.requester.id != c.by.id {
            return Err(TicketError::forbidden(
                "requesters may only open tickets for themselves",
            ));
        }
        if self.created {
            return Err(TicketError::conflict("the ticket already exists"));
        }
        Ok(Some(TicketEvent::Created(TicketCreated {
            number: c.number,
            title: c.title.into_inner(),
            description: c.description,
            category: c.category,
            priority: c.priority,
            channel: c.channel,
            requester: c.requester,
            sla: services
                .sla
                .due_in(services.calendars.get(c.priority), c.at, c.priority, &[]),
            integration: c.integration,
            metadata: c.metadata,
            fields: c.fields.filter(|f| !f.is_empty()),
        })))
    }

    fn comment(&self, c: CommentOnTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        if c.internal {
            Self::require_staff(&c.by, "only agents and admins may post internal comments")?;
        }
        self.require_open()?;
        Ok(Some(TicketEvent::Commented(TicketCommented {
            comment_id: c.comment_id,
            author: AuthorRef {
                id: c.by.id,
                name: c.by.name,
                role: c.by.role.as_str().to_string(),
            },
            body: c.body,
            internal: c.internal,
            via: c.via,
            attachments: c.attachments,
        })))
    }

    fn assign(&self, c: AssignTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        Self::require_staff(&c.by, "only agents and admins may assign tickets")?;
        self.require_open()?;
        // What the command does not name stays: an assignee alone never changes the team.
        let assignee = c.assignee.or_else(|| self.assignee.clone());
        let team = c.team.or_else(|| self.team.clone());
        // By id: a user or team renamed since the last assignment is still the same one.
        let same = |a: Option<uuid::Uuid>, b: Option<uuid::Uuid>| a == b;
        if same(
            assignee.as_ref().map(|a| a.id),
            self.assignee.as_ref().map(|a| a.id),
        ) && same(
            team.as_ref().map(|t| t.id),
            self.team.as_ref().map(|t| t.id),
        ) {
            return Ok(None);
        }
        Ok(Some(TicketEvent::Assigned(TicketAssigned {
            assignee,
            previous_assignee: self.assignee.clone(),
            team,
        })))
    }

    fn update(
        &self,
        c: UpdateTicket,
        services: &TicketServices,
    ) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        Self::require_staff(&c.by, "only agents and admins may update tickets")?;
        self.require_open()?;

        fn change(from: &str, to: String) -> Option<FieldChange> {
            (from != to).then(|| FieldChange {
                from: from.to_string(),
                to,
            })
        }
        let new_priority = c.priority.filter(|p| Some(*p) != self.priority);
        let changes = TicketChanges {
            title: c.title.and_then(|t| change(&self.title, t.into_inner())),
            description: c.description.and_then(|d| change(&self.description, d)),
            category: c.category.and_then(|k| change(&self.category, k)),
            priority: new_priority
                .zip(self.priority)
                .map(|(to, from)| FieldChange { from, to }),
            custom: custom_changes(&self.fields, c.fields),
        };
        if changes.is_empty() {
            return Ok(None);
        }
        let sla = new_priority.map(|p| self.recomputed(services, p, &self.pauses, c.at));
        Ok(Some(TicketEvent::Updated(TicketUpdated { changes, sla })))
    }

    /// The due times of priority `p` recomputed from creation with `pauses` left out: the one
    /// rule for a priority change and a resume (CONTRACT 9).
    pub(super) fn recomputed(
        &self,
        services: &TicketServices,
        p: Priority,
        pauses: &[ClockPause],
        at: Timestamp,
    ) -> SlaDue {
        if let Some(created_at) = self.created_at {
            return services
                .sla
                .due_in(services.calendars.get(p), created_at, p, pauses);
        }
        // Applied without a clock: the creation time is derived back from the due times on the
        // 24×7 clock, the nearest honest guess being the command's time.
        let created_at = self.derived_created_at(&services.sla).unwrap_or(at);
        self.shifted(services.sla.due(created_at, p), self.paused_secs)
    }

    /// The ticket's creation time, derived back from its current due times.
    ///
    /// Why derived: `apply` never sees an event's time and the contract fixes the data of
    /// `ticket.created` (it carries due times, not the creation time), so the state cannot
    /// hold the instant itself. `first_response_due − first-response target of the current
    /// priority` is exact as long as the SLA policy did not change since the due times were
    /// last computed (at creation or at the last priority change); after a policy change the
    /// result is off by the difference between the old and new targets of that priority.
    fn derived_created_at(&self, policy: &SlaPolicy) -> Option<Timestamp> {
        let due = self.sla?;
        // Due times lie later than creation + target by every pause that ended.
        let target = policy.targets(self.priority?).first_response_secs + self.paused_secs;
        Some(
            due.first_response_due
                .plus(TimeDelta::try_seconds(-target)?),
        )
    }

    fn close(&self, c: CloseTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        self.require_open()?;
        Ok(Some(TicketEvent::Closed(TicketClosed {
            resolution: c.resolution,
        })))
    }

    fn reopen(&self, c: ReopenTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        self.require_closed()?;
        if self.links.merged_into.is_some() {
            // Its history goes on in the ticket it was merged into.
            return Err(TicketError::conflict("the ticket was merged into another"));
        }
        Ok(Some(TicketEvent::Reopened(TicketReopened {
            reason: c.reason,
        })))
    }

    fn rate(&self, c: RateTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        // By id, not by role: the rating is the requester's verdict on how others handled
        // their ticket, so no one else (agents and admins included) may give it.
        if !self.is_requester(&c.by) {
            return Err(TicketError::forbidden(
                "only the ticket's requester may rate it",
            ));
        }
        self.require_closed()?;
        Ok(Some(TicketEvent::Rated(TicketRated {
            score: c.score,
            comment: c.comment,
            assignee: self.assignee.clone(),
        })))
    }

    /// Whether the ticket still waits for `target` and its clock runs: not closed, not
    /// pending, for the first response not yet answered, for the next response while a
    /// requester's comment waits for a staff reply.
    pub(super) fn awaits(&self, target: SlaTarget) -> bool {
        let running = !self.is_closed() && !self.is_pending();
        match target {
            SlaTarget::FirstResponse => running && !self.responded,
            SlaTarget::Resolution => running,
            SlaTarget::NextResponse => running && self.next_response_since.is_some(),
        }
    }

    /// The engine's SLA timer may fire late, early or twice; a breach is recorded once per
    /// target (for the next response, once per clock), only once it is due by the policy in
    /// force and only while the ticket still waits for that target.
    fn sla_breach(&self, c: RecordSlaBreach, services: &TicketServices) -> Option<TicketEvent> {
        if !self.created {
            return None;
        }
        if let Some(clock) = self.sla_clock() {
            let due_at = clock.due(c.target, services)?;
            let due = c.at >= due_at && clock.awaits(c.target) && !clock.breached.get(c.target);
            return due.then_some(TicketEvent::SlaBreached(SlaBreached {
                target: c.target,
                due_at,
            }));
        }
        // Applied without a clock (bare events): the due times the events recorded.
        let sla = self.sla?;
        let (due_at, already) = match c.target {
            SlaTarget::FirstResponse => (sla.first_response_due, self.first_response_breached),
            SlaTarget::Resolution => (sla.resolution_due, self.resolution_breached),
            SlaTarget::NextResponse => return None,
        };
        let waiting = self.awaits(c.target);
        (c.at >= due_at && !already && waiting).then_some(TicketEvent::SlaBreached(SlaBreached {
            target: c.target,
            due_at,
        }))
    }
}

impl Aggregate for Ticket {
    const TYPE: &'static str = ticket_nats::events::TICKET_AGGREGATE;
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    type Services = TicketServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        self.clock = Some(command.at());
        for event in self.decisions(command, services)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            TicketEvent::Created(e) => {
                self.created = true;
                self.number = e.number;
                self.title = e.title;
                self.description = e.description;
                self.category = e.category;
                // A stored value is never refused here: replay must not fail, and a name this
                // build cannot read leaves the field empty rather than inventing one.
                self.priority = Some(e.priority);
                self.channel = Some(e.channel);
                self.status = Status::Open;
                self.requester = Some(e.requester);
                self.sla = Some(e.sla);
                self.created_at = self.clock;
                self.fields = e.fields.unwrap_or_default();
            }
            TicketEvent::Commented(e) => {
                let requester_id = self.requester.as_ref().map(|r| r.id);
                // A requester-role author is the requester or a user merged into them.
                let by_requester =
                    Some(e.author.id) == requester_id || e.author.role == Role::Requester.as_str();
                if !by_requester {
                    self.responded = true;
                }
                self.apply_reply_clock(by_requester, e.internal);
            }
            TicketEvent::Assigned(e) => {
                if e.team.is_some() {
                    self.team = e.team;
                }
                self.assignee = e.assignee;
                // A ticket with a team and no one in it yet stays open.
                if self.status == Status::Open && self.assignee.is_some() {
                    self.status = Status::InProgress;
                }
            }
            TicketEvent::Updated(e) => {
                let TicketChanges {
                    title,
                    description,
                    category,
                    priority,
                    custom,
                } = e.changes;
                for (name, c) in custom {
                    let key = name.strip_prefix(CUSTOM_FIELD_PREFIX).unwrap_or(&name);
                    if c.to.is_null() {
                        self.fields.remove(key);
                    } else {
                        self.fields.insert(key.to_string(), c.to);
                    }
                }
                if let Some(c) = title {
                    self.title = c.to;
                }
                if let Some(c) = description {
                    self.description = c.to;
                }
                if let Some(c) = category {
                    self.category = c.to;
                }
                if let Some(c) = priority {
                    self.priority = Some(c.to);
                }
                if let Some(sla) = e.sla {
                    self.sla = Some(sla);
                }
            }
            TicketEvent::Closed(e) => {
                self.end_pause();
                self.next_response_since = None;
                self.status = Status::Closed;
                self.resolution = e.resolution;
            }
            TicketEvent::Reopened(_) => {
                self.status = if self.assignee.is_some() {
                    Status::InProgress
                } else {
                    Status::Open
                };
            }
            TicketEvent::Rated(e) => {
                self.rating = Some((e.score, e.comment));
            }
            TicketEvent::SlaBreached(e) => match e.target {
                SlaTarget::FirstResponse => self.first_response_breached = true,
                SlaTarget::Resolution => self.resolution_breached = true,
                SlaTarget::NextResponse => self.next_response_breached = true,
            },
            TicketEvent::Pending(e) => self.apply_pending(e),
            TicketEvent::Resumed(e) => self.apply_resumed(e),
            TicketEvent::SlaWarning(e) => self.apply_sla_warning(&e),
            TicketEvent::Tagged(e) => self.apply_tagged(e),
            e @ (TicketEvent::Linked(_)
            | TicketEvent::Unlinked(_)
            | TicketEvent::Merged(_)
            | TicketEvent::MergedFrom(_)) => self.apply_link(&e),
        }
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
