//! Point-in-time ticket views (`GET /tickets/{id}?as_of=`): the ticket's stored events up to an
//! instant, folded by the live ticket view's own fold ([`tickets::fold()`]), so that a view as of
//! now and the live view are one function of the events; and the lookups on the store that
//! decide, before any read model has caught up, whether a ticket exists and whose it is.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use sqlx::PgPool;
use ticket_nats::{Envelope, Timestamp};
use ticket_projections::read_models::tickets::{self, TicketView};
use ticket_projections::read_models::Viewer;
use ticket_projections::StoredEvent;
use uuid::Uuid;

use crate::domain::Ticket;
use crate::{policy, users};

/// The ticket as it stood at `at`, as `viewer` may see it: `None` when it did not exist then
/// or is not theirs to read. Built from positioned events only, like every consumer's view.
pub async fn ticket_as_of(
    pool: &PgPool,
    id: Uuid,
    at: Timestamp,
    viewer: Viewer,
) -> Result<Option<TicketView>, sqlx::Error> {
    let envelopes = ticket_projections::stored::read_ticket(pool, id, Some(at), false).await?;
    // SLA targets due after the present have not been missed yet, whatever `at` says.
    let now = at.as_datetime().min(Utc::now());
    // A requester reads the tickets of a user merged into them as that user would.
    let viewer = match requester_of(pool, id).await? {
        Some(requester)
            if viewer.only_requester().is_some_and(|me| me != requester)
                && users::stands_for(pool, viewer.user_id, requester).await? =>
        {
            Viewer {
                user_id: requester,
                ..viewer
            }
        }
        _ => viewer,
    };
    let Some(mut view) = fold(id, &envelopes, now, viewer) else {
        return Ok(None);
    };
    tickets::hide_others_tickets(pool, &mut view, viewer).await?;
    tickets::hide_fields(pool, &mut view, viewer, Some(at.as_datetime())).await?;
    Ok(Some(view))
}

/// May `viewer` read the ticket whose requester is `requester`: the policy's rule, where a
/// requester's own tickets include those of users merged into them.
pub async fn may_read(
    pool: &PgPool,
    viewer: Viewer,
    requester: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    if policy::may_read_ticket(viewer, requester) {
        return Ok(true);
    }
    match requester {
        Some(requester) => users::stands_for(pool, viewer.user_id, requester).await,
        None => Ok(false),
    }
}

/// The requester of a stored ticket, read from its `ticket.created` (`None`: no such ticket).
/// Answers before the read models have caught up, so that a wait reveals nothing.
pub async fn requester_of(pool: &PgPool, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    Ok(ticket_requester(pool, id).await?.flatten())
}

/// `Some(requester)` of an existing ticket (`None` inside when its `ticket.created` names no
/// readable requester), `None` for no such ticket. Committed events count, positioned or not:
/// a client may ask right after its command's answer.
pub async fn ticket_requester(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    let requester: Option<Option<String>> = sqlx::query_scalar(
        "SELECT event_member_id(payload, 'requester') FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
    )
    .bind(Ticket::TYPE)
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(requester.map(|r| r.and_then(|text| Uuid::parse_str(&text).ok())))
}

/// The tickets requested by `$1` or by a user merged into `$1`, through the partial index
/// `events_ticket_requester`: a user's tickets are found without reading every creation. Only
/// tickets have `ticket.*` events, so the aggregate type is not asked (the primary key, which
/// leads with it, would otherwise compete).
pub const REQUESTED_BY: &str = "SELECT aggregate_id FROM events
     WHERE event_type = 'ticket.created' AND event_member_id(payload, 'requester') = ANY(ARRAY(
         SELECT $1 UNION ALL SELECT id::text FROM users WHERE merged_into = $1::uuid))";

/// The tickets the ticket view shows assigned to `$1` and the position it stands at, in one
/// snapshot (the step that writes `my_tickets` moves the checkpoint `$2`): an index range of
/// `my_tickets`' primary key, no event read.
pub const ASSIGNED_IN_VIEW: &str = "SELECT
        coalesce((SELECT position FROM projection_checkpoints WHERE name = $2), 0)::bigint,
        ARRAY(SELECT ticket_id FROM my_tickets WHERE user_id = $1 AND assigned)";

/// Each ticket assigned in positions (`$1`, `$2`], with its assignee as of position `$3` (NULL:
/// none): the positions between the ticket view and the wanted one, by the position index,
/// then each ticket's latest assignment by the primary key.
pub const ASSIGNEES_AS_OF: &str = "SELECT t.aggregate_id,
            (SELECT event_member_id(e.payload, 'assignee') FROM events e
             WHERE e.aggregate_type = $4 AND e.aggregate_id = t.aggregate_id
               AND e.event_type = 'ticket.assigned' AND e.position <= $3
             ORDER BY e.sequence DESC LIMIT 1)
     FROM (SELECT DISTINCT aggregate_id FROM events
           WHERE position > $1 AND position <= $2 AND event_type = 'ticket.assigned') t";

/// Positions between the ticket view and the wanted one past which the store is asked instead
/// (the view is being rebuilt, or a `since` lies far back).
const VIEW_GAP_LIMIT: i64 = 10_000;

/// The tickets whose latest assignment up to position `$3` names `$2`, from the store alone:
/// the tickets ever assigned to them through the partial index `events_ticket_assignee`, then
/// each one's assignments through the primary key (every assignment's document is read).
pub const ASSIGNED_TO: &str = "SELECT aggregate_id FROM (
             SELECT DISTINCT ON (aggregate_id) aggregate_id,
                    event_member_id(payload, 'assignee') AS assignee
             FROM events
             WHERE aggregate_type = $1 AND event_type = 'ticket.assigned'
               AND position <= $3
               AND aggregate_id IN (
                   SELECT aggregate_id FROM events
                   WHERE event_type = 'ticket.assigned'
                     AND event_member_id(payload, 'assignee') = $2)
             ORDER BY aggregate_id, sequence DESC
         ) latest
         WHERE assignee = $2";

/// Every ticket created for `user` as its requester, however new (a requester never changes).
pub async fn tickets_requested_by(pool: &PgPool, user: Uuid) -> Result<HashSet<Uuid>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar(REQUESTED_BY)
        .bind(user.to_string())
        .fetch_all(pool)
        .await?;
    Ok(ids(rows))
}

/// The tickets whose latest assignment up to `position` names `user`: the ticket view's
/// (`my_tickets`), set right for the tickets assigned between its position and `position`.
///
/// The view and the store agree at every position: the view's `assigned` follows exactly the
/// `ticket.assigned` events, so a ticket not assigned in between has the same latest
/// assignment at both positions, and each one that was is looked up as of `position`.
pub async fn tickets_assigned_to(
    pool: &PgPool,
    user: Uuid,
    position: i64,
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let (at, assigned): (i64, Vec<Uuid>) = sqlx::query_as(ASSIGNED_IN_VIEW)
        .bind(user)
        .bind(tickets::NAME)
        .fetch_one(pool)
        .await?;
    if at.abs_diff(position) > VIEW_GAP_LIMIT.unsigned_abs() {
        return tickets_assigned_to_in_store(pool, user, position).await;
    }
    let mut assigned: HashSet<Uuid> = assigned.into_iter().collect();
    if at != position {
        let changed: Vec<(String, Option<String>)> = sqlx::query_as(ASSIGNEES_AS_OF)
            .bind(at.min(position))
            .bind(at.max(position))
            .bind(position)
            .bind(Ticket::TYPE)
            .fetch_all(pool)
            .await?;
        let me = user.to_string();
        for (ticket, assignee) in changed {
            let Ok(ticket) = Uuid::parse_str(&ticket) else {
                continue;
            };
            if assignee.as_deref() == Some(me.as_str()) {
                assigned.insert(ticket);
            } else {
                assigned.remove(&ticket);
            }
        }
    }
    Ok(assigned)
}

/// [`tickets_assigned_to`] from the store alone ([`ASSIGNED_TO`]).
pub async fn tickets_assigned_to_in_store(
    pool: &PgPool,
    user: Uuid,
    position: i64,
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar(ASSIGNED_TO)
        .bind(Ticket::TYPE)
        .bind(user.to_string())
        .bind(position)
        .fetch_all(pool)
        .await?;
    Ok(ids(rows))
}

fn ids(rows: Vec<String>) -> HashSet<Uuid> {
    rows.into_iter()
        .filter_map(|id| Uuid::parse_str(&id).ok())
        .collect()
}

/// Folds a ticket's envelopes (in sequence order) into its view as `viewer` may see it, SLA
/// breaches judged at `now`: the live view's own fold ([`tickets::fold()`]), then the read policy.
pub fn fold(
    id: Uuid,
    envelopes: &[Envelope],
    now: DateTime<Utc>,
    viewer: Viewer,
) -> Option<TicketView> {
    let events: Vec<StoredEvent> = envelopes
        .iter()
        .filter_map(|envelope| match StoredEvent::from_envelope(envelope.clone()) {
            Ok(stored) => Some(stored),
            Err(error) => {
                tracing::warn!(event_id = %envelope.id, %error, "stored event cannot be typed; skipped");
                None
            }
        })
        .collect();
    let mut view = tickets::fold(id, &events, now)?;
    if !policy::may_read_ticket(viewer, Some(view.requester.id)) {
        return None;
    }
    view.comments
        .retain(|comment| policy::may_read_comment(viewer, comment.internal));
    Some(view)
}

#[cfg(test)]
mod tests {
    use ticket_nats::envelope::{Actor, EnvelopeHeader};
    use ticket_nats::events::{
        AuthorRef, RequesterRef, SlaDue, TicketClosed, TicketCommented, TicketCreated,
        TicketReopened,
    };
    use ticket_nats::{Channel, Priority, TicketEvent, GENESIS_HASH};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse::<Timestamp>().unwrap().as_datetime()
    }

    fn requester() -> Uuid {
        Uuid::from_u128(1)
    }

    fn envelope(seq: i64, time: &str, event: TicketEvent) -> Envelope {
        let actor = Actor::system();
        Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: Uuid::nil(),
                seq,
                time: time.parse().unwrap(),
                actor: &actor,
                correlation_id: "c",
            },
            &event,
            GENESIS_HASH,
        )
    }

    fn comment(author: u128, internal: bool) -> TicketEvent {
        TicketEvent::Commented(TicketCommented {
            comment_id: Uuid::from_u128(100 + author),
            author: AuthorRef {
                id: Uuid::from_u128(author),
                name: format!("user {author}"),
                role: if author == 1 { "requester" } else { "agent" }.into(),
            },
            body: "hi".into(),
            internal,
            via: None,
            attachments: Vec::new(),
        })
    }

    fn history() -> Vec<Envelope> {
        vec![
            envelope(
                1,
                "2026-11-23T10:00:00.000Z",
                TicketEvent::Created(TicketCreated {
                    number: 3,
                    title: "Mail".into(),
                    description: "bounces".into(),
                    category: "email".into(),
                    priority: Priority::Urgent,
                    channel: Channel::Web,
                    requester: RequesterRef {
                        id: requester(),
                        name: "Rita".into(),
                        email: Some("rita@example.com".into()),
                    },
                    sla: SlaDue {
                        first_response_due: "2026-11-23T10:15:00.000Z".parse().unwrap(),
                        resolution_due: "2026-11-23T11:00:00.000Z".parse().unwrap(),
                    },
                    integration: None,
                    metadata: None,
                    fields: None,
                }),
            ),
            envelope(2, "2026-11-23T10:01:00.000Z", comment(1, false)),
            envelope(3, "2026-11-23T10:05:00.000Z", comment(2, true)),
            envelope(
                4,
                "2026-11-23T10:30:00.000Z",
                TicketEvent::Closed(TicketClosed {
                    resolution: Some("fixed".into()),
                }),
            ),
            envelope(
                5,
                "2026-11-23T10:40:00.000Z",
                TicketEvent::Reopened(TicketReopened { reason: None }),
            ),
        ]
    }

    fn staff() -> Viewer {
        Viewer {
            user_id: Uuid::from_u128(2),
            reads_everything: true,
        }
    }

    #[test]
    fn the_fold_is_the_live_views_with_times_from_the_envelopes() {
        let all = history();
        let view = fold(Uuid::nil(), &all[..4], t("2026-11-23T10:35:00Z"), staff()).unwrap();
        assert_eq!(view.status, "closed");
        assert_eq!(view.version, 4);
        assert_eq!(
            view.closed_at,
            Some("2026-11-23T10:30:00.000Z".parse().unwrap())
        );
        assert_eq!(
            view.first_response_at,
            Some("2026-11-23T10:05:00.000Z".parse().unwrap()),
            "the agent's comment, not the requester's"
        );
        assert_eq!(view.comments.len(), 2);
        assert!(!view.sla.first_response_breached && !view.sla.resolution_breached);

        let reopened = fold(Uuid::nil(), &all, t("2026-11-23T11:00:00Z"), staff()).unwrap();
        assert_eq!(reopened.status, "open");
        assert_eq!(reopened.closed_at, None);
        assert_eq!(reopened.resolution.as_deref(), Some("fixed"));
        assert!(reopened.sla.resolution_breached, "due at 11:00, not closed");
        assert_eq!(
            reopened.updated_at,
            "2026-11-23T10:40:00.000Z".parse().unwrap()
        );
    }

    #[test]
    fn requesters_see_only_their_tickets_without_internal_comments() {
        let all = history();
        let own = Viewer {
            user_id: requester(),
            reads_everything: false,
        };
        let view = fold(Uuid::nil(), &all, t("2026-11-23T10:50:00Z"), own).unwrap();
        assert_eq!(view.comments.len(), 1);
        let stranger = Viewer {
            user_id: Uuid::from_u128(9),
            reads_everything: false,
        };
        assert_eq!(
            fold(Uuid::nil(), &all, t("2026-11-23T10:50:00Z"), stranger),
            None
        );
        assert_eq!(
            fold(Uuid::nil(), &[], t("2026-11-23T10:50:00Z"), staff()),
            None
        );
    }
}
