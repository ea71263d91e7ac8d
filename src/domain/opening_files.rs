//! Files a ticket is opened with (an opening mail's, CONTRACT 10 "email in"): recorded with the
//! creation, in the same command, as a public comment by whoever opens the ticket that lists
//! them, as a reply's files are listed on its comment. So a file is read by whoever may read
//! that comment, and the creation and its files commit together or not at all.

use ticket_nats::events::{AuthorRef, TicketCommented};
use ticket_nats::TicketEvent;

use super::commands::{Issuer, OpeningFiles};

/// The longest comment body.
const BODY_MAX: usize = 20_000;

/// The comment listing `files`, by `by`; `None` without any file. Its text names the files (a
/// comment has text), since the opening text is already the ticket's description.
pub(super) fn opening_comment(by: &Issuer, files: OpeningFiles) -> Option<TicketEvent> {
    if files.attachments.is_empty() {
        return None;
    }
    let names: Vec<&str> = files
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    let body: String = names.join(", ").chars().take(BODY_MAX).collect();
    Some(TicketEvent::Commented(TicketCommented {
        comment_id: files.comment_id,
        author: AuthorRef {
            id: by.id,
            name: by.name.clone(),
            role: by.role.as_str().to_string(),
        },
        body,
        internal: false,
        via: files.via,
        attachments: files.attachments,
    }))
}
