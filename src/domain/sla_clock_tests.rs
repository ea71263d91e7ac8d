//! Next response and recomputation: what the aggregate records, and when the timer asks.

use std::sync::Arc;

use chrono::TimeDelta;
use cqrs_es::test::TestFramework;
use ticket_nats::events::{
    RequesterRef, SlaBreached, SlaTarget, SlaWarning, TicketCreated, TicketEvent,
};
use ticket_nats::Timestamp;
use uuid::Uuid;

use super::*;
use crate::domain::calendar::Calendar;
use crate::domain::commands::{
    CloseTicket, CommentOnTicket, Issuer, PendTicket, RecordSlaBreach, RecordSlaWarning,
    ResumeTicket,
};
use crate::domain::sla::PriorityCalendars;
use crate::domain::values::{Channel, Role};
use crate::domain::{SlaPolicy, TicketCommand};

fn at(secs: i64) -> Timestamp {
    let t0: Timestamp = "2026-11-23T10:00:00.000Z".parse().unwrap();
    t0.plus(TimeDelta::seconds(secs))
}

/// Urgent: first response 900 s, resolution 3600 s, next response 600 s.
fn services() -> TicketServices {
    TicketServices {
        sla: SlaPolicy::parse("urgent=900/3600/600").unwrap(),
        ..Default::default()
    }
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

fn created_data() -> TicketCreated {
    TicketCreated {
        fields: Default::default(),
        number: 1,
        title: "Mail down".into(),
        description: String::new(),
        category: "system".into(),
        priority: Priority::Urgent,
        channel: Channel::Api,
        requester: RequesterRef {
            id: requester().id,
            name: requester().name,
            email: None,
        },
        sla: services().sla.due(at(0), Priority::Urgent),
        integration: None,
        metadata: None,
    }
}

/// An urgent ticket created at 0 s.
fn urgent() -> Ticket {
    let mut ticket = Ticket::default();
    ticket.apply_at(TicketEvent::Created(created_data()), Some(at(0)));
    ticket
}

fn run_with(ticket: &mut Ticket, command: TicketCommand, s: &TicketServices) -> Vec<TicketEvent> {
    let when = command.at();
    let events = ticket.decisions(command, s).unwrap();
    for e in &events {
        ticket.apply_at(e.clone(), Some(when));
    }
    events
}

fn run(ticket: &mut Ticket, command: TicketCommand) -> Vec<TicketEvent> {
    run_with(ticket, command, &services())
}

fn comment(by: Issuer, secs: i64, internal: bool) -> TicketCommand {
    TicketCommand::CommentOnTicket(CommentOnTicket {
        comment_id: Uuid::now_v7(),
        body: "words".into(),
        internal,
        via: None,
        attachments: Vec::new(),
        by,
        at: at(secs),
    })
}

fn warn(target: SlaTarget, secs: i64) -> TicketCommand {
    TicketCommand::RecordSlaWarning(RecordSlaWarning {
        target,
        at: at(secs),
    })
}

fn breach(target: SlaTarget, secs: i64) -> TicketCommand {
    TicketCommand::RecordSlaBreach(RecordSlaBreach {
        target,
        at: at(secs),
    })
}

const NEXT: SlaTarget = SlaTarget::NextResponse;

/// Answered at 60 s, asked again by the requester at 100 s: next response due at 700 s,
/// warned from 580 s.
fn waiting_for_reply() -> Ticket {
    let mut t = urgent();
    run(&mut t, comment(agent(), 60, false));
    run(&mut t, comment(requester(), 100, false));
    t
}

#[test]
fn a_requester_comment_starts_the_next_response_clock_and_a_staff_reply_stops_it() {
    let t = waiting_for_reply();
    let clock = t.sla_clock().unwrap();
    assert_eq!(clock.due(NEXT, &services()), Some(at(700)));
    assert_eq!(clock.warning_at(NEXT, &services()), Some(at(580)));
    // A second requester comment does not restart the clock.
    let mut again = t.clone();
    run(&mut again, comment(requester(), 200, false));
    assert_eq!(
        again.sla_clock().unwrap().due(NEXT, &services()),
        Some(at(700))
    );
    // An internal note is no reply; a public staff comment is.
    let mut noted = t.clone();
    run(&mut noted, comment(agent(), 300, true));
    assert!(noted.sla_clock().unwrap().awaits(NEXT));
    run(&mut noted, comment(agent(), 301, false));
    assert!(!noted.sla_clock().unwrap().awaits(NEXT));
    assert!(run(&mut noted, breach(NEXT, 800)).is_empty());
}

#[test]
fn without_a_next_response_target_nothing_is_due() {
    let plain = TicketServices {
        sla: SlaPolicy::default(),
        ..Default::default()
    };
    let mut t = waiting_for_reply();
    assert_eq!(t.sla_clock().unwrap().due(NEXT, &plain), None);
    assert!(run_with(&mut t, warn(NEXT, 5000), &plain).is_empty());
    assert!(run_with(&mut t, breach(NEXT, 5000), &plain).is_empty());
}

#[test]
fn the_next_response_is_warned_then_breached_once_per_requester_comment() {
    let mut t = waiting_for_reply();
    assert!(run(&mut t, warn(NEXT, 579)).is_empty());
    assert_eq!(
        run(&mut t, warn(NEXT, 580)),
        vec![TicketEvent::SlaWarning(SlaWarning {
            target: NEXT,
            due_at: at(700),
        })]
    );
    assert!(run(&mut t, warn(NEXT, 581)).is_empty());
    assert!(run(&mut t, breach(NEXT, 699)).is_empty());
    assert_eq!(
        run(&mut t, breach(NEXT, 700)),
        vec![TicketEvent::SlaBreached(SlaBreached {
            target: NEXT,
            due_at: at(700),
        })]
    );
    assert!(run(&mut t, breach(NEXT, 701)).is_empty());
    // The reply ends that clock; the requester's next comment starts a new one, warned and
    // breached once more.
    run(&mut t, comment(agent(), 800, false));
    run(&mut t, comment(requester(), 1000, false));
    assert_eq!(run(&mut t, warn(NEXT, 1480)).len(), 1);
    assert_eq!(
        run(&mut t, breach(NEXT, 1600)),
        vec![TicketEvent::SlaBreached(SlaBreached {
            target: NEXT,
            due_at: at(1600),
        })]
    );
}

#[test]
fn a_pause_moves_the_next_response_and_nothing_is_recorded_while_pending() {
    let mut t = waiting_for_reply();
    run(
        &mut t,
        TicketCommand::PendTicket(PendTicket {
            reason: None,
            until: None,
            by: agent(),
            at: at(200),
        }),
    );
    assert!(run(&mut t, warn(NEXT, 650)).is_empty());
    assert!(run(&mut t, breach(NEXT, 800)).is_empty());
    assert_eq!(t.sla_clock().unwrap().next_instant(&services()), None);
    run(
        &mut t,
        TicketCommand::ResumeTicket(ResumeTicket {
            by: agent(),
            at: at(500),
        }),
    );
    // 300 s pending: due at 1000 s rather than 700 s.
    assert_eq!(
        t.sla_clock().unwrap().due(NEXT, &services()),
        Some(at(1000))
    );
    assert!(run(&mut t, breach(NEXT, 999)).is_empty());
    assert_eq!(run(&mut t, breach(NEXT, 1000)).len(), 1);
}

#[test]
fn closing_stops_the_next_response_clock() {
    let mut t = waiting_for_reply();
    run(
        &mut t,
        TicketCommand::CloseTicket(CloseTicket {
            resolution: None,
            by: agent(),
            at: at(200),
        }),
    );
    assert!(run(&mut t, breach(NEXT, 800)).is_empty());
    assert_eq!(t.sla_clock().unwrap().next_instant(&services()), None);
}

#[test]
fn a_policy_edit_moves_every_due_time_the_aggregate_decides_on() {
    let mut t = waiting_for_reply();
    // The policy now gives urgent tickets 300 s for a next response and 1200 s to resolve.
    let edited = TicketServices {
        sla: SlaPolicy::parse("urgent=900/1200/300").unwrap(),
        ..Default::default()
    };
    assert!(run_with(&mut t, breach(NEXT, 399), &edited).is_empty());
    assert_eq!(
        run_with(&mut t, breach(NEXT, 400), &edited),
        vec![TicketEvent::SlaBreached(SlaBreached {
            target: NEXT,
            due_at: at(400),
        })]
    );
    assert_eq!(
        run_with(&mut t, warn(SlaTarget::Resolution, 960), &edited),
        vec![TicketEvent::SlaWarning(SlaWarning {
            target: SlaTarget::Resolution,
            due_at: at(1200),
        })]
    );
    // A calendar edit too: closed on that day (a holiday), so nothing is due today.
    let closed_today = Calendar::new(
        "UTC",
        &[(
            "mon".to_string(),
            vec![["00:00".to_string(), "24:00".to_string()]],
        )]
        .into_iter()
        .collect(),
        &["2026-11-23".to_string()],
    )
    .unwrap();
    let holiday = TicketServices {
        sla: SlaPolicy::parse("urgent=900/3600/600").unwrap(),
        calendars: PriorityCalendars::all(Arc::new(closed_today)),
    };
    let fresh = urgent();
    assert!(run_with(
        &mut fresh.clone(),
        breach(SlaTarget::FirstResponse, 901),
        &holiday
    )
    .is_empty());
    let due = fresh
        .sla_clock()
        .unwrap()
        .due(SlaTarget::FirstResponse, &holiday)
        .unwrap();
    assert!(due > at(86_400));
}

#[test]
fn the_timer_is_asked_at_the_earliest_instant_and_told_what_is_due() {
    let mut t = waiting_for_reply();
    let s = services();
    // Next response warned at 580 s comes before the resolution's warning at 2880 s.
    assert_eq!(t.sla_clock().unwrap().next_instant(&s), Some(at(580)));
    run(&mut t, warn(NEXT, 580));
    assert_eq!(t.sla_clock().unwrap().next_instant(&s), Some(at(700)));
    // Late: everything due at once, warnings first; the aggregate records each once.
    let commands = t.sla_clock().unwrap().due_commands(&s, at(4000));
    let recorded: Vec<TicketEvent> = commands.into_iter().flat_map(|c| run(&mut t, c)).collect();
    let kinds: Vec<(&str, SlaTarget)> = recorded
        .iter()
        .map(|e| match e {
            TicketEvent::SlaWarning(w) => ("warning", w.target),
            TicketEvent::SlaBreached(b) => ("breach", b.target),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("warning", SlaTarget::Resolution),
            ("breach", NEXT),
            ("breach", SlaTarget::Resolution),
        ]
    );
    assert_eq!(t.sla_clock().unwrap().next_instant(&s), None);
}

#[test]
fn the_test_framework_records_a_next_response_breach_only_with_a_running_clock() {
    // Events given without a time start no clock (the store always gives one).
    TestFramework::<Ticket>::with(services())
        .given(vec![TicketEvent::Created(created_data())])
        .when(breach(NEXT, 5000))
        .then_expect_events(vec![]);
    // A requester's comment decided here is the comment alone: the clock starts when applied.
    let by = requester();
    TestFramework::<Ticket>::with(services())
        .given(vec![TicketEvent::Created(created_data())])
        .when(comment(by.clone(), 10, false))
        .inspect_result()
        .unwrap();
}
