//! The fold of one ticket's events into its view, for point-in-time views: the projection's
//! own row and apply, so that a view as of now and the live view cannot drift.

use chrono::{DateTime, Utc};
use ticket_nats::TicketEvent;
use uuid::Uuid;

use super::dto::TicketView;
use super::row::ViewRow;
use crate::stored::StoredEvent;

/// One ticket's view folded from its events in sequence order, exactly as the projection
/// builds its row (point-in-time views fold this way, so that they cannot drift from the live
/// view), with every comment, internal ones included: what a caller may see of it is theirs to
/// decide. SLA breaches are judged at `now`. `None` before `ticket.created`.
pub fn fold(ticket_id: Uuid, events: &[StoredEvent], now: DateTime<Utc>) -> Option<TicketView> {
    let mut row: Option<ViewRow> = None;
    let mut comments = Vec::new();
    for stored in events {
        match (&mut row, &stored.event) {
            (Some(row), _) => row.apply(stored, &mut comments),
            (None, TicketEvent::Created(created)) => {
                row = Some(ViewRow::created(ticket_id, created, stored));
            }
            // Nothing is stored before a ticket's creation (the aggregate refuses it).
            (None, _) => {}
        }
    }
    Some(row?.into_view(comments, now))
}
