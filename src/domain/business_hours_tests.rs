//! The aggregate on a business-hours calendar: due times, pauses, warnings and a priority change
//! all go through the business-time clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use ticket_nats::events::{RequesterRef, SlaDue, SlaTarget, TicketCreated, TicketEvent};
use ticket_nats::Timestamp;
use uuid::Uuid;

use super::aggregate::{Ticket, TicketServices};
use super::calendar::Calendar;
use super::commands::{
    CreateTicket, Issuer, PendTicket, RecordSlaWarning, ResumeTicket, UpdateTicket,
};
use super::sla::PriorityCalendars;
use super::values::{Channel, Priority, Role, Title};
use super::{SlaPolicy, TicketCommand};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Berlin, 08:00–18:00 on weekdays, Christmas Eve and Day off.
fn services() -> TicketServices {
    let day = vec![["08:00".to_string(), "18:00".to_string()]];
    let hours: BTreeMap<String, Vec<[String; 2]>> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), day.clone()))
        .collect();
    let holidays = ["2026-12-24".to_string(), "2026-12-25".to_string()];
    TicketServices {
        sla: SlaPolicy::default(),
        calendars: PriorityCalendars::all(Arc::new(
            Calendar::new("Europe/Berlin", &hours, &holidays).unwrap(),
        )),
    }
}

fn issuer(n: u128, role: Role) -> Issuer {
    Issuer {
        id: Uuid::from_u128(n),
        name: format!("user{n}"),
        email: format!("user{n}@example.com"),
        role,
        stands_for: Vec::new(),
    }
}

fn run(ticket: &mut Ticket, command: TicketCommand) -> Vec<TicketEvent> {
    let at = command.at();
    let events = ticket.decisions(command, &services()).unwrap();
    for e in &events {
        ticket.apply_at(e.clone(), Some(at));
    }
    events
}

/// A medium ticket (4 h / 24 h) opened at `at`.
fn create(at: &str) -> (Ticket, Vec<TicketEvent>) {
    let requester = issuer(1, Role::Requester);
    let mut ticket = Ticket::default();
    let events = run(
        &mut ticket,
        TicketCommand::CreateTicket(CreateTicket {
            fields: Default::default(),
            files: None,
            number: 1,
            title: Title::parse("Printer jam").unwrap(),
            description: String::new(),
            category: "hardware".into(),
            priority: Priority::Medium,
            channel: Channel::Web,
            requester: RequesterRef {
                id: requester.id,
                name: requester.name.clone(),
                email: None,
            },
            integration: None,
            metadata: None,
            by: requester,
            at: ts(at),
        }),
    );
    (ticket, events)
}

fn due(first: &str, resolution: &str) -> SlaDue {
    SlaDue {
        first_response_due: ts(first),
        resolution_due: ts(resolution),
    }
}

#[test]
fn due_times_count_business_hours_across_the_weekend() {
    // Friday 17:00 in Berlin: 1 h on Friday, then Monday, Tuesday, and 3 h on Wednesday.
    let (_, events) = create("2026-12-04T16:00:00.000Z");
    let TicketEvent::Created(TicketCreated { sla, .. }) = &events[0] else {
        panic!("expected ticket.created, got {events:?}");
    };
    assert_eq!(
        *sla,
        due("2026-12-07T10:00:00.000Z", "2026-12-09T10:00:00.000Z")
    );
}

#[test]
fn a_ticket_created_on_a_holiday_at_23_59_counts_from_the_next_business_day() {
    let (ticket, _) = create("2026-12-24T22:59:00.000Z");
    // Christmas Day is closed too; the weekend follows; Monday 28th 08:00 + 4 h.
    assert_eq!(
        ticket.sla.unwrap().first_response_due,
        ts("2026-12-28T11:00:00.000Z")
    );
}

#[test]
fn a_pause_moves_the_due_times_by_the_business_time_it_covered() {
    let agent = issuer(2, Role::Agent);
    let (mut ticket, _) = create("2026-12-04T16:00:00.000Z");
    // Pending from Saturday to Monday 11:00 local: only Monday 08:00–11:00 was business time.
    run(
        &mut ticket,
        TicketCommand::PendTicket(PendTicket {
            reason: None,
            until: None,
            by: agent.clone(),
            at: ts("2026-12-05T10:00:00.000Z"),
        }),
    );
    let events = run(
        &mut ticket,
        TicketCommand::ResumeTicket(ResumeTicket {
            by: agent.clone(),
            at: ts("2026-12-07T10:00:00.000Z"),
        }),
    );
    let TicketEvent::Resumed(resumed) = &events[0] else {
        panic!("expected ticket.resumed, got {events:?}");
    };
    let moved = due("2026-12-07T13:00:00.000Z", "2026-12-09T13:00:00.000Z");
    assert_eq!(resumed.sla, Some(moved));
    assert_eq!(ticket.paused_secs, 2 * 86_400);
    // 80 % of 4 h: Friday's hour, then 2 h 12 min after the resume at 11:00 local.
    assert_eq!(
        ticket.warning_at(SlaTarget::FirstResponse, &services()),
        Some(ts("2026-12-07T12:12:00.000Z"))
    );
    let warn = |at: &str| {
        ticket.decisions(
            TicketCommand::RecordSlaWarning(RecordSlaWarning {
                target: SlaTarget::FirstResponse,
                at: ts(at),
            }),
            &services(),
        )
    };
    assert_eq!(warn("2026-12-07T12:11:59.000Z").unwrap(), vec![]);
    assert_eq!(warn("2026-12-07T12:12:00.000Z").unwrap().len(), 1);

    // A priority change recomputes from creation on the same calendar, the pause still out.
    let events = run(
        &mut ticket,
        TicketCommand::UpdateTicket(UpdateTicket {
            fields: Default::default(),
            title: None,
            description: None,
            category: None,
            priority: Some(Priority::High),
            by: agent,
            at: ts("2026-12-07T10:30:00.000Z"),
        }),
    );
    let TicketEvent::Updated(updated) = &events[0] else {
        panic!("expected ticket.updated, got {events:?}");
    };
    // High: 1 h / 4 h; Friday's hour already used the first response's whole target.
    assert_eq!(
        updated.sla,
        Some(due("2026-12-04T17:00:00.000Z", "2026-12-07T13:00:00.000Z"))
    );
}
