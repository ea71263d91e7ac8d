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
