//! Which of a connection's channels an event goes to, and in what form. Who the caller is was
//! decided when the connection opened; per event this neither allocates nor asks the store.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgPool;
use ticket_nats::{Envelope, TicketEvent};
use ticket_projections::read_models::Viewer;
use ticket_projections::StoredEvent;
use uuid::Uuid;

use super::protocol::WsChannel;
use crate::auth::Caller;
use crate::domain::Role;
use crate::hub::Route;
use crate::{policy, views};

/// The tickets behind the `me` channel.
#[derive(Debug, Default)]
pub(super) struct MeTickets {
    requested: HashSet<Uuid>,
    assigned: HashSet<Uuid>,
    /// Requesters are never assignees; a requester token for a user who once was an agent must
    /// not see those tickets, so assignments are not followed for them.
    follow_assignments: bool,
}

impl MeTickets {
    /// The caller's tickets as of `position`: those they requested, and (for everyone but
    /// requesters) those whose latest assignment up to `position` names them.
    pub(super) async fn load(
        pool: &PgPool,
        caller: &Caller,
        position: i64,
    ) -> Result<Self, sqlx::Error> {
        let follow_assignments = caller.role != Role::Requester;
        let requested = views::tickets_requested_by(pool, caller.id).await?;
        let assigned = if follow_assignments {
            views::tickets_assigned_to(pool, caller.id, position).await?
        } else {
            HashSet::new()
        };
        Ok(Self {
            requested,
            assigned,
            follow_assignments,
        })
    }

    fn contains(&self, ticket: &Uuid) -> bool {
        self.requested.contains(ticket) || self.assigned.contains(ticket)
    }

    fn apply(&mut self, ticket: Uuid, event: &TicketEvent, me: Uuid) {
        match event {
            TicketEvent::Created(created) if created.requester.id == me => {
                self.requested.insert(ticket);
            }
            TicketEvent::Assigned(assigned) if self.follow_assignments => {
                if assigned.assignee.as_ref().is_some_and(|a| a.id == me) {
                    self.assigned.insert(ticket);
                } else {
                    self.assigned.remove(&ticket);
                }
            }
            _ => {}
        }
    }
}

/// The channels of `channels` (each with the position after which it wants events) that the
/// event `stored` of `ticket` goes to, for `audience`, following `me`'s tickets on the way.
/// Call once per event, in position order.
pub(super) fn route(
    channels: &BTreeMap<WsChannel, i64>,
    me: Option<&mut MeTickets>,
    audience: Viewer,
    stored: &StoredEvent,
    ticket: Uuid,
) -> Routes {
    let position = stored.position;
    let (mine_before, mine_after) = match me {
        Some(me) => {
            let before = me.contains(&ticket);
            me.apply(ticket, &stored.event, audience.user_id);
            (before, me.contains(&ticket))
        }
        None => (false, false),
    };
    // A requester never sees an internal comment, on any channel; whoever reads every ticket
    // reads every event.
    if !audience.reads_everything && !policy::may_read_event(audience, &stored.envelope) {
        return Routes::default();
    }
    let wants = |channel: WsChannel| channels.get(&channel).is_some_and(|from| position > *from);
    // Looked up rather than walked: a connection may hold hundreds of ticket channels, and an
    // event can only be for these four. In the channels' order, as frames always went out.
    // `board` and `stats` are held only by agents, admins and auditors (see `authorize`); `me`
    // also gets the event that assigns the ticket away, so the assignee hears of it.
    let mut routes = Routes::default();
    for (route, channel, applies) in [
        (Route::Board, WsChannel::Board, true),
        (Route::Stats, WsChannel::Stats, true),
        (Route::Me, WsChannel::Me, mine_before || mine_after),
        (Route::Ticket, WsChannel::Ticket(ticket), true),
    ] {
        if applies && wants(channel) {
            routes.push(route);
        }
    }
    routes
}

/// The channels one event goes to on one connection, in the channels' order (at most one of
/// each [`Route`]), without allocating.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Routes {
    routes: [Option<Route>; 4],
    len: usize,
}

impl Routes {
    fn push(&mut self, route: Route) {
        if let Some(slot) = self.routes.get_mut(self.len) {
            *slot = Some(route);
            self.len += 1;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Route> + '_ {
        self.routes.iter().flatten().copied()
    }
}

/// The name of the channel `route` stands for, for an event of `ticket`.
pub(super) fn route_name(route: Route, ticket: Uuid) -> String {
    match route {
        Route::Board => WsChannel::Board.name(),
        Route::Stats => WsChannel::Stats.name(),
        Route::Me => WsChannel::Me.name(),
        Route::Ticket => WsChannel::Ticket(ticket).name(),
    }
}

/// An event as a connection's caller may receive it (see [`redacted`]).
pub(super) enum Redacted {
    /// As stored.
    Same,
    /// Not at all.
    Dropped,
    /// This envelope JSON instead.
    Changed(String),
}

/// A requester receives no custom field value over the socket (which fields are hidden may
/// change while it is open; their ticket's view shows the visible ones).
pub(super) fn redacted(audience: Viewer, envelope: &Envelope) -> Redacted {
    if audience.reads_everything {
        return Redacted::Same;
    }
    match policy::without_hidden_fields(envelope, |_| false) {
        None => Redacted::Dropped,
        Some(std::borrow::Cow::Borrowed(_)) => Redacted::Same,
        Some(std::borrow::Cow::Owned(e)) => {
            Redacted::Changed(serde_json::to_string(&e).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_nats::envelope::{Actor, EnvelopeHeader};
    use ticket_nats::events::{
        AuthorRef, TicketAssigned, TicketCommented, TicketReopened, UserRef,
    };
    use ticket_nats::{Timestamp, GENESIS_HASH};

    fn stored(ticket: Uuid, position: i64, event: &TicketEvent) -> StoredEvent {
        let actor = Actor {
            id: "a".into(),
            name: "A".into(),
            role: "agent".into(),
        };
        let mut envelope = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: ticket,
                seq: position,
                time: Timestamp::now(),
                actor: &actor,
                correlation_id: "c",
            },
            event,
            GENESIS_HASH,
        );
        envelope.position = position;
        StoredEvent::from_envelope(envelope).unwrap()
    }

    fn comment(internal: bool) -> TicketEvent {
        TicketEvent::Commented(TicketCommented {
            comment_id: Uuid::now_v7(),
            author: AuthorRef {
                id: Uuid::now_v7(),
                name: "A".into(),
                role: "agent".into(),
            },
            body: "b".into(),
            internal,
            via: None,
            attachments: Vec::new(),
        })
    }

    fn routes(
        channels: &BTreeMap<WsChannel, i64>,
        me: Option<&mut MeTickets>,
        audience: Viewer,
        event: &StoredEvent,
    ) -> Vec<Route> {
        let ticket = Uuid::parse_str(&event.envelope.subject).unwrap();
        route(channels, me, audience, event, ticket)
            .iter()
            .collect()
    }

    #[test]
    fn an_event_goes_to_the_subscribed_channels_in_order_after_their_positions() {
        let ticket = Uuid::now_v7();
        let other = Uuid::now_v7();
        let agent = Viewer {
            user_id: Uuid::now_v7(),
            reads_everything: true,
        };
        let reopened = TicketEvent::Reopened(TicketReopened { reason: None });
        let channels = BTreeMap::from([
            (WsChannel::Ticket(other), 0),
            (WsChannel::Ticket(ticket), 0),
            (WsChannel::Stats, 0),
            (WsChannel::Board, 5),
        ]);
        // `board` wants events after 5 only; another ticket's channel never.
        assert_eq!(
            routes(&channels, None, agent, &stored(ticket, 5, &reopened)),
            vec![Route::Stats, Route::Ticket]
        );
        assert_eq!(
            routes(&channels, None, agent, &stored(ticket, 6, &reopened)),
            vec![Route::Board, Route::Stats, Route::Ticket]
        );
        assert!(routes(&BTreeMap::new(), None, agent, &stored(ticket, 6, &reopened)).is_empty());
    }

    #[test]
    fn me_follows_assignments_and_hears_of_the_one_that_takes_a_ticket_away() {
        let ticket = Uuid::now_v7();
        let agent = Viewer {
            user_id: Uuid::now_v7(),
            reads_everything: true,
        };
        let channels = BTreeMap::from([(WsChannel::Me, 0)]);
        let mut me = MeTickets {
            follow_assignments: true,
            ..MeTickets::default()
        };
        let assign = |to: Option<Uuid>| {
            TicketEvent::Assigned(TicketAssigned {
                assignee: to.map(|id| UserRef {
                    id,
                    name: "X".into(),
                }),
                previous_assignee: None,
                team: None,
            })
        };
        let reopened = TicketEvent::Reopened(TicketReopened { reason: None });
        assert!(routes(
            &channels,
            Some(&mut me),
            agent,
            &stored(ticket, 1, &reopened)
        )
        .is_empty());
        let to_me = stored(ticket, 2, &assign(Some(agent.user_id)));
        assert_eq!(
            routes(&channels, Some(&mut me), agent, &to_me),
            vec![Route::Me]
        );
        let away = stored(ticket, 3, &assign(Some(Uuid::now_v7())));
        assert_eq!(
            routes(&channels, Some(&mut me), agent, &away),
            vec![Route::Me]
        );
        assert!(routes(
            &channels,
            Some(&mut me),
            agent,
            &stored(ticket, 4, &reopened)
        )
        .is_empty());
    }

    #[test]
    fn a_requester_gets_no_internal_comment_and_an_agent_every_one() {
        let ticket = Uuid::now_v7();
        let requester = Viewer {
            user_id: Uuid::now_v7(),
            reads_everything: false,
        };
        let agent = Viewer {
            user_id: Uuid::now_v7(),
            reads_everything: true,
        };
        let channels = BTreeMap::from([(WsChannel::Ticket(ticket), 0)]);
        let internal = stored(ticket, 1, &comment(true));
        let public = stored(ticket, 2, &comment(false));
        assert!(routes(&channels, None, requester, &internal).is_empty());
        assert_eq!(
            routes(&channels, None, requester, &public),
            vec![Route::Ticket]
        );
        assert_eq!(
            routes(&channels, None, agent, &internal),
            vec![Route::Ticket]
        );
    }
}
