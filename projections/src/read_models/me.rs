//! Per-user state: what each user requested or is assigned to, and what they have not read.
//!
//! `ticket_reads` is user state, written by `POST /tickets/{id}/read`, not a projection table:
//! a rebuild keeps it.
//!
//! The unread rule (CONTRACT 2.5): a ticket is unread for a user when an event by someone else,
//! that the user may see (requesters never see internal comments), happened after the user last
//! read it; a ticket never read is unread once someone else acted on it. The ticket view keeps,
//! per ticket, who acted last and the latest event by anyone else ([`mine::Actors`]), which
//! gives that event for any user: a list tells it per row, and `/me` counts it from what the
//! ticket view projection keeps per user ([`super::tickets::mine`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use ticket_nats::Status;
use uuid::Uuid;

use super::query::{requested_by, Viewer};
use super::tickets::mine;

/// Appends whether ticket `v` is unread for `viewer` (a boolean expression).
pub(crate) fn push_unread(qb: &mut QueryBuilder<'_, Postgres>, viewer: Viewer) {
    // [`mine::Actors::seen_by`] in SQL: the latest event by someone other than the viewer.
    let (actor, last, other) = if viewer.reads_internal() {
        (
            "last_actor_id",
            "last_actor_position",
            "other_actor_position",
        )
    } else {
        (
            "public_actor_id",
            "public_actor_position",
            "public_other_position",
        )
    };
    qb.push(format!("((CASE WHEN v.{actor} = "))
        .push_bind(viewer.user_id)
        .push(format!(
            " THEN v.{other} ELSE v.{last} END)
              > COALESCE((SELECT r.position FROM ticket_reads r
                          WHERE r.ticket_id = v.ticket_id AND r.user_id = "
        ))
        .push_bind(viewer.user_id)
        .push("), 0))");
}

/// A user's tickets by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Open.
    pub open: i64,
    /// In progress.
    pub in_progress: i64,
    /// Waiting on the requester.
    pub pending: i64,
    /// Closed.
    pub closed: i64,
}

/// `GET /me`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MySummary {
    /// Tickets the user requested.
    pub requested: StatusCounts,
    /// Tickets assigned to the user.
    pub assigned: StatusCounts,
    /// Tickets the user requested or is assigned to that are unread for them.
    pub unread: i64,
}

/// The viewer's counts: their kept counts (`my_counts`, with those of users merged into them),
/// less the tickets someone else acted on that the viewer has read since (their `ticket_reads`,
/// joined to `my_tickets`).
pub async fn summary(pool: &PgPool, viewer: Viewer) -> Result<MySummary, sqlx::Error> {
    let seen = if viewer.reads_internal() {
        mine::SEEN
    } else {
        mine::SEEN_PUBLIC
    };
    let column = if viewer.reads_internal() {
        "m.seen"
    } else {
        "m.seen_public"
    };
    // One statement: one snapshot of the counts and the reads.
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "WITH me AS (SELECT $1::uuid AS id UNION ALL SELECT id FROM users WHERE merged_into = $1)
         SELECT metric, sum(n)::bigint FROM my_counts WHERE user_id IN (SELECT id FROM me)
         GROUP BY metric
         UNION ALL
         SELECT 'read', count(*) FROM ticket_reads r
         JOIN my_tickets m ON m.ticket_id = r.ticket_id AND m.user_id IN (SELECT id FROM me)
         WHERE r.user_id = $1 AND {column} > 0 AND {column} <= r.position"
    ))
    .bind(viewer.user_id)
    .fetch_all(pool)
    .await?;
    let counts: HashMap<String, i64> = rows.into_iter().collect();
    let n = |metric: &str| counts.get(metric).copied().unwrap_or(0);
    let by_status = |who: &str| StatusCounts {
        open: n(&mine::status_metric(who, Status::Open)),
        in_progress: n(&mine::status_metric(who, Status::InProgress)),
        pending: n(&mine::status_metric(who, Status::Pending)),
        closed: n(&mine::status_metric(who, Status::Closed)),
    };
    Ok(MySummary {
        requested: by_status("requested"),
        assigned: by_status("assigned"),
        unread: n(seen) - n("read"),
    })
}

/// Marks a ticket read by the viewer up to the latest event the ticket view has applied.
/// `false` when the ticket does not exist or is not the viewer's to read.
pub async fn mark_read(
    pool: &PgPool,
    ticket_id: Uuid,
    viewer: Viewer,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "INSERT INTO ticket_reads (user_id, ticket_id, position, read_at)
         SELECT $1, v.ticket_id, v.last_position, now()
         FROM ticket_view v
         WHERE v.ticket_id = $2 AND ($3::uuid IS NULL OR {})
         ON CONFLICT (user_id, ticket_id) DO UPDATE
             SET position = GREATEST(ticket_reads.position, EXCLUDED.position),
                 read_at = EXCLUDED.read_at",
        requested_by("$3")
    );
    let marked = sqlx::query(&sql)
        .bind(viewer.user_id)
        .bind(ticket_id)
        .bind(viewer.only_requester())
        .execute(pool)
        .await?;
    Ok(marked.rows_affected() > 0)
}
