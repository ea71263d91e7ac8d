//! Tags, given / when / then (fixtures from the aggregate's tests).

use std::collections::BTreeSet;

use proptest::prelude::*;
use ticket_nats::events::TicketTagged;

use super::*;
use crate::domain::commands::TagTicket;
use crate::domain::tags::{Tag, TAGS_MAX};

fn tag(by: Issuer, tags: &[&str]) -> TicketCommand {
    TicketCommand::TagTicket(TagTicket {
        tags: tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
        add_only: false,
        by,
        at: later(),
    })
}

fn add(by: Issuer, tags: &[&str]) -> TicketCommand {
    TicketCommand::TagTicket(TagTicket {
        tags: tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
        add_only: true,
        by,
        at: later(),
    })
}

fn tagged(added: &[&str], removed: &[&str]) -> TicketEvent {
    TicketEvent::Tagged(TicketTagged {
        added: added.iter().map(|t| t.to_string()).collect(),
        removed: removed.iter().map(|t| t.to_string()).collect(),
    })
}

#[test]
fn tagging_records_what_was_added_sorted() {
    framework()
        .given(vec![created()])
        .when(tag(agent(), &["vip", "printer"]))
        .then_expect_events(vec![tagged(&["printer", "vip"], &[])]);
}

#[test]
fn a_new_set_records_the_difference_only() {
    framework()
        .given(vec![created(), tagged(&["printer", "vip"], &[])])
        .when(tag(admin(), &["printer", "floor-3"]))
        .then_expect_events(vec![tagged(&["floor-3"], &["vip"])]);
}

#[test]
fn the_same_set_again_is_a_no_op() {
    framework()
        .given(vec![created(), tagged(&["printer", "vip"], &[])])
        .when(tag(agent(), &["vip", "printer"]))
        .then_expect_events(vec![]);
}

#[test]
fn adding_only_keeps_the_tags_the_ticket_carries() {
    framework()
        .given(vec![created(), tagged(&["printer", "vip"], &[])])
        .when(add(agent(), &["vip", "floor-3"]))
        .then_expect_events(vec![tagged(&["floor-3"], &[])]);
}

#[test]
fn adding_tags_already_carried_records_nothing() {
    framework()
        .given(vec![created(), tagged(&["printer", "vip"], &[])])
        .when(add(agent(), &["vip"]))
        .then_expect_events(vec![]);
}

#[test]
fn adding_past_the_most_tags_a_ticket_carries_is_refused() {
    let twenty: Vec<String> = (0..TAGS_MAX).map(|i| format!("t{i}")).collect();
    let twenty: Vec<&str> = twenty.iter().map(String::as_str).collect();
    framework()
        .given(vec![created(), tagged(&twenty, &[])])
        .when(add(agent(), &["one-more"]))
        .then_expect_error(TicketError::Conflict(format!(
            "the ticket would carry more than {TAGS_MAX} tags"
        )));
}

#[test]
fn an_empty_set_removes_every_tag() {
    framework()
        .given(vec![created(), tagged(&["printer", "vip"], &[])])
        .when(tag(agent(), &[]))
        .then_expect_events(vec![tagged(&[], &["printer", "vip"])]);
}

#[test]
fn a_closed_ticket_can_still_be_tagged() {
    framework()
        .given(vec![created(), closed()])
        .when(tag(agent(), &["done-right"]))
        .then_expect_events(vec![tagged(&["done-right"], &[])]);
}

#[test]
fn a_requester_may_not_tag_even_their_own_ticket() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(tag(requester(), &["vip"])),
    );
}

#[test]
fn an_auditor_may_not_tag() {
    forbidden(
        framework()
            .given(vec![created()])
            .when(tag(auditor(), &["vip"])),
    );
}

#[test]
fn another_requester_learns_nothing() {
    framework()
        .given(vec![created()])
        .when(tag(other_requester(), &["vip"]))
        .then_expect_error(TicketError::NotFound);
}

#[test]
fn tagging_a_ticket_that_does_not_exist_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(tag(agent(), &["vip"]))
        .then_expect_error(TicketError::NotFound);
}

fn tag_set() -> impl Strategy<Value = BTreeSet<String>> {
    proptest::collection::btree_set("[a-e]{1,2}", 0..6)
}

proptest! {
    /// Whatever the sets in between, the state after each command is the set last asked for:
    /// the events' `added` and `removed` replay to exactly it.
    #[test]
    fn replayed_tags_are_the_set_last_put(sets in proptest::collection::vec(tag_set(), 1..6)) {
        let mut ticket = replay(vec![created()]);
        for set in sets {
            let command = TagTicket {
                tags: set.iter().map(|t| Tag::parse(t).unwrap()).collect(),
                add_only: false,
                by: agent(),
                at: later(),
            };
            if let Some(event) = ticket.tag(command).unwrap() {
                if let TicketEvent::Tagged(e) = &event {
                    prop_assert!(e.added.iter().all(|t| !ticket.tags.contains(t)));
                    prop_assert!(e.removed.iter().all(|t| ticket.tags.contains(t)));
                }
                ticket.apply(event);
            }
            prop_assert_eq!(&ticket.tags, &set);
        }
    }
}
