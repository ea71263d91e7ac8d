//! Pending and resume: who may pause, what resumes, and how pauses move the due times.

use chrono::TimeDelta;
use proptest::prelude::*;
use ticket_nats::events::{
    RequesterRef, SlaBreached, SlaTarget, TicketClosed, TicketCreated, TicketReopened, UserRef,
};
use uuid::Uuid;

use super::*;
use crate::domain::commands::{
    AssignTicket, CloseTicket, CommentOnTicket, Issuer, RecordSlaBreach, UpdateTicket,
};
use crate::domain::values::{Channel, Priority};
use crate::domain::{SlaPolicy, TicketCommand, TicketServices};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn t0() -> Timestamp {
    ts("2026-11-23T10:00:00.000Z")
}

fn after(secs: i64) -> Timestamp {
    t0().plus(TimeDelta::seconds(secs))
}

fn who(n: u128, role: Role) -> Issuer {
    Issuer {
        id: Uuid::from_u128(n),
        name: format!("user{n}"),
        email: format!("user{n}@example.com"),
        role,
        stands_for: Vec::new(),
    }
}

fn requester() -> Issuer {
    who(1, Role::Requester)
}

fn agent() -> Issuer {
    who(2, Role::Agent)
}

fn services() -> TicketServices {
    TicketServices {
        sla: SlaPolicy::default(),
        ..Default::default()
    }
}

/// A medium ticket created at `t0` by `requester()`.
fn created() -> Ticket {
    let mut ticket = Ticket::default();
    let r = requester();
    ticket.apply_at(
        TicketEvent::Created(TicketCreated {
            fields: Default::default(),
            number: 7,
            title: "VPN drops".into(),
            description: String::new(),
            category: "network".into(),
            priority: Priority::Medium,
            channel: Channel::Web,
            requester: RequesterRef {
                id: r.id,
                name: r.name,
                email: Some(r.email),
            },
            sla: SlaPolicy::default().due(t0(), Priority::Medium),
            integration: None,
            metadata: None,
        }),
        Some(t0()),
    );
    ticket
}

/// Decides `command` and applies what it records at the command's time, as the store does.
fn run(ticket: &mut Ticket, command: TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
    let at = command.at();
    let events = ticket.decisions(command, &services())?;
    for e in &events {
        ticket.apply_at(e.clone(), Some(at));
    }
    Ok(events)
}

fn pend(by: Issuer, at: Timestamp, until: Option<Timestamp>) -> TicketCommand {
    TicketCommand::PendTicket(PendTicket {
        reason: Some("Which laptop?".into()),
        until,
        by,
        at,
    })
}

fn resume(by: Issuer, at: Timestamp) -> TicketCommand {
    TicketCommand::ResumeTicket(ResumeTicket { by, at })
}

fn comment(by: Issuer, at: Timestamp) -> TicketCommand {
    TicketCommand::CommentOnTicket(CommentOnTicket {
        comment_id: Uuid::now_v7(),
        body: "The grey one".into(),
        internal: false,
        via: None,
        attachments: Vec::new(),
        by,
        at,
    })
}

fn due(ticket: &Ticket) -> SlaDue {
    ticket.sla.unwrap()
}

fn medium_due_plus(secs: i64) -> SlaDue {
    let base = SlaPolicy::default().due(t0(), Priority::Medium);
    SlaDue {
        first_response_due: base.first_response_due.plus(TimeDelta::seconds(secs)),
        resolution_due: base.resolution_due.plus(TimeDelta::seconds(secs)),
    }
}

#[test]
fn staff_set_an_open_ticket_pending_with_reason_and_until() {
    let mut t = created();
    let until = after(86_400);
    let events = run(&mut t, pend(agent(), after(60), Some(until))).unwrap();
    assert_eq!(
        events,
        vec![TicketEvent::Pending(TicketPending {
            reason: Some("Which laptop?".into()),
            until: Some(until),
        })]
    );
    assert_eq!(t.status, Status::Pending);
}

#[test]
fn pending_is_refused_to_requesters_and_auditors_and_on_closed_or_pending_tickets() {
    let t = created();
    let mut requester_run = t.clone();
    assert!(matches!(
        run(&mut requester_run, pend(requester(), after(1), None)),
        Err(TicketError::Forbidden(_))
    ));
    let mut auditor_run = t.clone();
    assert!(matches!(
        run(
            &mut auditor_run,
            pend(who(3, Role::Auditor), after(1), None)
        ),
        Err(TicketError::Forbidden(_))
    ));
    let mut pending = t.clone();
    run(&mut pending, pend(agent(), after(1), None)).unwrap();
    assert!(matches!(
        run(&mut pending, pend(agent(), after(2), None)),
        Err(TicketError::Conflict(_))
    ));
    let mut closed = t;
    closed.apply_at(
        TicketEvent::Closed(TicketClosed { resolution: None }),
        Some(after(1)),
    );
    assert!(matches!(
        run(&mut closed, pend(agent(), after(2), None)),
        Err(TicketError::Conflict(_))
    ));
}

#[test]
fn resuming_moves_the_due_times_by_the_pause_and_returns_to_the_status_before() {
    let mut t = created();
    let a = agent();
    run(
        &mut t,
        TicketCommand::AssignTicket(AssignTicket {
            assignee: Some(UserRef {
                id: a.id,
                name: a.name.clone(),
            }),
            team: None,
            by: a.clone(),
            at: after(10),
        }),
    )
    .unwrap();
    run(&mut t, pend(a.clone(), after(100), None)).unwrap();
    let events = run(&mut t, resume(a, after(1_900))).unwrap();
    assert_eq!(
        events,
        vec![TicketEvent::Resumed(TicketResumed {
            by: ResumedBy::Staff,
            sla: Some(medium_due_plus(1_800)),
        })]
    );
    assert_eq!(t.status, Status::InProgress);
    assert_eq!(t.paused_secs, 1_800);
    assert_eq!(due(&t), medium_due_plus(1_800));
}

#[test]
fn resuming_a_ticket_that_is_not_pending_is_a_conflict_and_requesters_may_not() {
    let mut t = created();
    assert!(matches!(
        run(&mut t, resume(agent(), after(5))),
        Err(TicketError::Conflict(_))
    ));
    run(&mut t, pend(agent(), after(5), None)).unwrap();
    assert!(matches!(
        run(&mut t, resume(requester(), after(6))),
        Err(TicketError::Forbidden(_))
    ));
}

#[test]
fn the_requesters_comment_resumes_a_pending_ticket_and_staff_comments_do_not() {
    let mut t = created();
    run(&mut t, pend(agent(), after(60), None)).unwrap();
    let staff = run(&mut t, comment(agent(), after(120))).unwrap();
    assert_eq!(staff.len(), 1);
    assert_eq!(t.status, Status::Pending);
    let events = run(&mut t, comment(requester(), after(660))).unwrap();
    assert!(matches!(events[0], TicketEvent::Commented(_)));
    assert_eq!(
        events[1],
        TicketEvent::Resumed(TicketResumed {
            by: ResumedBy::Requester,
            sla: Some(medium_due_plus(600)),
        })
    );
    assert_eq!(t.status, Status::Open);
    // A requester's comment on a ticket that is not pending resumes nothing.
    assert_eq!(
        run(&mut t, comment(requester(), after(700))).unwrap().len(),
        1
    );
}

#[test]
fn the_timer_resumes_at_until_and_not_before() {
    let mut t = created();
    let until = after(3_600);
    run(&mut t, pend(agent(), after(0), Some(until))).unwrap();
    let early = TicketCommand::ResumeAtUntil(ResumeAtUntil { at: after(3_599) });
    assert!(run(&mut t, early).unwrap().is_empty());
    let on_time = TicketCommand::ResumeAtUntil(ResumeAtUntil { at: after(3_601) });
    let events = run(&mut t, on_time.clone()).unwrap();
    assert_eq!(
        events,
        vec![TicketEvent::Resumed(TicketResumed {
            by: ResumedBy::Timer,
            sla: Some(medium_due_plus(3_601)),
        })]
    );
    // Fired twice: the second finds nothing to resume.
    assert!(run(&mut t, on_time).unwrap().is_empty());
}

#[test]
fn the_timer_leaves_a_pause_without_until_alone() {
    let mut t = created();
    run(&mut t, pend(agent(), after(0), None)).unwrap();
    let late = TicketCommand::ResumeAtUntil(ResumeAtUntil { at: after(999_999) });
    assert!(run(&mut t, late).unwrap().is_empty());
}

#[test]
fn nothing_is_breached_while_pending() {
    let mut t = created();
    run(&mut t, pend(agent(), after(0), None)).unwrap();
    for target in [SlaTarget::FirstResponse, SlaTarget::Resolution] {
        let check = TicketCommand::RecordSlaBreach(RecordSlaBreach {
            target,
            at: after(10 * 86_400),
        });
        assert!(run(&mut t, check).unwrap().is_empty());
    }
    run(&mut t, resume(agent(), after(10 * 86_400))).unwrap();
    // After the pause the due times lie later by it: not yet breached.
    let check = TicketCommand::RecordSlaBreach(RecordSlaBreach {
        target: SlaTarget::Resolution,
        at: after(10 * 86_400 + 60),
    });
    assert!(run(&mut t, check).unwrap().is_empty());
    let overdue = TicketCommand::RecordSlaBreach(RecordSlaBreach {
        target: SlaTarget::Resolution,
        at: after(11 * 86_400),
    });
    assert_eq!(
        run(&mut t, overdue).unwrap(),
        vec![TicketEvent::SlaBreached(SlaBreached {
            target: SlaTarget::Resolution,
            due_at: medium_due_plus(10 * 86_400).resolution_due,
        })]
    );
}

#[test]
fn a_priority_change_after_a_pause_keeps_the_time_spent_pending() {
    let mut t = created();
    run(&mut t, pend(agent(), after(60), None)).unwrap();
    run(&mut t, resume(agent(), after(1_260))).unwrap();
    let events = run(
        &mut t,
        TicketCommand::UpdateTicket(UpdateTicket {
            fields: Default::default(),
            title: None,
            description: None,
            category: None,
            priority: Some(Priority::Urgent),
            by: agent(),
            at: after(2_000),
        }),
    )
    .unwrap();
    let TicketEvent::Updated(updated) = &events[0] else {
        panic!("expected ticket.updated, got {events:?}");
    };
    let urgent = SlaPolicy::default().due(t0(), Priority::Urgent);
    assert_eq!(
        updated.sla,
        Some(SlaDue {
            first_response_due: urgent.first_response_due.plus(TimeDelta::seconds(1_200)),
            resolution_due: urgent.resolution_due.plus(TimeDelta::seconds(1_200)),
        })
    );
}

#[test]
fn closing_a_pending_ticket_ends_the_pause_and_a_reopen_keeps_it_counted() {
    let mut t = created();
    run(&mut t, pend(agent(), after(0), None)).unwrap();
    run(
        &mut t,
        TicketCommand::CloseTicket(CloseTicket {
            resolution: None,
            by: agent(),
            at: after(500),
        }),
    )
    .unwrap();
    assert_eq!(t.status, Status::Closed);
    assert_eq!(t.pause, None);
    t.apply_at(
        TicketEvent::Reopened(TicketReopened { reason: None }),
        Some(after(600)),
    );
    assert_eq!(t.status, Status::Open);
    assert_eq!(due(&t), medium_due_plus(500));
}

#[test]
fn until_must_lie_ahead_and_within_a_year() {
    let now = t0();
    assert!(check_until(after(60), now).is_ok());
    assert!(check_until(now, now).is_err());
    assert!(check_until(after(-1), now).is_err());
    assert!(check_until(after(UNTIL_MAX_DAYS * 86_400), now).is_ok());
    assert!(check_until(after(UNTIL_MAX_DAYS * 86_400 + 1), now).is_err());
    assert!(check_until(after(10 * 365 * 86_400), now).is_err());
}

/// The 24×7 due time `target` seconds after `t0`, each pause that begins before it moving it
/// later by the pause's length: an oracle independent of the business-time clock.
fn due_with_pauses(target: i64, pauses: &[(i64, i64)]) -> Timestamp {
    let mut due = target;
    for &(start, end) in pauses {
        if start < due {
            due += end - start;
        }
    }
    after(due)
}

proptest! {
    /// Pausing never shortens a target: after any sequence of pauses the due times never move
    /// earlier, each lies later by exactly the pausing that began before it was due, and
    /// `paused_secs` counts every pause.
    #[test]
    fn pausing_never_shortens_and_counts_exactly(
        steps in proptest::collection::vec((1i64..100_000, 1i64..100_000, any::<bool>()), 0..12)
    ) {
        let mut t = created();
        let mut clock = 0i64;
        let mut paused = 0i64;
        let mut pauses = Vec::new();
        let mut last = due(&t);
        for (gap, pause, by_requester) in steps {
            clock += gap;
            run(&mut t, pend(agent(), after(clock), None)).unwrap();
            pauses.push((clock, clock + pause));
            clock += pause;
            paused += pause;
            if by_requester {
                run(&mut t, comment(requester(), after(clock))).unwrap();
            } else {
                run(&mut t, resume(agent(), after(clock))).unwrap();
            }
            let now = due(&t);
            prop_assert!(now.first_response_due >= last.first_response_due);
            prop_assert!(now.resolution_due >= last.resolution_due);
            last = now;
        }
        let targets = SlaPolicy::default().targets(Priority::Medium);
        prop_assert_eq!(
            due(&t),
            SlaDue {
                first_response_due: due_with_pauses(targets.first_response_secs, &pauses),
                resolution_due: due_with_pauses(targets.resolution_secs, &pauses),
            }
        );
        prop_assert_eq!(t.paused_secs, paused);
    }
}
