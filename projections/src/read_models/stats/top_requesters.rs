//! The requesters with the most tickets in a window, named: what both ways of counting a
//! window's requesters (every requester's row, or the kept chains) end with.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::read_models::requesters::TopRequester;

/// How many requesters `top` lists (more when tied with the last).
pub(super) const TOP: usize = 10;

/// The [`TOP`] requesters of `people` (tickets in the window by user), with their names: the
/// directory's, else the latest recorded on a ticket of the window.
pub(super) async fn named_top(
    conn: &mut PgConnection,
    people: HashMap<Uuid, i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<TopRequester>, sqlx::Error> {
    // Everyone tied with the tenth may be listed: their names decide, in the database's order.
    let mut counts: Vec<i64> = people.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let least = counts.get(TOP - 1).copied().unwrap_or(1);
    let (ids, tickets): (Vec<Uuid>, Vec<i64>) =
        people.into_iter().filter(|(_, n)| *n >= least).unzip();
    sqlx::query_as(
        "SELECT p.id,
                coalesce(u.name, (SELECT max(v.requester_name) FROM ticket_view v
                                  WHERE v.requester_id = p.id
                                    AND ($1::timestamptz IS NULL OR v.created_at >= $1)
                                    AND ($2::timestamptz IS NULL OR v.created_at < $2))) AS name,
                p.tickets
         FROM UNNEST($3::uuid[], $4::bigint[]) AS p(id, tickets)
         LEFT JOIN users u ON u.id = p.id
         ORDER BY p.tickets DESC, name, p.id LIMIT $5",
    )
    .bind(from)
    .bind(to)
    .bind(ids)
    .bind(tickets)
    .bind(TOP as i64)
    .fetch_all(&mut *conn)
    .await
}
