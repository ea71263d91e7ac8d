//! Each ticket's place among its requester's tickets (`requester_tickets`: when the 1st, 2nd,
//! 4th and 8th earlier ones were created) and the per-day counts of the distances to the 1st
//! and 2nd (`requester_gaps`), from which [`crate::read_models::stats`] answers a window's
//! requester figures without reading a row per requester (see the migration that made them).
//!
//! Both are a function of the set of tickets (requester and creation time of each), whatever
//! the order the events arrive in: a ticket created before others of its requester (an event
//! with an earlier time applied later) moves their earlier tickets, and they are rewritten.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::copy_text::CopyText;

/// The farthest distance, in days, kept in `requester_gaps`: windows of up to this many whole
/// days and a part of a day on each side are answered from it.
pub const GAP_DAYS: i64 = 92;

/// How many earlier tickets a ticket records, by column.
pub const DEPTHS: [(usize, &str); 4] = [
    (1, "prev1_at"),
    (2, "prev2_at"),
    (4, "prev4_at"),
    (8, "prev8_at"),
];
const DEEPEST: usize = 8;

/// A `requester_tickets` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
struct Link {
    ticket_id: Uuid,
    requester_id: Uuid,
    created_at: DateTime<Utc>,
    prev1_at: Option<DateTime<Utc>>,
    prev2_at: Option<DateTime<Utc>>,
    prev4_at: Option<DateTime<Utc>>,
    prev8_at: Option<DateTime<Utc>>,
}

type GapKey = (NaiveDate, i16, i16);

impl Link {
    /// What the ticket counts in `requester_gaps`: `(day, depth, gap)`.
    fn gaps(&self) -> Vec<GapKey> {
        let day = self.created_at.date_naive();
        let mut out = vec![(day, 0, 0)];
        for (depth, earlier) in [(1, self.prev1_at), (2, self.prev2_at)] {
            let Some(earlier) = earlier else { continue };
            let gap = (day - earlier.date_naive()).num_days();
            if (0..=GAP_DAYS).contains(&gap) {
                out.push((day, depth, gap as i16));
            }
        }
        out
    }
}

/// A ticket the batch opened: id, requester, creation time.
pub(crate) type Opened = (Uuid, Uuid, DateTime<Utc>);

/// Tickets recorded per statement, at most (a requester's all in one).
const CHUNK: usize = 100_000;

/// Records `opened` and rewrites the tickets they move, the tickets of a set of requesters at
/// a time (each requester's chain is theirs alone), then their gap counts, all at once.
pub(crate) async fn record(conn: &mut PgConnection, opened: &[Opened]) -> Result<(), sqlx::Error> {
    let mut by_requester: HashMap<Uuid, Vec<(DateTime<Utc>, Uuid)>> = HashMap::new();
    for &(id, requester, at) in opened {
        by_requester.entry(requester).or_default().push((at, id));
    }
    let mut delta = HashMap::new();
    let mut chunk = HashMap::new();
    let mut tickets = 0;
    for (requester, theirs) in by_requester {
        tickets += theirs.len();
        chunk.insert(requester, theirs);
        if tickets >= CHUNK {
            record_chunk(conn, std::mem::take(&mut chunk), &mut delta).await?;
            tickets = 0;
        }
    }
    record_chunk(conn, chunk, &mut delta).await?;
    write_gaps(conn, delta).await
}

/// Records whole requesters' opened tickets (see [`record`]); adds what they change in
/// `requester_gaps` to `delta`.
async fn record_chunk(
    conn: &mut PgConnection,
    by_requester: HashMap<Uuid, Vec<(DateTime<Utc>, Uuid)>>,
    delta: &mut HashMap<GapKey, i64>,
) -> Result<(), sqlx::Error> {
    if by_requester.is_empty() {
        return Ok(());
    }
    let (mut requesters, mut times, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for (requester, tickets) in &by_requester {
        if let Some(&(at, id)) = tickets.iter().min() {
            requesters.push(*requester);
            times.push(at);
            ids.push(id);
        }
    }
    // Per requester: the tickets that may be earlier ones of a new ticket (the eight before
    // its first), and every later one, whose earlier ones the new tickets may change
    // (normally none: tickets arrive in creation order), the first new one included should it
    // be recorded already.
    let known: Vec<Link> = sqlx::query_as(
        "SELECT t.* FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[]) AS q(requester_id, created_at, ticket_id)
         CROSS JOIN LATERAL (
             (SELECT * FROM requester_tickets t
              WHERE t.requester_id = q.requester_id
                AND (t.created_at, t.ticket_id) < (q.created_at, q.ticket_id)
              ORDER BY t.created_at DESC, t.ticket_id DESC LIMIT 8)
             UNION ALL
             (SELECT * FROM requester_tickets t
              WHERE t.requester_id = q.requester_id
                AND (t.created_at, t.ticket_id) >= (q.created_at, q.ticket_id))
         ) t",
    )
    .bind(&requesters)
    .bind(&times)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut known_by_requester: HashMap<Uuid, Vec<Link>> = HashMap::new();
    for link in known {
        known_by_requester
            .entry(link.requester_id)
            .or_default()
            .push(link);
    }
    let changed = links(by_requester, known_by_requester, delta);
    if !changed.is_empty() {
        sqlx::query(
            "INSERT INTO requester_tickets (ticket_id, requester_id, created_at, prev1_at, prev2_at,
                                            prev4_at, prev8_at)
             SELECT ticket_id, requester_id, created_at, prev1_at, prev2_at, prev4_at, prev8_at
             FROM jsonb_populate_recordset(NULL::requester_tickets, $1)
             ON CONFLICT (ticket_id) DO UPDATE
                 SET prev1_at = EXCLUDED.prev1_at, prev2_at = EXCLUDED.prev2_at,
                     prev4_at = EXCLUDED.prev4_at, prev8_at = EXCLUDED.prev8_at",
        )
        .bind(sqlx::types::Json(&changed))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records every ticket of `opened` into a rebuild's copy, which holds no ticket yet: the
/// chains need nothing read, and their rows are copied in ([`crate::copy_text`]). At
/// 1,000,000 tickets the upserts took 11 s in 10 statements at the end of a rebuild.
pub(crate) async fn record_new(
    conn: &mut PgConnection,
    opened: &[Opened],
) -> Result<(), sqlx::Error> {
    let mut by_requester: HashMap<Uuid, Vec<(DateTime<Utc>, Uuid)>> = HashMap::new();
    for &(id, requester, at) in opened {
        by_requester.entry(requester).or_default().push((at, id));
    }
    let mut delta = HashMap::new();
    let mut out = CopyText::new();
    for link in links(by_requester, HashMap::new(), &mut delta) {
        out.plain(link.ticket_id);
        out.plain(link.requester_id);
        out.time(link.created_at);
        for earlier in [link.prev1_at, link.prev2_at, link.prev4_at, link.prev8_at] {
            out.opt_time(earlier);
        }
        out.end_row();
    }
    out.send(
        conn,
        "COPY requester_tickets (ticket_id, requester_id, created_at, prev1_at, prev2_at,
                                 prev4_at, prev8_at) FROM STDIN",
    )
    .await?;
    write_gaps(conn, delta).await
}

/// The rows of `by_requester`'s new tickets, and of their `known` tickets that the new ones
/// move, with what they change in `requester_gaps` added to `delta`.
fn links(
    by_requester: HashMap<Uuid, Vec<(DateTime<Utc>, Uuid)>>,
    mut known: HashMap<Uuid, Vec<Link>>,
    delta: &mut HashMap<GapKey, i64>,
) -> Vec<Link> {
    let mut changed = Vec::new();
    for (requester, tickets) in by_requester {
        let mut chain: Vec<(DateTime<Utc>, Uuid, Option<Link>)> = known
            .remove(&requester)
            .unwrap_or_default()
            .into_iter()
            .map(|link| (link.created_at, link.ticket_id, Some(link)))
            .collect();
        for (at, id) in tickets {
            // Recorded already (a replayed batch): it stays as it is.
            if !chain.iter().any(|(_, known, _)| *known == id) {
                chain.push((at, id, None));
            }
        }
        chain.sort_by_key(|&(at, id, _)| (at, id));
        let Some(first_new) = chain.iter().position(|(_, _, link)| link.is_none()) else {
            continue;
        };
        // Fewer than eight tickets before the first new one: they are all the requester has.
        debug_assert!(first_new <= DEEPEST);
        for i in first_new..chain.len() {
            let earlier = |k: usize| i.checked_sub(k).map(|j| chain[j].0);
            let link = Link {
                ticket_id: chain[i].1,
                requester_id: requester,
                created_at: chain[i].0,
                prev1_at: earlier(1),
                prev2_at: earlier(2),
                prev4_at: earlier(4),
                prev8_at: earlier(8),
            };
            match &chain[i].2 {
                Some(old) if *old == link => continue,
                Some(old) => {
                    for key in old.gaps() {
                        *delta.entry(key).or_default() -= 1;
                    }
                }
                None => {}
            }
            for key in link.gaps() {
                *delta.entry(key).or_default() += 1;
            }
            changed.push(link);
        }
    }
    changed
}

/// Adds `delta` to `requester_gaps`, and drops rows that count nothing any more, so that the
/// table holds the same rows however the events were batched.
async fn write_gaps(
    conn: &mut PgConnection,
    delta: HashMap<GapKey, i64>,
) -> Result<(), sqlx::Error> {
    let (mut days, mut depths, mut gaps, mut ns) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((day, depth, gap), n) in delta {
        if n != 0 {
            days.push(day);
            depths.push(depth);
            gaps.push(gap);
            ns.push(n);
        }
    }
    if days.is_empty() {
        return Ok(());
    }
    let emptied: Vec<(NaiveDate, i16, i16)> = sqlx::query_as(
        "INSERT INTO requester_gaps (day, depth, gap, n)
         SELECT * FROM UNNEST($1::date[], $2::smallint[], $3::smallint[], $4::bigint[])
         ON CONFLICT (day, depth, gap) DO UPDATE SET n = requester_gaps.n + EXCLUDED.n
         RETURNING day, depth, gap, n = 0 AS empty",
    )
    .bind(days)
    .bind(depths)
    .bind(gaps)
    .bind(ns)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|(day, depth, gap, empty): (NaiveDate, i16, i16, bool)| {
        empty.then_some((day, depth, gap))
    })
    .collect();
    if emptied.is_empty() {
        return Ok(());
    }
    let (days, depths, gaps): (Vec<_>, Vec<_>, Vec<_>) = emptied.into_iter().fold(
        Default::default(),
        |(mut days, mut depths, mut gaps), (day, depth, gap)| {
            days.push(day);
            depths.push(depth);
            gaps.push(gap);
            (days, depths, gaps)
        },
    );
    sqlx::query(
        "DELETE FROM requester_gaps g
         USING UNNEST($1::date[], $2::smallint[], $3::smallint[]) AS e(day, depth, gap)
         WHERE g.day = e.day AND g.depth = e.depth AND g.gap = e.gap AND g.n = 0",
    )
    .bind(days)
    .bind(depths)
    .bind(gaps)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_ticket_counts_its_day_and_the_days_since_its_earlier_tickets_within_reach() {
        let link = Link {
            ticket_id: Uuid::nil(),
            requester_id: Uuid::nil(),
            created_at: t("2026-03-10T00:30:00Z"),
            prev1_at: Some(t("2026-03-09T23:59:00Z")),
            prev2_at: Some(t("2025-12-01T10:00:00Z")),
            prev4_at: None,
            prev8_at: None,
        };
        let day = t("2026-03-10T00:00:00Z").date_naive();
        // One day apart by the calendar, though 31 minutes; the second is 99 days back.
        assert_eq!(link.gaps(), vec![(day, 0, 0), (day, 1, 1)]);
    }
}
