//! The rules of tagging a ticket (the tag itself: `tags`).

use std::collections::BTreeSet;

use ticket_nats::events::TicketTagged;
use ticket_nats::TicketEvent;

use super::aggregate::{Ticket, TicketError};
use super::commands::TagTicket;
use super::tags::{Tag, TAGS_MAX};

impl Ticket {
    /// `ticket.tagged` with the difference between the current and the new set; the same set
    /// again is an accepted no-op. Tags stay editable on a closed ticket: they classify its
    /// history, and the contract's closed-ticket rules name comments, assignment, updates and
    /// close only. Adding only (`add_only`) never removes, and refuses a set that would grow
    /// past [`TAGS_MAX`] (replacing sets are checked by the request).
    pub(super) fn tag(&self, c: TagTicket) -> Result<Option<TicketEvent>, TicketError> {
        self.admit(&c.by)?;
        Self::require_staff(&c.by, "only agents and admins may tag tickets")?;
        let mut new: BTreeSet<String> = c.tags.into_iter().map(Tag::into_inner).collect();
        if c.add_only {
            new.extend(self.tags.iter().cloned());
            if new.len() > TAGS_MAX && new.len() > self.tags.len() {
                return Err(TicketError::Conflict(format!(
                    "the ticket would carry more than {TAGS_MAX} tags"
                )));
            }
        }
        let added: Vec<String> = new.difference(&self.tags).cloned().collect();
        let removed: Vec<String> = self.tags.difference(&new).cloned().collect();
        if added.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        Ok(Some(TicketEvent::Tagged(TicketTagged { added, removed })))
    }

    /// Records a `ticket.tagged`.
    pub(super) fn apply_tagged(&mut self, e: TicketTagged) {
        for tag in e.removed {
            self.tags.remove(&tag);
        }
        self.tags.extend(e.added);
    }
}
