//! The fold of the ticket view and its SLA facts.

use super::*;

use chrono::{DateTime, Utc};
use ticket_nats::events::TicketCreated;
use ticket_nats::TicketEvent;
use uuid::Uuid;

use crate::read_models::tickets::PauseMs;
use crate::stored::StoredEvent;
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{
    AuthorRef, RequesterRef, SlaDue, TicketAssigned, TicketClosed, TicketCommented, TicketReopened,
    UserRef,
};
use ticket_nats::{Envelope, GENESIS_HASH};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn stored(seq: i64, time: &str, event: TicketEvent) -> StoredEvent {
    let actor = Actor::system();
    let mut envelope = Envelope::seal(
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: Uuid::nil(),
            seq,
            time: time.parse().unwrap(),
            actor: &actor,
            correlation_id: "c",
        },
        &event,
        GENESIS_HASH,
    );
    envelope.position = seq + 100;
    StoredEvent {
        position: seq + 100,
        envelope,
        event,
    }
}

fn requester() -> RequesterRef {
    RequesterRef {
        id: Uuid::from_u128(1),
        name: "Rita".into(),
        email: Some("rita@example.com".into()),
    }
}

fn created() -> TicketCreated {
    TicketCreated {
        number: 7,
        title: "VPN".into(),
        description: "drops".into(),
        category: "network".into(),
        priority: Priority::High,
        channel: Channel::Api,
        requester: requester(),
        sla: SlaDue {
            first_response_due: "2026-11-23T11:00:00.000Z".parse().unwrap(),
            resolution_due: "2026-11-23T14:00:00.000Z".parse().unwrap(),
        },
        integration: None,
        metadata: None,
        fields: None,
    }
}

fn comment(author: u128, role: &str) -> TicketEvent {
    TicketEvent::Commented(TicketCommented {
        comment_id: Uuid::from_u128(900 + author),
        author: AuthorRef {
            id: Uuid::from_u128(author),
            name: "someone".into(),
            role: role.into(),
        },
        body: "hello".into(),
        internal: false,
        via: None,
        attachments: Vec::new(),
    })
}

#[test]
fn the_fold_tracks_status_times_and_the_first_response() {
    let first = stored(
        1,
        "2026-11-23T10:00:00.000Z",
        TicketEvent::Created(created()),
    );
    let mut row = ViewRow::created(Uuid::nil(), &created(), &first);
    let mut comments = Vec::new();
    row.apply(
        &stored(2, "2026-11-23T10:01:00.000Z", comment(1, "requester")),
        &mut comments,
    );
    assert_eq!(row.first_response_at, None, "the requester's own comment");
    row.apply(
        &stored(3, "2026-11-23T10:01:30.000Z", comment(7, "requester")),
        &mut comments,
    );
    assert_eq!(
        row.first_response_at, None,
        "the user the requester was merged into is the same person"
    );
    row.apply(
        &stored(3, "2026-11-23T10:02:00.000Z", comment(2, "agent")),
        &mut comments,
    );
    row.apply(
        &stored(
            4,
            "2026-11-23T10:03:00.000Z",
            TicketEvent::Assigned(TicketAssigned {
                assignee: Some(UserRef {
                    id: Uuid::from_u128(2),
                    name: "Ann".into(),
                }),
                previous_assignee: None,
                team: None,
            }),
        ),
        &mut comments,
    );
    assert_eq!(row.status, Status::InProgress);
    row.apply(
        &stored(
            5,
            "2026-11-23T10:04:00.000Z",
            TicketEvent::Closed(TicketClosed {
                resolution: Some("fixed".into()),
            }),
        ),
        &mut comments,
    );
    assert_eq!(row.closed_at, Some(t("2026-11-23T10:04:00Z")));
    row.apply(
        &stored(
            6,
            "2026-11-23T10:05:00.000Z",
            TicketEvent::Reopened(TicketReopened { reason: None }),
        ),
        &mut comments,
    );
    assert_eq!(comments.len(), 3);
    assert_eq!(row.first_response_at, Some(t("2026-11-23T10:02:00Z")));
    assert_eq!(row.status, Status::InProgress, "reopened with an assignee");
    assert_eq!(row.closed_at, None);
    assert_eq!(row.resolution.as_deref(), Some("fixed"));
    assert_eq!(row.updated_at, t("2026-11-23T10:05:00Z"));
    assert_eq!((row.version, row.last_position), (6, 106));
}

#[test]
fn a_target_is_breached_when_recorded_late_or_overdue() {
    let facts = SlaFacts {
        first_response_due: t("2026-11-23T11:00:00Z"),
        resolution_due: t("2026-11-23T14:00:00Z"),
        first_response_at: None,
        closed_at: None,
        first_response_breach_recorded: false,
        resolution_breach_recorded: false,
        pending_since: None,
        paused_seconds: 0,
    };
    let before = facts.at(t("2026-11-23T10:59:59Z"));
    assert!(!before.first_response_breached && !before.resolution_breached);
    let after = facts.at(t("2026-11-23T11:00:00Z"));
    assert!(after.first_response_breached && !after.resolution_breached);
    let answered_late = SlaFacts {
        first_response_at: Some(t("2026-11-23T11:30:00Z")),
        ..facts
    };
    assert!(
        answered_late
            .at(t("2026-11-23T10:00:00Z"))
            .first_response_breached
    );
    let closed_in_time = SlaFacts {
        first_response_at: Some(t("2026-11-23T10:30:00Z")),
        closed_at: Some(t("2026-11-23T13:00:00Z")),
        ..facts
    };
    let much_later = closed_in_time.at(t("2026-12-01T00:00:00Z"));
    assert!(!much_later.first_response_breached && !much_later.resolution_breached);
    let recorded = SlaFacts {
        resolution_breach_recorded: true,
        ..closed_in_time
    };
    assert!(recorded.at(t("2026-11-23T10:00:00Z")).resolution_breached);
}

#[test]
fn a_pause_stops_the_clocks_and_its_end_moves_the_due_times() {
    use ticket_nats::events::{ResumedBy, TicketPending, TicketResumed};
    let first = stored(
        1,
        "2026-11-23T10:00:00.000Z",
        TicketEvent::Created(created()),
    );
    let mut row = ViewRow::created(Uuid::nil(), &created(), &first);
    let mut comments = Vec::new();
    row.apply(
        &stored(
            2,
            "2026-11-23T10:30:00.000Z",
            TicketEvent::Pending(TicketPending {
                reason: None,
                until: Some("2026-11-24T09:00:00.000Z".parse().unwrap()),
            }),
        ),
        &mut comments,
    );
    assert_eq!(row.status, Status::Pending);
    assert_eq!(row.pending_until, Some(t("2026-11-24T09:00:00Z")));
    // Long after both due times, a pending ticket is not breached: its clock stands still.
    let paused = row.sla_facts().at(t("2026-11-23T20:30:00Z"));
    assert!(!paused.first_response_breached && !paused.resolution_breached);
    assert_eq!(paused.paused_seconds, 10 * 3600);

    row.apply(
        &stored(
            3,
            "2026-11-23T12:30:00.000Z",
            TicketEvent::Resumed(TicketResumed {
                by: ResumedBy::Staff,
                sla: Some(SlaDue {
                    first_response_due: "2026-11-23T13:00:00.000Z".parse().unwrap(),
                    resolution_due: "2026-11-23T16:00:00.000Z".parse().unwrap(),
                }),
            }),
        ),
        &mut comments,
    );
    assert_eq!(row.status, Status::Open);
    assert_eq!((row.pending_since, row.pending_until), (None, None));
    assert_eq!(row.paused_seconds, 2 * 3600);
    assert_eq!(row.resolution_due, t("2026-11-23T16:00:00Z"));
    let resumed = row.sla_facts().at(t("2026-11-23T12:59:00Z"));
    assert!(!resumed.first_response_breached);
    assert_eq!(resumed.paused_seconds, 2 * 3600);

    // Closing a pending ticket ends the pause the same way the aggregate does.
    row.apply(
        &stored(
            4,
            "2026-11-23T13:00:00.000Z",
            TicketEvent::Pending(TicketPending {
                reason: None,
                until: None,
            }),
        ),
        &mut comments,
    );
    row.apply(
        &stored(
            5,
            "2026-11-23T14:00:00.000Z",
            TicketEvent::Closed(TicketClosed { resolution: None }),
        ),
        &mut comments,
    );
    assert_eq!(row.status, Status::Closed);
    assert_eq!(row.paused_seconds, 3 * 3600);
    assert_eq!(row.resolution_due, t("2026-11-23T17:00:00Z"));
    assert!(row.sla_facts().resolution_met());
}

/// A test clock: business time is the wall-clock time outside pauses, halved for `high`
/// (so that the priority's calendar visibly applies).
struct HalfForHigh;

impl BusinessTime for HalfForHigh {
    fn elapsed_ms(&self, priority: Priority, start: i64, end: i64, pauses: &[PauseMs]) -> i64 {
        let paused: i64 = pauses
            .iter()
            .map(|[s, e]| ((*e).min(end) - (*s).max(start)).max(0))
            .sum();
        let wall = end - start - paused;
        if priority == Priority::High {
            wall / 2
        } else {
            wall
        }
    }
}

#[test]
fn business_times_are_counted_once_with_the_pauses_left_out_and_a_reopen_clears_them() {
    use ticket_nats::events::{ResumedBy, TicketPending, TicketResumed};
    let first = stored(
        1,
        "2026-11-23T10:00:00.000Z",
        TicketEvent::Created(created()),
    );
    let mut row = ViewRow::created(Uuid::nil(), &created(), &first);
    let mut comments = Vec::new();
    let at = |seq, time, event| stored(seq, time, event);
    row.apply(
        &at(
            2,
            "2026-11-23T10:20:00.000Z",
            TicketEvent::Pending(TicketPending {
                reason: None,
                until: None,
            }),
        ),
        &mut comments,
    );
    row.apply(
        &at(
            3,
            "2026-11-23T11:20:00.000Z",
            TicketEvent::Resumed(TicketResumed {
                by: ResumedBy::Staff,
                sla: None,
            }),
        ),
        &mut comments,
    );
    row.apply(
        &at(4, "2026-11-23T11:40:00.000Z", comment(2, "agent")),
        &mut comments,
    );
    row.count_business(&HalfForHigh);
    // 100 minutes to the response, 60 of them paused, halved: 20 business minutes.
    assert_eq!(row.first_response_business_ms, Some(20 * 60_000));
    assert_eq!(row.resolution_business_ms, None);
    row.apply(
        &at(
            5,
            "2026-11-23T12:00:00.000Z",
            TicketEvent::Closed(TicketClosed { resolution: None }),
        ),
        &mut comments,
    );
    row.count_business(&HalfForHigh);
    assert_eq!(row.resolution_business_ms, Some(30 * 60_000));
    let facts = row.facts();
    assert_eq!(facts.first_response_business_ms, Some(20 * 60_000));
    // Counted once: a later count on another calendar keeps what the row holds.
    struct Never;
    impl BusinessTime for Never {
        fn elapsed_ms(&self, _: Priority, _: i64, _: i64, _: &[PauseMs]) -> i64 {
            0
        }
    }
    row.count_business(&Never);
    assert_eq!(row.facts(), facts);
    row.apply(
        &at(
            6,
            "2026-11-23T12:10:00.000Z",
            TicketEvent::Reopened(TicketReopened { reason: None }),
        ),
        &mut comments,
    );
    row.count_business(&HalfForHigh);
    assert_eq!(row.resolution_business_ms, None, "not closed any more");
    assert_eq!(row.first_response_business_ms, Some(20 * 60_000));
}

#[test]
fn a_priority_change_counts_the_business_times_again_on_the_new_priority_calendar() {
    use ticket_nats::events::{FieldChange, TicketChanges, TicketUpdated};
    let first = stored(
        1,
        "2026-11-23T10:00:00.000Z",
        TicketEvent::Created(created()),
    );
    let mut row = ViewRow::created(Uuid::nil(), &created(), &first);
    let mut comments = Vec::new();
    let at = |seq, time, event| stored(seq, time, event);
    row.apply(
        &at(2, "2026-11-23T11:40:00.000Z", comment(2, "agent")),
        &mut comments,
    );
    row.apply(
        &at(
            3,
            "2026-11-23T12:00:00.000Z",
            TicketEvent::Closed(TicketClosed { resolution: None }),
        ),
        &mut comments,
    );
    row.count_business(&HalfForHigh);
    // Created high: 100 and 120 minutes, halved.
    assert_eq!(row.first_response_business_ms, Some(50 * 60_000));
    assert_eq!(row.resolution_business_ms, Some(60 * 60_000));
    let lowered = TicketUpdated {
        changes: TicketChanges {
            priority: Some(FieldChange {
                from: Priority::High,
                to: Priority::Low,
            }),
            ..TicketChanges::default()
        },
        sla: None,
    };
    row.apply(
        &at(4, "2026-11-23T12:30:00.000Z", TicketEvent::Updated(lowered)),
        &mut comments,
    );
    row.count_business(&HalfForHigh);
    // The ticket's calendar is its priority's, from its creation: the low one counts whole.
    assert_eq!(row.first_response_business_ms, Some(100 * 60_000));
    assert_eq!(row.resolution_business_ms, Some(120 * 60_000));
}
