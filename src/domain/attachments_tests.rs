//! Files on comments: listed in `ticket.commented` with their hashes; comments recorded before
//! attachments existed read and hash as they did.

use ticket_nats::events::AttachmentRef;

use super::*;

fn file() -> AttachmentRef {
    AttachmentRef {
        id: Uuid::from_u128(700),
        filename: "screenshot.png".into(),
        content_type: "image/png".into(),
        size: 1234,
        sha256: "0f".repeat(32),
    }
}

#[test]
fn a_comment_with_files_lists_each_with_its_hash() {
    let TicketCommand::CommentOnTicket(mut command) = comment(requester(), false) else {
        unreachable!("comment() builds a comment")
    };
    command.attachments = vec![file()];
    let TicketEvent::Commented(mut expected) = commented_by(&requester(), false) else {
        unreachable!("commented_by() builds a comment event")
    };
    expected.attachments = vec![file()];
    framework()
        .given(vec![created()])
        .when(TicketCommand::CommentOnTicket(command))
        .then_expect_events(vec![TicketEvent::Commented(expected)]);
}

#[test]
fn a_comment_stored_without_attachments_reads_back_and_serializes_unchanged() {
    let stored = serde_json::json!({
        "comment_id": Uuid::from_u128(1),
        "author": {"id": Uuid::from_u128(2), "name": "A", "role": "agent"},
        "body": "old", "internal": false
    });
    let read: TicketCommented = serde_json::from_value(stored.clone()).expect("an old comment");
    assert!(read.attachments.is_empty());
    // The same data, so the same canonical form and the same hash as when it was stored.
    assert_eq!(serde_json::to_value(&read).expect("serialize"), stored);
}

#[test]
fn listed_files_are_part_of_the_data_the_hash_covers() {
    let TicketEvent::Commented(mut event) = commented_by(&agent(), false) else {
        unreachable!("commented_by() builds a comment event")
    };
    event.attachments = vec![file()];
    let data = serde_json::to_value(&event).expect("serialize");
    assert_eq!(data["attachments"][0]["sha256"], "0f".repeat(32));
    let mut altered = event.clone();
    altered.attachments[0].sha256 = "1f".repeat(32);
    assert_ne!(
        serde_json_canonicalizer::to_string(&data).ok(),
        serde_json_canonicalizer::to_string(&altered).ok()
    );
}

#[test]
fn a_ticket_opened_with_files_records_them_on_a_comment_by_its_opener_in_the_same_command() {
    let TicketCommand::CreateTicket(mut command) = create_by(requester(), &requester()) else {
        unreachable!("create_by() builds a creation")
    };
    let via = ticket_nats::events::Via {
        channel: "email".into(),
        message_id: "first@client.test".into(),
    };
    let log = AttachmentRef {
        id: Uuid::from_u128(701),
        filename: "log.txt".into(),
        ..file()
    };
    command.files = Some(Box::new(crate::domain::commands::OpeningFiles {
        comment_id: Uuid::from_u128(100),
        via: Some(via.clone()),
        attachments: vec![file(), log.clone()],
    }));
    let by = requester();
    let listed = TicketEvent::Commented(TicketCommented {
        comment_id: Uuid::from_u128(100),
        author: AuthorRef {
            id: by.id,
            name: by.name.clone(),
            role: "requester".into(),
        },
        body: "screenshot.png, log.txt".into(),
        internal: false,
        via: Some(via),
        attachments: vec![file(), log],
    });
    framework()
        .given_no_previous_events()
        .when(TicketCommand::CreateTicket(command))
        .then_expect_events(vec![created(), listed]);
}

#[test]
fn a_ticket_opened_with_no_file_records_its_creation_alone() {
    let TicketCommand::CreateTicket(mut command) = create_by(requester(), &requester()) else {
        unreachable!("create_by() builds a creation")
    };
    command.files = Some(Box::new(crate::domain::commands::OpeningFiles {
        comment_id: Uuid::from_u128(100),
        via: None,
        attachments: Vec::new(),
    }));
    framework()
        .given_no_previous_events()
        .when(TicketCommand::CreateTicket(command))
        .then_expect_events(vec![created()]);
}
