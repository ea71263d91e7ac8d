//! What a caller may read: which tickets, whether internal comments (and their events), which
//! boards and WebSocket channels. Commands are the aggregate's to authorize; every read path
//! (HTTP queries, point-in-time views, history, the WebSocket) asks here. The read models apply
//! the same decision in SQL through the [`Viewer`] built here, whose methods say once what
//! reading everything, or not, allows.
//!
//! The rule (CONTRACT 2.1): agents, admins and auditors read every ticket, internal comments
//! included; a requester reads only the tickets they requested, never an internal comment.

use ticket_nats::Envelope;
use ticket_projections::read_models::Viewer;
use uuid::Uuid;

use crate::auth::Caller;

/// The caller as the read models see it.
pub fn viewer(caller: &Caller) -> Viewer {
    Viewer {
        user_id: caller.id,
        reads_everything: caller.role.reads_everything(),
    }
}

/// May the caller read every ticket (the board, statistics, the `board` and `stats` channels)?
pub fn reads_every_ticket(caller: &Caller) -> bool {
    caller.role.reads_everything()
}

/// May `viewer` read the ticket whose requester is `requester` (`None`: its `ticket.created`
/// names no readable requester)? A ticket that does not exist is decided by the caller.
pub fn may_read_ticket(viewer: Viewer, requester: Option<Uuid>) -> bool {
    viewer.may_read_ticket(requester)
}

/// May `viewer` read a comment (or the event recording it) that is `internal` or not?
pub fn may_read_comment(viewer: Viewer, internal: bool) -> bool {
    viewer.may_read_comment(internal)
}

/// Events whose data names another ticket by its id.
const NAMING_OTHER_TICKETS: [&str; 4] = [
    "ticket.linked",
    "ticket.unlinked",
    "ticket.merged",
    "ticket.merged_from",
];

/// May `viewer` receive this stored event of a ticket they may read? Requesters get neither
/// internal comments nor the events that name another ticket (links and merges), which may
/// not be theirs: their ticket's view shows the links to tickets of theirs.
pub fn may_read_event(viewer: Viewer, envelope: &Envelope) -> bool {
    may_read_comment(viewer, envelope.is_internal())
        && (viewer.reads_everything
            || !NAMING_OTHER_TICKETS.contains(&envelope.event_type.as_str()))
}

/// `envelope` as a requester may read it, custom field values whose key `visible` refuses left
/// out of its data (CONTRACT 10: a hidden value is left out of everything a requester reads):
/// `None` when it is an update that changed nothing else, `Cow::Borrowed` when nothing was
/// hidden. The stored envelope, and so its hash, is untouched; requesters do not verify chains.
pub fn without_hidden_fields<'a>(
    envelope: &'a Envelope,
    visible: impl Fn(&str) -> bool,
) -> Option<std::borrow::Cow<'a, Envelope>> {
    use std::borrow::Cow;
    let prefix = ticket_nats::events::CUSTOM_FIELD_PREFIX;
    match envelope.event_type.as_str() {
        "ticket.created" => {
            let Some(fields) = envelope.data.get("fields").and_then(|f| f.as_object()) else {
                return Some(Cow::Borrowed(envelope));
            };
            if fields.keys().all(|k| visible(k)) {
                return Some(Cow::Borrowed(envelope));
            }
            let mut redacted = envelope.clone();
            if let Some(fields) = redacted
                .data
                .get_mut("fields")
                .and_then(|f| f.as_object_mut())
            {
                fields.retain(|k, _| visible(k));
            }
            Some(Cow::Owned(redacted))
        }
        "ticket.updated" => {
            let Some(changes) = envelope.data.get("changes").and_then(|c| c.as_object()) else {
                return Some(Cow::Borrowed(envelope));
            };
            let hidden = |name: &str| name.strip_prefix(prefix).is_some_and(|k| !visible(k));
            if !changes.keys().any(|n| hidden(n)) {
                return Some(Cow::Borrowed(envelope));
            }
            if changes.keys().all(|n| hidden(n)) {
                return None;
            }
            let mut redacted = envelope.clone();
            if let Some(changes) = redacted
                .data
                .get_mut("changes")
                .and_then(|c| c.as_object_mut())
            {
                changes.retain(|n, _| !hidden(n));
            }
            Some(Cow::Owned(redacted))
        }
        _ => Some(Cow::Borrowed(envelope)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::Role;

    fn caller(role: Role) -> Caller {
        Caller {
            id: Uuid::from_u128(7),
            email: "x@example.com".into(),
            name: "X".into(),
            role,
            expires_at: Some(SystemTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn requesters_read_their_own_tickets_and_no_internal_comments() {
        let me = viewer(&caller(Role::Requester));

        assert!(may_read_ticket(me, Some(Uuid::from_u128(7))));
        assert!(!may_read_ticket(me, Some(Uuid::from_u128(8))));
        assert!(!may_read_ticket(me, None));
        assert!(may_read_comment(me, false));
        assert!(!may_read_comment(me, true));
        assert!(!reads_every_ticket(&caller(Role::Requester)));
    }

    proptest! {
        #[test]
        fn everyone_but_requesters_reads_everything(
            role in prop::sample::select(Role::ALL.to_vec()),
            requester in prop::option::of(any::<u128>()),
            internal in any::<bool>(),
        ) {
            let who = caller(role);
            let v = viewer(&who);
            let staff = role != Role::Requester;

            prop_assert_eq!(reads_every_ticket(&who), staff);
            prop_assert_eq!(v.reads_everything, staff);
            prop_assert_eq!(
                may_read_ticket(v, requester.map(Uuid::from_u128)),
                staff || requester == Some(7)
            );
            prop_assert_eq!(may_read_comment(v, internal), staff || !internal);
        }
    }
}
