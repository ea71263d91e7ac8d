//! The aggregate's rules, given / when / then.

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::domain::values::Title;

// ---- fixtures -------------------------------------------------------------------------

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Creation time of the `created()` fixture.
fn t0() -> Timestamp {
    ts("2026-11-23T10:00:00.000Z")
}

fn later() -> Timestamp {
    ts("2026-11-23T10:05:00.000Z")
}

fn actor(n: u128, name: &str, role: Role) -> Issuer {
    Issuer {
        id: Uuid::from_u128(n),
        name: name.to_string(),
        email: format!("{}@example.com", name.to_lowercase()),
        role,
        stands_for: Vec::new(),
    }
}

fn requester() -> Issuer {
    actor(1, "Rita", Role::Requester)
}

fn other_requester() -> Issuer {
    actor(2, "Otto", Role::Requester)
}

fn agent() -> Issuer {
    actor(3, "Alice", Role::Agent)
}

fn other_agent() -> Issuer {
    actor(4, "Bob", Role::Agent)
}

fn admin() -> Issuer {
    actor(5, "Ada", Role::Admin)
}

fn auditor() -> Issuer {
    actor(6, "Aldo", Role::Auditor)
}

fn requester_ref(a: &Issuer) -> RequesterRef {
    RequesterRef {
        id: a.id,
        name: a.name.clone(),
        email: Some(a.email.clone()),
    }
}

fn user_ref(a: &Issuer) -> UserRef {
    UserRef {
        id: a.id,
        name: a.name.clone(),
    }
}

fn services() -> TicketServices {
    TicketServices {
        sla: SlaPolicy::default(),
        ..Default::default()
    }
}

fn framework() -> TestFramework<Ticket> {
    TestFramework::<Ticket>::with(services())
}

fn created_data() -> TicketCreated {
    TicketCreated {
        number: 1042,
        title: "Printer jams".to_string(),
        description: "Every second page".to_string(),
        category: "printer".to_string(),
        priority: Priority::Medium,
        channel: Channel::Web,
        requester: requester_ref(&requester()),
        sla: SlaPolicy::default().due(t0(), Priority::Medium),
        integration: None,
        metadata: None,
        fields: None,
    }
}

fn created() -> TicketEvent {
    TicketEvent::Created(created_data())
}

fn assigned_to(a: &Issuer, previous: Option<&Issuer>) -> TicketEvent {
    TicketEvent::Assigned(TicketAssigned {
        assignee: Some(user_ref(a)),
        previous_assignee: previous.map(user_ref),
        team: None,
    })
}

fn closed() -> TicketEvent {
    TicketEvent::Closed(TicketClosed {
        resolution: Some("Replaced the roller".to_string()),
    })
}

fn reopened() -> TicketEvent {
    TicketEvent::Reopened(TicketReopened { reason: None })
}

fn commented_by(a: &Issuer, internal: bool) -> TicketEvent {
    TicketEvent::Commented(TicketCommented {
        comment_id: Uuid::from_u128(100),
        author: AuthorRef {
            id: a.id,
            name: a.name.clone(),
            role: a.role.as_str().to_string(),
        },
        body: "Looking into it".to_string(),
        internal,
        via: None,
        attachments: Vec::new(),
    })
}

fn breached(target: SlaTarget, due_at: Timestamp) -> TicketEvent {
    TicketEvent::SlaBreached(SlaBreached { target, due_at })
}

fn create_by(by: Issuer, for_whom: &Issuer) -> TicketCommand {
    TicketCommand::CreateTicket(CreateTicket {
        number: 1042,
        title: Title::parse("  Printer jams ").unwrap(),
        description: "Every second page".to_string(),
        category: "printer".to_string(),
        priority: Priority::Medium,
        channel: Channel::Web,
        requester: requester_ref(for_whom),
        integration: None,
        metadata: None,
        fields: None,
        files: None,
        by,
        at: t0(),
    })
}

fn comment(by: Issuer, internal: bool) -> TicketCommand {
    TicketCommand::CommentOnTicket(CommentOnTicket {
        comment_id: Uuid::from_u128(100),
        body: "Looking into it".to_string(),
        internal,
        via: None,
        attachments: Vec::new(),
        by,
        at: later(),
    })
}

fn assign(assignee: &Issuer, by: Issuer) -> TicketCommand {
    TicketCommand::AssignTicket(AssignTicket {
        assignee: Some(user_ref(assignee)),
        team: None,
        by,
        at: later(),
    })
}

fn update(by: Issuer) -> UpdateTicket {
    UpdateTicket {
        title: None,
        description: None,
        category: None,
        priority: None,
        fields: Default::default(),
        by,
        at: later(),
    }
}

fn close(by: Issuer) -> TicketCommand {
    TicketCommand::CloseTicket(CloseTicket {
        resolution: Some("Replaced the roller".to_string()),
        by,
        at: later(),
    })
}

fn reopen(by: Issuer) -> TicketCommand {
    TicketCommand::ReopenTicket(ReopenTicket {
        reason: Some("Jams again".to_string()),
        by,
        at: later(),
    })
}

fn rate(by: Issuer, score: u8) -> TicketCommand {
    TicketCommand::RateTicket(RateTicket {
        score,
        comment: Some("Quick fix".to_string()),
        by,
        at: later(),
    })
}

fn sla_check(target: SlaTarget, at: Timestamp) -> TicketCommand {
    TicketCommand::RecordSlaBreach(RecordSlaBreach { target, at })
}

fn replay(events: Vec<TicketEvent>) -> Ticket {
    let mut ticket = Ticket::default();
    for e in events {
        ticket.apply(e);
    }
    ticket
}

fn forbidden(v: cqrs_es::test::AggregateResultValidator<Ticket>) {
    let result = v.inspect_result();
    assert!(
        matches!(result, Err(TicketError::Forbidden(_))),
        "expected Forbidden, got {result:?}"
    );
}

fn conflict(v: cqrs_es::test::AggregateResultValidator<Ticket>) {
    let result = v.inspect_result();
    assert!(
        matches!(result, Err(TicketError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
}

// ---- create ---------------------------------------------------------------------------

#[test]
fn a_requester_opens_a_ticket_with_sla_due_times_counted_from_creation() {
    framework()
        .given_no_previous_events()
        .when(create_by(requester(), &requester()))
        .then_expect_events(vec![created()]);
}

#[test]
fn an_agent_may_open_a_ticket_for_someone_else() {
    framework()
        .given_no_previous_events()
        .when(create_by(agent(), &requester()))
        .then_expect_events(vec![created()]);
}

#[test]
fn an_urgent_ticket_is_due_within_fifteen_minutes_and_an_hour() {
    let mut command = create_by(admin(), &requester());
    if let TicketCommand::CreateTicket(c) = &mut command {
        c.priority = Priority::Urgent;
    }
    let events = framework()
        .given_no_previous_events()
        .when(command)
        .inspect_result()
        .unwrap();
    let TicketEvent::Created(data) = &events[0] else {
        panic!("expected created, got {events:?}");
    };
    assert_eq!(data.priority, "urgent");
    assert_eq!(data.sla.first_response_due, ts("2026-11-23T10:15:00.000Z"));
    assert_eq!(data.sla.resolution_due, ts("2026-11-23T11:00:00.000Z"));
}

#[test]
fn an_auditor_cannot_open_a_ticket() {
    forbidden(
        framework()
            .given_no_previous_events()
            .when(create_by(auditor(), &auditor())),
    );
}

#[test]
fn a_requester_cannot_open_a_ticket_for_someone_else() {
    forbidden(
        framework()
            .given_no_previous_events()
            .when(create_by(requester(), &other_requester())),
    );
}

#[test]
fn creating_a_ticket_that_already_exists_is_a_conflict() {
    conflict(
        framework()
            .given(vec![created()])
            .when(create_by(agent(), &requester())),
    );
}

#[test]
fn a_new_ticket_is_open_with_every_field_from_its_created_event() {
    let ticket = replay(vec![created()]);
    assert!(ticket.created);
    assert_eq!(ticket.status, Status::Open);
    assert_eq!(ticket.number, 1042);
    assert_eq!(ticket.title, "Printer jams");
    assert_eq!(ticket.description, "Every second page");
    assert_eq!(ticket.category, "printer");
    assert_eq!(ticket.priority, Some(Priority::Medium));
    assert_eq!(ticket.channel, Some(Channel::Web));
    assert_eq!(ticket.requester, Some(requester_ref(&requester())));
    assert_eq!(ticket.assignee, None);
    assert_eq!(ticket.sla, Some(created_data().sla));
    assert!(!ticket.responded);
    assert_eq!(ticket.version, 1);
}

// ---- comment --------------------------------------------------------------------------

#[test]
fn an_agent_comment_records_the_author_with_their_role() {
    framework()
        .given(vec![created()])
        .when(comment(agent(), false))
        .then_expect_events(vec![commented_by(&agent(), false)]);
}

#[test]
fn an_agent_may_post_an_internal_comment() {
    framework()
        .given(vec![created()])
        .when(comment(agent(), true))
        .then_expect_events(vec![commented_by(&agent(), true)]);
}

#[test]
fn an_admin_may_post_an_internal_comment() {
    framework()
        .given(vec![created()])
        .when(comment(admin(), true))
        .then_expect_events(vec![commented_by(&admin(), true)]);
}

#[test]
fn a_requester_may_comment_on_their_own_ticket() {
    framework()
        .given(vec![created()])
        .when(comment(requester(), false))
        .then_expect_events(vec![commented_by(&requester(), false)]);
}

#[test]
fn commenting_on_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(comment(agent(), false))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn a_requester_commenting_on_someone_elses_ticket_gets_not_found() {
    framework()
        .given(vec![created()])
        .when(comment(other_requester(), false))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn a_requester_a_duplicate_was_merged_into_comments_on_the_duplicates_ticket() {
    let kept = Issuer {
        stands_for: vec![requester().id],
        ..other_requester()
    };
    framework()
        .given(vec![created()])
        .when(comment(kept.clone(), false))
        .then_expect_events(vec![commented_by(&kept, false)]);
}

#[test]
fn standing_for_another_user_opens_none_of_a_third_users_tickets() {
    let kept = Issuer {
        stands_for: vec![Uuid::from_u128(99)],
        ..other_requester()
    };
    framework()
        .given(vec![created()])
        .when(comment(kept, false))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn a_comment_by_the_user_a_requester_was_merged_into_is_not_a_first_response() {
    let ticket = replay(vec![created(), commented_by(&other_requester(), false)]);
    assert!(!ticket.responded);
}

#[test]
fn a_requester_cannot_post_an_internal_comment() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(comment(requester(), true)),
    );
}

#[test]
fn an_auditor_cannot_comment() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(comment(auditor(), false)),
    );
}

#[test]
fn commenting_on_a_closed_ticket_is_a_conflict() {
    conflict(
        framework()
            .given(vec![created(), closed()])
            .when(comment(agent(), false)),
    );
}

#[test]
fn a_requesters_internal_comment_on_a_closed_ticket_is_forbidden_before_it_is_a_conflict() {
    forbidden(
        framework()
            .given(vec![created(), closed()])
            .when(comment(requester(), true)),
    );
}

#[test]
fn a_requester_asking_about_someone_elses_closed_ticket_gets_not_found_first() {
    framework()
        .given(vec![created(), closed()])
        .when(comment(other_requester(), true))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn the_requesters_own_comment_is_not_a_first_response() {
    let ticket = replay(vec![created(), commented_by(&requester(), false)]);
    assert!(!ticket.responded);
    assert_eq!(ticket.version, 2);
}

#[test]
fn the_first_comment_by_someone_other_than_the_requester_is_the_first_response() {
    let ticket = replay(vec![
        created(),
        commented_by(&requester(), false),
        commented_by(&agent(), true),
    ]);
    assert!(ticket.responded, "an internal comment counts too");
    assert_eq!(ticket.version, 3);
}

#[test]
fn an_agent_who_requested_the_ticket_does_not_respond_to_themself() {
    let mut data = created_data();
    data.requester = requester_ref(&agent());
    let ticket = replay(vec![
        TicketEvent::Created(data),
        commented_by(&agent(), false),
    ]);
    assert!(!ticket.responded);
}

// ---- assign ---------------------------------------------------------------------------

#[test]
fn assigning_an_open_ticket_records_no_previous_assignee_and_starts_progress() {
    framework()
        .given(vec![created()])
        .when(assign(&agent(), admin()))
        .then_expect_events(vec![assigned_to(&agent(), None)]);
    let ticket = replay(vec![created(), assigned_to(&agent(), None)]);
    assert_eq!(ticket.status, Status::InProgress);
    assert_eq!(ticket.assignee, Some(user_ref(&agent())));
}

#[test]
fn reassigning_carries_the_previous_assignee_and_stays_in_progress() {
    framework()
        .given(vec![created(), assigned_to(&agent(), None)])
        .when(assign(&other_agent(), agent()))
        .then_expect_events(vec![assigned_to(&other_agent(), Some(&agent()))]);
    let ticket = replay(vec![
        created(),
        assigned_to(&agent(), None),
        assigned_to(&other_agent(), Some(&agent())),
    ]);
    assert_eq!(ticket.status, Status::InProgress);
    assert_eq!(ticket.assignee, Some(user_ref(&other_agent())));
}

#[test]
fn assigning_the_current_assignee_again_records_nothing() {
    framework()
        .given(vec![created(), assigned_to(&agent(), None)])
        .when(assign(&agent(), admin()))
        .then_expect_events(vec![]);
}

#[test]
fn assigning_the_current_assignee_under_a_new_name_records_nothing() {
    let mut renamed = agent();
    renamed.name = "Alice Smith".to_string();
    framework()
        .given(vec![created(), assigned_to(&agent(), None)])
        .when(assign(&renamed, admin()))
        .then_expect_events(vec![]);
}

#[test]
fn a_requester_cannot_assign_their_ticket() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(assign(&agent(), requester())),
    );
}

#[test]
fn an_auditor_cannot_assign() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(assign(&agent(), auditor())),
    );
}

#[test]
fn a_requester_assigning_someone_elses_ticket_gets_not_found() {
    framework()
        .given(vec![created()])
        .when(assign(&agent(), other_requester()))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn assigning_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(assign(&agent(), admin()))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn assigning_a_closed_ticket_is_a_conflict() {
    conflict(
        framework()
            .given(vec![created(), closed()])
            .when(assign(&agent(), admin())),
    );
}

#[test]
fn assigning_the_current_assignee_of_a_closed_ticket_is_still_a_conflict() {
    conflict(
        framework()
            .given(vec![created(), assigned_to(&agent(), None), closed()])
            .when(assign(&agent(), admin())),
    );
}

// ---- update ---------------------------------------------------------------------------

#[test]
fn an_update_records_only_the_fields_that_changed() {
    let command = UpdateTicket {
        title: Some(Title::parse("Printer jams on floor 3").unwrap()),
        description: Some("Every second page".to_string()),
        category: Some("hardware".to_string()),
        ..update(agent())
    };
    framework()
        .given(vec![created()])
        .when(TicketCommand::UpdateTicket(command))
        .then_expect_events(vec![TicketEvent::Updated(TicketUpdated {
            changes: TicketChanges {
                title: Some(FieldChange {
                    from: "Printer jams".to_string(),
                    to: "Printer jams on floor 3".to_string(),
                }),
                category: Some(FieldChange {
                    from: "printer".to_string(),
                    to: "hardware".to_string(),
                }),
                ..TicketChanges::default()
            },
            sla: None,
        })]);
}

#[test]
fn a_priority_change_recomputes_the_due_times_from_creation() {
    let command = UpdateTicket {
        priority: Some(Priority::Urgent),
        ..update(admin())
    };
    framework()
        .given(vec![created(), commented_by(&agent(), false)])
        .when(TicketCommand::UpdateTicket(command))
        .then_expect_events(vec![TicketEvent::Updated(TicketUpdated {
            changes: TicketChanges {
                priority: Some(FieldChange {
                    from: Priority::Medium,
                    to: Priority::Urgent,
                }),
                ..TicketChanges::default()
            },
            sla: Some(SlaDue {
                first_response_due: ts("2026-11-23T10:15:00.000Z"),
                resolution_due: ts("2026-11-23T11:00:00.000Z"),
            }),
        })]);
}

#[test]
fn a_second_priority_change_still_counts_from_creation() {
    let first = TicketEvent::Updated(TicketUpdated {
        changes: TicketChanges {
            priority: Some(FieldChange {
                from: Priority::Medium,
                to: Priority::Urgent,
            }),
            ..TicketChanges::default()
        },
        sla: Some(SlaPolicy::default().due(t0(), Priority::Urgent)),
    });
    let command = UpdateTicket {
        priority: Some(Priority::Low),
        ..update(agent())
    };
    framework()
        .given(vec![created(), first])
        .when(TicketCommand::UpdateTicket(command))
        .then_expect_events(vec![TicketEvent::Updated(TicketUpdated {
            changes: TicketChanges {
                priority: Some(FieldChange {
                    from: Priority::Urgent,
                    to: Priority::Low,
                }),
                ..TicketChanges::default()
            },
            sla: Some(SlaDue {
                first_response_due: ts("2026-11-24T10:00:00.000Z"),
                resolution_due: ts("2026-11-26T10:00:00.000Z"),
            }),
        })]);
}

#[test]
fn a_priority_change_follows_a_configured_policy() {
    let policy = SlaPolicy::parse("medium=600/1200,high=60/120").unwrap();
    let mut data = created_data();
    data.sla = policy.due(t0(), Priority::Medium);
    let command = UpdateTicket {
        priority: Some(Priority::High),
        ..update(agent())
    };
    let events = TestFramework::<Ticket>::with(TicketServices {
        sla: policy,
        ..Default::default()
    })
    .given(vec![TicketEvent::Created(data)])
    .when(TicketCommand::UpdateTicket(command))
    .inspect_result()
    .unwrap();
    let TicketEvent::Updated(updated) = &events[0] else {
        panic!("expected updated, got {events:?}");
    };
    assert_eq!(
        updated.sla,
        Some(SlaDue {
            first_response_due: ts("2026-11-23T10:01:00.000Z"),
            resolution_due: ts("2026-11-23T10:02:00.000Z"),
        })
    );
}

#[test]
fn an_update_that_repeats_the_current_values_records_nothing() {
    let command = UpdateTicket {
        title: Some(Title::parse("Printer jams").unwrap()),
        description: Some("Every second page".to_string()),
        category: Some("printer".to_string()),
        priority: Some(Priority::Medium),
        ..update(agent())
    };
    framework()
        .given(vec![created()])
        .when(TicketCommand::UpdateTicket(command))
        .then_expect_events(vec![]);
}

#[test]
fn an_update_without_any_field_records_nothing() {
    framework()
        .given(vec![created()])
        .when(TicketCommand::UpdateTicket(update(admin())))
        .then_expect_events(vec![]);
}

#[test]
fn a_requester_cannot_update_their_ticket() {
    let command = UpdateTicket {
        title: Some(Title::parse("Mine").unwrap()),
        ..update(requester())
    };
    forbidden(
        framework()
            .given(vec![created()])
            .when(TicketCommand::UpdateTicket(command)),
    );
}

#[test]
fn an_auditor_cannot_update() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(TicketCommand::UpdateTicket(update(auditor()))),
    );
}

#[test]
fn a_requester_updating_someone_elses_ticket_gets_not_found() {
    framework()
        .given(vec![created()])
        .when(TicketCommand::UpdateTicket(update(other_requester())))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn updating_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(TicketCommand::UpdateTicket(update(agent())))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn updating_a_closed_ticket_is_a_conflict() {
    let command = UpdateTicket {
        title: Some(Title::parse("Too late").unwrap()),
        ..update(agent())
    };
    conflict(
        framework()
            .given(vec![created(), closed()])
            .when(TicketCommand::UpdateTicket(command)),
    );
}

#[test]
fn applying_an_update_changes_the_fields_and_the_due_times() {
    let due = SlaPolicy::default().due(t0(), Priority::High);
    let ticket = replay(vec![
        created(),
        TicketEvent::Updated(TicketUpdated {
            changes: TicketChanges {
                title: Some(FieldChange {
                    from: "Printer jams".to_string(),
                    to: "Printer broken".to_string(),
                }),
                description: Some(FieldChange {
                    from: "Every second page".to_string(),
                    to: "Smoke".to_string(),
                }),
                category: Some(FieldChange {
                    from: "printer".to_string(),
                    to: "hardware".to_string(),
                }),
                priority: Some(FieldChange {
                    from: Priority::Medium,
                    to: Priority::High,
                }),
                custom: Default::default(),
            },
            sla: Some(due),
        }),
    ]);
    assert_eq!(ticket.title, "Printer broken");
    assert_eq!(ticket.description, "Smoke");
    assert_eq!(ticket.category, "hardware");
    assert_eq!(ticket.priority, Some(Priority::High));
    assert_eq!(ticket.sla, Some(due));
    assert_eq!(ticket.version, 2);
}

// ---- close and reopen -----------------------------------------------------------------

#[test]
fn an_agent_closes_a_ticket_with_a_resolution() {
    framework()
        .given(vec![created(), assigned_to(&agent(), None)])
        .when(close(agent()))
        .then_expect_events(vec![closed()]);
    let ticket = replay(vec![created(), assigned_to(&agent(), None), closed()]);
    assert_eq!(ticket.status, Status::Closed);
    assert_eq!(ticket.resolution.as_deref(), Some("Replaced the roller"));
    assert_eq!(
        ticket.assignee,
        Some(user_ref(&agent())),
        "closing keeps the assignee"
    );
}

#[test]
fn a_requester_may_close_their_own_ticket_without_a_resolution() {
    let command = TicketCommand::CloseTicket(CloseTicket {
        resolution: None,
        by: requester(),
        at: later(),
    });
    framework()
        .given(vec![created()])
        .when(command)
        .then_expect_events(vec![TicketEvent::Closed(TicketClosed { resolution: None })]);
}

#[test]
fn closing_a_closed_ticket_is_a_conflict() {
    conflict(
        framework()
            .given(vec![created(), closed()])
            .when(close(agent())),
    );
}

#[test]
fn an_auditor_cannot_close() {
    forbidden(framework().given(vec![created()]).when(close(auditor())));
}

#[test]
fn a_requester_closing_someone_elses_ticket_gets_not_found() {
    framework()
        .given(vec![created()])
        .when(close(other_requester()))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn closing_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(close(admin()))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn a_requester_may_reopen_their_closed_ticket() {
    framework()
        .given(vec![created(), closed()])
        .when(reopen(requester()))
        .then_expect_events(vec![TicketEvent::Reopened(TicketReopened {
            reason: Some("Jams again".to_string()),
        })]);
}

#[test]
fn a_reopened_ticket_without_an_assignee_is_open() {
    let ticket = replay(vec![created(), closed(), reopened()]);
    assert_eq!(ticket.status, Status::Open);
}

#[test]
fn a_reopened_ticket_with_an_assignee_is_in_progress() {
    let ticket = replay(vec![
        created(),
        assigned_to(&agent(), None),
        closed(),
        reopened(),
    ]);
    assert_eq!(ticket.status, Status::InProgress);
}

#[test]
fn reopening_a_ticket_that_is_not_closed_is_a_conflict() {
    conflict(framework().given(vec![created()]).when(reopen(agent())));
    conflict(
        framework()
            .given(vec![created(), assigned_to(&agent(), None)])
            .when(reopen(requester())),
    );
}

#[test]
fn an_auditor_cannot_reopen() {
    forbidden(
        framework()
            .given(vec![created(), closed()])
            .when(reopen(auditor())),
    );
}

#[test]
fn a_requester_reopening_someone_elses_ticket_gets_not_found() {
    framework()
        .given(vec![created(), closed()])
        .when(reopen(other_requester()))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn reopening_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(reopen(agent()))
        .then_expect_error(TicketError::NotFound);
}

// ---- rate -----------------------------------------------------------------------------

#[test]
fn the_requester_rates_a_closed_ticket_naming_the_current_assignee() {
    framework()
        .given(vec![created(), assigned_to(&agent(), None), closed()])
        .when(rate(requester(), 5))
        .then_expect_events(vec![TicketEvent::Rated(TicketRated {
            score: 5,
            comment: Some("Quick fix".to_string()),
            assignee: Some(user_ref(&agent())),
        })]);
}

#[test]
fn rating_an_unassigned_ticket_names_no_assignee() {
    framework()
        .given(vec![created(), closed()])
        .when(rate(requester(), 2))
        .then_expect_events(vec![TicketEvent::Rated(TicketRated {
            score: 2,
            comment: Some("Quick fix".to_string()),
            assignee: None,
        })]);
}

#[test]
fn rating_again_replaces_the_earlier_rating() {
    let first = TicketEvent::Rated(TicketRated {
        score: 2,
        comment: None,
        assignee: None,
    });
    framework()
        .given(vec![created(), closed(), first.clone()])
        .when(rate(requester(), 4))
        .then_expect_events(vec![TicketEvent::Rated(TicketRated {
            score: 4,
            comment: Some("Quick fix".to_string()),
            assignee: None,
        })]);
    let second = TicketEvent::Rated(TicketRated {
        score: 4,
        comment: Some("Better".to_string()),
        assignee: None,
    });
    let ticket = replay(vec![created(), closed(), first, second]);
    assert_eq!(ticket.rating, Some((4, Some("Better".to_string()))));
}

#[test]
fn a_rating_survives_a_reopen() {
    let rated = TicketEvent::Rated(TicketRated {
        score: 3,
        comment: None,
        assignee: None,
    });
    let ticket = replay(vec![created(), closed(), rated, reopened()]);
    assert_eq!(ticket.rating, Some((3, None)));
    assert_eq!(ticket.status, Status::Open);
}

#[test]
fn a_requester_cannot_rate_a_ticket_that_is_not_closed() {
    conflict(
        framework()
            .given(vec![created(), assigned_to(&agent(), None)])
            .when(rate(requester(), 5)),
    );
}

#[test]
fn a_requester_cannot_rate_a_reopened_ticket() {
    conflict(
        framework()
            .given(vec![created(), closed(), reopened()])
            .when(rate(requester(), 5)),
    );
}

#[test]
fn an_agent_cannot_rate_even_the_ticket_assigned_to_them() {
    forbidden(
        framework()
            .given(vec![created(), assigned_to(&agent(), None), closed()])
            .when(rate(agent(), 5)),
    );
}

#[test]
fn an_admin_cannot_rate() {
    forbidden(
        framework()
            .given(vec![created(), closed()])
            .when(rate(admin(), 5)),
    );
}

#[test]
fn an_auditor_cannot_rate() {
    forbidden(
        framework()
            .given(vec![created(), closed()])
            .when(rate(auditor(), 5)),
    );
}

#[test]
fn an_agent_rating_an_open_ticket_is_forbidden_before_it_is_a_conflict() {
    forbidden(framework().given(vec![created()]).when(rate(agent(), 1)));
}

#[test]
fn a_requester_rating_someone_elses_ticket_gets_not_found() {
    framework()
        .given(vec![created(), closed()])
        .when(rate(other_requester(), 1))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn rating_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(rate(requester(), 1))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn an_agent_who_requested_the_ticket_may_rate_it() {
    let mut data = created_data();
    data.requester = requester_ref(&agent());
    framework()
        .given(vec![TicketEvent::Created(data), closed()])
        .when(rate(agent(), 5))
        .then_expect_events(vec![TicketEvent::Rated(TicketRated {
            score: 5,
            comment: Some("Quick fix".to_string()),
            assignee: None,
        })]);
}

// ---- auditors and unknown tickets -----------------------------------------------------

#[test]
fn an_auditor_is_told_that_a_missing_ticket_does_not_exist() {
    framework()
        .given_no_previous_events()
        .when(comment(auditor(), false))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn error_messages_are_lowercase_without_a_trailing_period() {
    let err = framework()
        .given(vec![created(), closed()])
        .when(close(agent()))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.to_string(), "the ticket is closed");
    assert_eq!(TicketError::NotFound.to_string(), "ticket not found");
}

// ---- SLA breaches ---------------------------------------------------------------------

fn first_response_due() -> Timestamp {
    created_data().sla.first_response_due
}

fn resolution_due() -> Timestamp {
    created_data().sla.resolution_due
}

#[test]
fn a_missed_first_response_is_recorded_at_its_due_time() {
    framework()
        .given(vec![created()])
        .when(sla_check(SlaTarget::FirstResponse, first_response_due()))
        .then_expect_events(vec![breached(
            SlaTarget::FirstResponse,
            first_response_due(),
        )]);
}

#[test]
fn no_breach_is_recorded_before_the_due_time() {
    let just_before = first_response_due().plus(TimeDelta::milliseconds(-1));
    framework()
        .given(vec![created()])
        .when(sla_check(SlaTarget::FirstResponse, just_before))
        .then_expect_events(vec![]);
    let before_resolution = resolution_due().plus(TimeDelta::milliseconds(-1));
    framework()
        .given(vec![created()])
        .when(sla_check(SlaTarget::Resolution, before_resolution))
        .then_expect_events(vec![]);
}

#[test]
fn no_first_response_breach_once_someone_other_than_the_requester_answered() {
    framework()
        .given(vec![created(), commented_by(&agent(), false)])
        .when(sla_check(SlaTarget::FirstResponse, resolution_due()))
        .then_expect_events(vec![]);
}

#[test]
fn the_requesters_own_comment_does_not_stop_a_first_response_breach() {
    framework()
        .given(vec![created(), commented_by(&requester(), false)])
        .when(sla_check(SlaTarget::FirstResponse, first_response_due()))
        .then_expect_events(vec![breached(
            SlaTarget::FirstResponse,
            first_response_due(),
        )]);
}

#[test]
fn a_breach_is_recorded_once_per_target() {
    framework()
        .given(vec![
            created(),
            breached(SlaTarget::FirstResponse, first_response_due()),
        ])
        .when(sla_check(SlaTarget::FirstResponse, resolution_due()))
        .then_expect_events(vec![]);
    framework()
        .given(vec![
            created(),
            breached(SlaTarget::FirstResponse, first_response_due()),
        ])
        .when(sla_check(SlaTarget::Resolution, resolution_due()))
        .then_expect_events(vec![breached(SlaTarget::Resolution, resolution_due())]);
    framework()
        .given(vec![
            created(),
            breached(SlaTarget::Resolution, resolution_due()),
        ])
        .when(sla_check(SlaTarget::Resolution, resolution_due()))
        .then_expect_events(vec![]);
}

#[test]
fn a_missed_resolution_is_recorded_while_the_ticket_is_open() {
    framework()
        .given(vec![
            created(),
            assigned_to(&agent(), None),
            commented_by(&agent(), false),
        ])
        .when(sla_check(SlaTarget::Resolution, resolution_due()))
        .then_expect_events(vec![breached(SlaTarget::Resolution, resolution_due())]);
}

#[test]
fn no_breach_is_recorded_for_a_closed_ticket() {
    framework()
        .given(vec![created(), closed()])
        .when(sla_check(SlaTarget::Resolution, resolution_due()))
        .then_expect_events(vec![]);
    framework()
        .given(vec![created(), closed()])
        .when(sla_check(SlaTarget::FirstResponse, resolution_due()))
        .then_expect_events(vec![]);
}

#[test]
fn a_reopened_ticket_past_its_resolution_due_time_is_recorded_as_breached() {
    framework()
        .given(vec![created(), closed(), reopened()])
        .when(sla_check(SlaTarget::Resolution, resolution_due()))
        .then_expect_events(vec![breached(SlaTarget::Resolution, resolution_due())]);
}

#[test]
fn no_breach_is_recorded_for_a_ticket_that_does_not_exist() {
    framework()
        .given_no_previous_events()
        .when(sla_check(SlaTarget::FirstResponse, resolution_due()))
        .then_expect_events(vec![]);
}

#[test]
fn a_breach_after_a_priority_change_uses_the_recomputed_due_time() {
    let urgent = SlaPolicy::default().due(t0(), Priority::Urgent);
    let raised = TicketEvent::Updated(TicketUpdated {
        changes: TicketChanges {
            priority: Some(FieldChange {
                from: Priority::Medium,
                to: Priority::Urgent,
            }),
            ..TicketChanges::default()
        },
        sla: Some(urgent),
    });
    framework()
        .given(vec![created(), raised])
        .when(sla_check(
            SlaTarget::FirstResponse,
            urgent.first_response_due,
        ))
        .then_expect_events(vec![breached(
            SlaTarget::FirstResponse,
            urgent.first_response_due,
        )]);
}

#[test]
fn applying_a_breach_sets_only_its_flag() {
    let ticket = replay(vec![
        created(),
        breached(SlaTarget::FirstResponse, first_response_due()),
    ]);
    assert!(ticket.first_response_breached);
    assert!(!ticket.resolution_breached);
    let ticket = replay(vec![
        created(),
        breached(SlaTarget::Resolution, resolution_due()),
    ]);
    assert!(!ticket.first_response_breached);
    assert!(ticket.resolution_breached);
}

// ---- reading and state ----------------------------------------------------------------

#[test]
fn staff_and_auditors_read_every_ticket_and_requesters_only_their_own() {
    let ticket = replay(vec![created()]);
    for reader in [agent(), admin(), auditor(), requester()] {
        assert!(ticket.can_read(&reader), "{:?} should read it", reader.role);
    }
    assert!(!ticket.can_read(&other_requester()));
    assert!(!Ticket::default().can_read(&requester()));
}

#[test]
fn the_version_counts_every_applied_event() {
    let ticket = replay(vec![
        created(),
        commented_by(&agent(), false),
        assigned_to(&agent(), None),
        closed(),
        reopened(),
        breached(SlaTarget::Resolution, resolution_due()),
    ]);
    assert_eq!(ticket.version, 6);
}

#[test]
fn the_state_survives_a_json_round_trip_for_snapshots() {
    let ticket = replay(vec![
        created(),
        commented_by(&agent(), true),
        assigned_to(&agent(), None),
        closed(),
        TicketEvent::Rated(TicketRated {
            score: 4,
            comment: Some("Fine".to_string()),
            assignee: Some(user_ref(&agent())),
        }),
    ]);
    let json = serde_json::to_string(&ticket).unwrap();
    assert_eq!(serde_json::from_str::<Ticket>(&json).unwrap(), ticket);
}

/// Teams (CONTRACT 11): an assignment names an assignee, a team or both; what it does not name
/// stays.
mod teams {
    use super::*;
    use ticket_nats::events::TeamRef;

    fn team(n: u128) -> TeamRef {
        TeamRef {
            id: Uuid::from_u128(100 + n),
            name: format!("Team {n}"),
        }
    }

    fn to(assignee: Option<&Issuer>, team: Option<TeamRef>) -> TicketCommand {
        TicketCommand::AssignTicket(AssignTicket {
            assignee: assignee.map(user_ref),
            team,
            by: agent(),
            at: later(),
        })
    }

    fn assigned(
        assignee: Option<&Issuer>,
        previous: Option<&Issuer>,
        team: Option<TeamRef>,
    ) -> TicketEvent {
        TicketEvent::Assigned(TicketAssigned {
            assignee: assignee.map(user_ref),
            previous_assignee: previous.map(user_ref),
            team,
        })
    }

    #[test]
    fn a_team_alone_leaves_the_ticket_open_with_no_assignee() {
        framework()
            .given(vec![created()])
            .when(to(None, Some(team(1))))
            .then_expect_events(vec![assigned(None, None, Some(team(1)))]);
        let mut ticket = Ticket::default();
        ticket.apply(created());
        ticket.apply(assigned(None, None, Some(team(1))));
        assert_eq!(ticket.status, Status::Open);
        assert_eq!(ticket.team, Some(team(1)));
    }

    #[test]
    fn an_assignee_alone_keeps_the_team() {
        framework()
            .given(vec![created(), assigned(None, None, Some(team(1)))])
            .when(to(Some(&agent()), None))
            .then_expect_events(vec![assigned(Some(&agent()), None, Some(team(1)))]);
    }

    #[test]
    fn a_team_alone_keeps_the_assignee() {
        framework()
            .given(vec![created(), assigned_to(&agent(), None)])
            .when(to(None, Some(team(2))))
            .then_expect_events(vec![assigned(
                Some(&agent()),
                Some(&agent()),
                Some(team(2)),
            )]);
    }

    #[test]
    fn naming_what_the_ticket_has_is_a_no_op_even_after_a_rename() {
        let renamed = TeamRef {
            name: "Renamed".into(),
            ..team(1)
        };
        framework()
            .given(vec![
                created(),
                assigned(Some(&agent()), None, Some(team(1))),
            ])
            .when(to(Some(&agent()), Some(renamed)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn events_recorded_before_teams_read_as_none_and_write_back_unchanged() {
        let stored = serde_json::json!({
            "assignee": {"id": Uuid::from_u128(3), "name": "Alice"},
            "previous_assignee": null,
        });
        let event: TicketAssigned = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(event.team, None);
        assert_eq!(serde_json::to_value(&event).unwrap(), stored);
    }
}
#[path = "tags_tests.rs"]
mod tags;

#[path = "links_tests.rs"]
mod links;

#[path = "attachments_tests.rs"]
mod attachments;
#[cfg(test)]
#[path = "field_values_tests.rs"]
mod field_values;
