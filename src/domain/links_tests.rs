//! Links and merges, given / when / then (fixtures from the aggregate's tests).

use ticket_nats::events::{LinkKind, TicketLinked, TicketMerged, TicketMergedFrom};

use super::*;
use crate::domain::commands::{LinkTicket, MergeFrom, MergeTicket, UnlinkTicket};

fn other() -> Uuid {
    Uuid::from_u128(900)
}

fn link(by: Issuer, kind: LinkKind) -> TicketCommand {
    TicketCommand::LinkTicket(LinkTicket {
        kind,
        other: other(),
        by,
        at: later(),
    })
}

fn linked(kind: LinkKind) -> TicketEvent {
    TicketEvent::Linked(TicketLinked {
        kind,
        ticket_id: other(),
    })
}

fn merge(by: Issuer) -> TicketCommand {
    TicketCommand::MergeTicket(MergeTicket {
        into: other(),
        into_number: 7,
        by,
        at: later(),
    })
}

fn merge_from(by: Issuer, number: i64) -> TicketCommand {
    TicketCommand::MergeFrom(MergeFrom {
        source: other(),
        source_number: number,
        note_id: Uuid::from_u128(901),
        note: "Merged from #7.".into(),
        by,
        at: later(),
    })
}

#[test]
fn linking_records_the_kind_and_the_same_link_again_is_a_no_op() {
    framework()
        .given(vec![created()])
        .when(link(agent(), LinkKind::ParentOf))
        .then_expect_events(vec![linked(LinkKind::ParentOf)]);
    framework()
        .given(vec![created(), linked(LinkKind::ParentOf)])
        .when(link(agent(), LinkKind::ParentOf))
        .then_expect_events(vec![]);
}

#[test]
fn another_kind_replaces_the_link() {
    framework()
        .given(vec![created(), linked(LinkKind::Related)])
        .when(link(agent(), LinkKind::DuplicateOf))
        .then_expect_events(vec![linked(LinkKind::DuplicateOf)]);
}

#[test]
fn unlinking_names_the_kind_it_removes_and_no_link_is_a_no_op() {
    let unlink = || {
        TicketCommand::UnlinkTicket(UnlinkTicket {
            other: other(),
            by: agent(),
            at: later(),
        })
    };
    framework()
        .given(vec![created(), linked(LinkKind::ChildOf)])
        .when(unlink())
        .then_expect_events(vec![TicketEvent::Unlinked(TicketLinked {
            kind: LinkKind::ChildOf,
            ticket_id: other(),
        })]);
    framework()
        .given(vec![created()])
        .when(unlink())
        .then_expect_events(vec![]);
}

#[test]
fn inverse_kinds_pair_parents_with_children_and_duplicates_with_related() {
    assert_eq!(LinkKind::ParentOf.inverse(), LinkKind::ChildOf);
    assert_eq!(LinkKind::ChildOf.inverse(), LinkKind::ParentOf);
    assert_eq!(LinkKind::DuplicateOf.inverse(), LinkKind::Related);
    assert_eq!(LinkKind::Related.inverse(), LinkKind::Related);
}

#[test]
fn a_merge_records_merged_then_closed() {
    framework()
        .given(vec![created()])
        .when(merge(agent()))
        .then_expect_events(vec![
            TicketEvent::Merged(TicketMerged { into: other() }),
            TicketEvent::Closed(TicketClosed {
                resolution: Some("Merged into #7".into()),
            }),
        ]);
}

#[test]
fn the_target_records_merged_from_then_one_internal_note() {
    framework()
        .given(vec![created()])
        .when(merge_from(agent(), 7))
        .then_expect_events(vec![
            TicketEvent::MergedFrom(TicketMergedFrom {
                ticket_id: other(),
                number: 7,
            }),
            TicketEvent::Commented(TicketCommented {
                comment_id: Uuid::from_u128(901),
                author: AuthorRef {
                    id: agent().id,
                    name: agent().name,
                    role: "agent".into(),
                },
                body: "Merged from #7.".into(),
                internal: true,
                via: None,
                attachments: Vec::new(),
            }),
        ]);
}

#[test]
fn merges_of_closed_merged_or_same_tickets_are_conflicts() {
    conflict(
        framework()
            .given(vec![created(), closed()])
            .when(merge(agent())),
    );
    conflict(
        framework()
            .given(vec![
                created(),
                TicketEvent::Merged(TicketMerged { into: other() }),
            ])
            .when(merge(agent())),
    );
    conflict(
        framework()
            .given(vec![created(), closed()])
            .when(merge_from(agent(), 7)),
    );
    // The fixture's number is 1042: merging #1042 into itself.
    conflict(
        framework()
            .given(vec![created()])
            .when(merge_from(agent(), 1042)),
    );
}

#[test]
fn only_agents_and_admins_merge() {
    forbidden(framework().given(vec![created()]).when(merge(requester())));
    forbidden(
        framework()
            .given(vec![created()])
            .when(merge_from(auditor(), 7)),
    );
}

#[test]
fn a_merged_ticket_is_never_reopened() {
    conflict(
        framework()
            .given(vec![
                created(),
                TicketEvent::Merged(TicketMerged { into: other() }),
                closed(),
            ])
            .when(TicketCommand::ReopenTicket(ReopenTicket {
                reason: None,
                by: agent(),
                at: later(),
            })),
    );
}
