//! The requester members of `GET /stats` over a window that starts at an instant and spans at
//! most [`GAP_DAYS`] whole days (the dashboard's 30 days among them), from each ticket's
//! earlier tickets ([`crate::read_models::tickets::requester_chain`]) instead of a row per
//! requester: the cost depends on the length of the window and on the requesters with many
//! tickets in it, not on how many people it holds. Every figure is exact.
//!
//! - `unique`: tickets of the window whose requester's previous ticket is older than `from`.
//! - `recurring`: those whose previous ticket is in the window and the one before it is not.
//!   Over the whole days of the window both are sums of `requester_gaps` rows (at most one per
//!   day and distance); the tickets of the part of a day at either end are read one by one,
//!   and so are the tickets whose earlier ticket lies in the part of a day before the first
//!   whole day (at most that part's tickets).
//! - `top`: a requester with more than k tickets in the window has one whose k-th earlier
//!   ticket is in it. From the deepest k kept down, the requesters such tickets name are
//!   counted exactly until ten of them have more than k; everyone tied with the tenth is then
//!   among them.
//!
//! A user merged into another is counted for the kept one ([`super::merges`]): their groups'
//! tickets in the window are counted directly and replace what the chains counted for them.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::merges::Merges;
use super::top_requesters::{named_top, TOP};
use crate::read_models::requesters::RequesterStats;
use crate::read_models::tickets::requester_chain::{DEPTHS, GAP_DAYS};

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// A window the chains answer: `[from, to)`, split into the part of a day before `first`, the
/// whole days `[first, end)` and the rest from `end` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    first: NaiveDate,
    end: NaiveDate,
}

impl Window {
    /// The window `[from, to)` asked at `now`, if the chains answer it.
    pub(super) fn of(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let from = from?;
        let day = from.date_naive();
        let first = if midnight(day) == from {
            day
        } else {
            day.succ_opt()?
        };
        // Open-ended: whole days until the day after tomorrow, then whatever comes later (a
        // clock ahead of the reader's) one by one.
        let end = match to {
            Some(to) => to.date_naive(),
            None => now.date_naive().checked_add_days(Days::new(2))?,
        }
        .max(first);
        ((end - first).num_days() <= GAP_DAYS + 1).then_some(Self {
            from,
            to,
            first,
            end,
        })
    }

    fn days_from(&self) -> DateTime<Utc> {
        midnight(self.first)
    }

    fn days_to(&self) -> DateTime<Utc> {
        midnight(self.end)
    }

    /// `to`, or a bound past every ticket.
    fn until(&self) -> DateTime<Utc> {
        self.to
            .unwrap_or_else(|| midnight(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(self.end)))
    }
}

/// When a ticket's requester's previous and second previous tickets were created.
type Earlier = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `unique` and `recurring` as the chains count them (each recorded requester apart).
async fn chain_counts(conn: &mut PgConnection, w: &Window) -> Result<(i64, i64), sqlx::Error> {
    let (mut unique, mut recurring) = (0, 0);
    // The parts of a day at either end, ticket by ticket.
    let ends: Vec<Earlier> = sqlx::query_as(
        "SELECT prev1_at, prev2_at FROM requester_tickets WHERE created_at >= $1 AND created_at < $2
         UNION ALL
         SELECT prev1_at, prev2_at FROM requester_tickets WHERE created_at >= $3 AND created_at < $4",
    )
    .bind(w.from)
    .bind(w.days_from().min(w.until()))
    .bind(w.days_to().max(w.from))
    .bind(w.until())
    .fetch_all(&mut *conn)
    .await?;
    for (prev1, prev2) in ends {
        let since = |at: Option<DateTime<Utc>>| at.is_some_and(|at| at >= w.from);
        unique += i64::from(!since(prev1));
        recurring += i64::from(since(prev1) && !since(prev2));
    }
    if w.first >= w.end {
        return Ok((unique, recurring));
    }
    // The whole days: tickets, and those whose 1st and 2nd earlier ticket is on a whole day.
    let sums: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT depth, sum(n)::bigint FROM requester_gaps
         WHERE day >= $1 AND day < $2 AND gap <= day - $1
         GROUP BY depth",
    )
    .bind(w.first)
    .bind(w.end)
    .fetch_all(&mut *conn)
    .await?;
    let sum = |depth: i16| {
        sums.iter()
            .find(|(d, _)| *d == depth)
            .map_or(0, |(_, n)| *n)
    };
    // …and those whose earlier ticket is in the window's part of a day before them.
    let (before1, before2): (i64, i64) = if w.from < w.days_from() {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM requester_tickets
                     WHERE prev1_at >= $1 AND prev1_at < $2 AND created_at >= $2 AND created_at < $3),
                    (SELECT count(*) FROM requester_tickets
                     WHERE prev2_at >= $1 AND prev2_at < $2 AND created_at >= $2 AND created_at < $3)",
        )
        .bind(w.from)
        .bind(w.days_from())
        .bind(w.days_to())
        .fetch_one(&mut *conn)
        .await?
    } else {
        (0, 0)
    };
    let since1 = sum(1) + before1;
    let since2 = sum(2) + before2;
    unique += sum(0) - since1;
    recurring += since1 - since2;
    Ok((unique, recurring))
}

/// Tickets in the window of each of `ids`.
async fn counts_of(
    conn: &mut PgConnection,
    w: &Window,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(sqlx::query_as(
        "SELECT requester_id, count(*) FROM requester_tickets
         WHERE requester_id = ANY($1) AND created_at >= $2 AND created_at < $3
         GROUP BY requester_id",
    )
    .bind(ids)
    .bind(w.from)
    .bind(w.until())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect())
}

/// Everyone with as many tickets in the window as the tenth most or more, with their counts
/// (others may be there too).
async fn top_counts(
    conn: &mut PgConnection,
    w: &Window,
    merges: &Merges,
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    for (depth, column) in DEPTHS.iter().rev() {
        let named: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT requester_id FROM requester_tickets
             WHERE {column} >= $1 AND {column} < $2 AND created_at < $2"
        ))
        .bind(w.from)
        .bind(w.until())
        .fetch_all(&mut *conn)
        .await?;
        let mut kept: Vec<Uuid> = named.into_iter().map(|id| merges.kept(id)).collect();
        kept.extend(merges.kept_users().copied());
        kept.sort_unstable();
        kept.dedup();
        let people = merges.sum(&counts_of(conn, w, &merges.members(&kept)).await?);
        let mut counts: Vec<i64> = people.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        if counts
            .get(TOP - 1)
            .is_some_and(|tenth| *tenth > *depth as i64)
        {
            return Ok(people);
        }
    }
    // Fewer than ten people with two tickets: the window's requesters, read from its tickets.
    let all: HashMap<Uuid, i64> = sqlx::query_as(
        "SELECT requester_id, count(*) FROM ticket_view
         WHERE created_at >= $1 AND created_at < $2 GROUP BY requester_id",
    )
    .bind(w.from)
    .bind(w.until())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    Ok(merges.sum(&all))
}

/// The requester figures of the window.
pub(super) async fn requester_stats(
    conn: &mut PgConnection,
    w: &Window,
) -> Result<RequesterStats, sqlx::Error> {
    let (mut unique, mut recurring) = chain_counts(conn, w).await?;
    let merges = Merges::read(conn).await?;
    let members = merges.group_members();
    let (regrouped_unique, regrouped_recurring) =
        merges.regrouped(&counts_of(conn, w, &members).await?);
    unique += regrouped_unique;
    recurring += regrouped_recurring;
    let people = top_counts(conn, w, &merges).await?;
    let top = named_top(conn, people, Some(w.from), w.to).await?;
    Ok(RequesterStats {
        unique,
        recurring,
        top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn thirty_days_from_an_instant_are_whole_days_between_two_parts() {
        let now = t("2026-12-06T03:00:00Z");
        let w = Window::of(Some(t("2026-11-06T03:00:00Z")), None, now).unwrap();
        assert_eq!((w.first, w.end), (d("2026-11-07"), d("2026-12-08")));
        let w = Window::of(Some(t("2026-11-06T00:00:00Z")), Some(now), now).unwrap();
        assert_eq!((w.first, w.end), (d("2026-11-06"), d("2026-12-06")));
    }

    #[test]
    fn a_window_within_a_day_has_no_whole_days_and_long_or_open_ones_are_not_answered() {
        let (from, to) = (t("2026-11-06T03:00:00Z"), t("2026-11-06T09:00:00Z"));
        let w = Window::of(Some(from), Some(to), to).unwrap();
        assert_eq!(w.first, w.end);
        assert_eq!(w.days_from().min(w.until()), to);
        let year = Window::of(Some(t("2025-11-06T03:00:00Z")), None, to);
        assert_eq!(year, None);
        assert_eq!(Window::of(None, Some(to), to), None);
        let quarter = Window::of(
            Some(t("2026-08-06T00:00:00Z")),
            Some(t("2026-11-06T00:00:00Z")),
            to,
        );
        assert!(quarter.is_some());
    }
}
