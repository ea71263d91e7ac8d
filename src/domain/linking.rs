//! The rules of links between tickets and of merging duplicates (CONTRACT 10).
//!
//! Each side of a link or a merge is its own ticket's event, so each history stays one
//! verifiable chain; the application issues the two sides one after the other (see
//! `application::links`). The rules of each side live here.

use ticket_nats::events::{
    AuthorRef, TicketClosed, TicketCommented, TicketLinked, TicketMerged, TicketMergedFrom,
};
use ticket_nats::TicketEvent;

use super::aggregate::{Ticket, TicketError};
use super::commands::{Issuer, LinkTicket, MergeFrom, MergeTicket, UnlinkTicket};

impl Ticket {
    pub(super) fn link(&self, c: LinkTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        // A link to the ticket itself is refused by the caller, which knows the ticket's id
        // (the state does not hold it).
        if self.links.linked.get(&c.other) == Some(&c.kind) {
            return Ok(None);
        }
        Ok(Some(TicketEvent::Linked(TicketLinked {
            kind: c.kind,
            ticket_id: c.other,
        })))
    }

    pub(super) fn unlink(&self, c: UnlinkTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        Ok(self.links.linked.get(&c.other).map(|kind| {
            TicketEvent::Unlinked(TicketLinked {
                kind: *kind,
                ticket_id: c.other,
            })
        }))
    }

    /// Whether `by` may merge this ticket (into another, or another into it): agents and
    /// admins, on a ticket neither closed nor merged.
    pub fn require_mergeable(&self, by: &Issuer, which: &str) -> Result<(), TicketError> {
        self.admit(by)?;
        Self::require_staff(by, "only agents and admins may merge tickets")?;
        if self.links.merged_into.is_some() {
            return Err(TicketError::Conflict(format!(
                "the {which} ticket was merged already"
            )));
        }
        if self.status == super::values::Status::Closed {
            return Err(TicketError::Conflict(format!(
                "the {which} ticket is closed"
            )));
        }
        Ok(())
    }

    pub(super) fn merge(&self, c: MergeTicket) -> Result<Vec<TicketEvent>, TicketError> {
        self.require_mergeable(&c.by, "merged")?;
        Ok(vec![
            TicketEvent::Merged(TicketMerged { into: c.into }),
            TicketEvent::Closed(TicketClosed {
                resolution: Some(format!("Merged into #{}", c.into_number)),
            }),
        ])
    }

    pub(super) fn merge_from(&self, c: MergeFrom) -> Result<Vec<TicketEvent>, TicketError> {
        self.require_mergeable(&c.by, "target")?;
        if c.source_number == self.number {
            return Err(TicketError::Conflict(
                "a ticket cannot be merged into itself".into(),
            ));
        }
        Ok(vec![
            TicketEvent::MergedFrom(TicketMergedFrom {
                ticket_id: c.source,
                number: c.source_number,
            }),
            TicketEvent::Commented(TicketCommented {
                comment_id: c.note_id,
                author: AuthorRef {
                    id: c.by.id,
                    name: c.by.name,
                    role: c.by.role.as_str().to_string(),
                },
                body: c.note,
                internal: true,
                via: None,
                attachments: Vec::new(),
            }),
        ])
    }

    /// Records link and merge events.
    pub(super) fn apply_link(&mut self, event: &TicketEvent) {
        match event {
            TicketEvent::Linked(e) => {
                self.links.linked.insert(e.ticket_id, e.kind);
            }
            TicketEvent::Unlinked(e) => {
                self.links.linked.remove(&e.ticket_id);
            }
            TicketEvent::Merged(e) => self.links.merged_into = Some(e.into),
            _ => {}
        }
    }
}
