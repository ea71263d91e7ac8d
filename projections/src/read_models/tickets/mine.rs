//! Each user's own tickets (`my_tickets`) and their counts (`my_counts`), kept by the ticket
//! view projection so that `GET /me` reads a few rows instead of every ticket of the user.
//!
//! A ticket's rows are a function of its `ticket_view` row alone (requester, assignee, status
//! and who acted last, see [`Actors`]): the projector takes the rows a ticket made before a
//! batch out and puts the new ones in, and the counts change by the difference. Whether a
//! ticket is unread also depends on `ticket_reads`, which is user state and not an event: the
//! counts keep how many of a user's tickets someone else acted on (`seen`), and `/me`
//! subtracts those the user's reads cover (see [`crate::read_models::me`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use ticket_nats::Status;
use uuid::Uuid;

use crate::copy_text::CopyText;
use crate::stored::StoredEvent;

/// Who acted on a ticket last, and the latest event by anyone else: for any user, the latest
/// event by someone other than them follows (the unread rule, CONTRACT 2.5). The `public_`
/// fields count only events requesters may see. Positions are 0 for none; the actor is `None`
/// for the engine itself (SLA breaches), which is nobody's own action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub(crate) struct Actors {
    last_actor_id: Option<Uuid>,
    last_actor_position: i64,
    other_actor_position: i64,
    public_actor_id: Option<Uuid>,
    public_actor_position: i64,
    public_other_position: i64,
}

impl Actors {
    /// Adds the `ticket_view` columns of the actors, in their order there.
    pub(super) fn copy_to(&self, out: &mut CopyText) {
        out.opt_plain(self.last_actor_id);
        out.plain(self.last_actor_position);
        out.plain(self.other_actor_position);
        out.opt_plain(self.public_actor_id);
        out.plain(self.public_actor_position);
        out.plain(self.public_other_position);
    }
}

/// `(actor, its latest position, the latest position by anyone else)` after one more event.
fn step(
    (actor, position, other): (Option<Uuid>, i64, i64),
    by: Option<Uuid>,
    at: i64,
) -> (Option<Uuid>, i64, i64) {
    if position == 0 {
        (by, at, other)
    } else if by == actor {
        (actor, at, other)
    } else {
        // The previous last event was by someone other than `by`, and the latest such.
        (by, at, position)
    }
}

impl Actors {
    /// After `stored`.
    pub(crate) fn after(self, stored: &StoredEvent) -> Self {
        let by = Uuid::parse_str(&stored.envelope.actorid).ok();
        let at = stored.position;
        let (last_actor_id, last_actor_position, other_actor_position) = step(
            (
                self.last_actor_id,
                self.last_actor_position,
                self.other_actor_position,
            ),
            by,
            at,
        );
        let mut next = Self {
            last_actor_id,
            last_actor_position,
            other_actor_position,
            ..self
        };
        if !stored.event.is_internal() {
            (
                next.public_actor_id,
                next.public_actor_position,
                next.public_other_position,
            ) = step(
                (
                    self.public_actor_id,
                    self.public_actor_position,
                    self.public_other_position,
                ),
                by,
                at,
            );
        }
        next
    }

    /// The latest event by someone other than `user` (0: none).
    pub(crate) fn seen_by(&self, user: Uuid) -> i64 {
        if self.last_actor_id == Some(user) {
            self.other_actor_position
        } else {
            self.last_actor_position
        }
    }

    /// The same among the events requesters may see.
    pub(crate) fn public_seen_by(&self, user: Uuid) -> i64 {
        if self.public_actor_id == Some(user) {
            self.public_other_position
        } else {
            self.public_actor_position
        }
    }
}

/// One `my_tickets` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MyTicket {
    pub(crate) user_id: Uuid,
    pub(crate) ticket_id: Uuid,
    pub(crate) requested: bool,
    pub(crate) assigned: bool,
    pub(crate) status: Status,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) seen: i64,
    pub(crate) seen_public: i64,
}

/// Copies rows written by [`MyTicket::copy_to`].
pub(super) const COPY_MY_TICKETS: &str =
    "COPY my_tickets (user_id, ticket_id, requested, assigned, status, created_at, seen,
                      seen_public) FROM STDIN";

/// `my_counts` metrics: tickets someone else acted on, all events or only those requesters see.
pub(crate) const SEEN: &str = "seen";
/// See [`SEEN`].
pub(crate) const SEEN_PUBLIC: &str = "seen_public";

/// The `my_counts` metric of requested (`requested_<status>`) or assigned tickets.
pub(crate) fn status_metric(who: &str, status: Status) -> String {
    format!("{who}_{status}")
}

impl MyTicket {
    /// Adds the row's columns, in the order of [`COPY_MY_TICKETS`].
    pub(super) fn copy_to(&self, out: &mut CopyText) {
        out.plain(self.user_id);
        out.plain(self.ticket_id);
        out.bool(self.requested);
        out.bool(self.assigned);
        out.plain(self.status.as_str());
        out.time(self.created_at);
        out.plain(self.seen);
        out.plain(self.seen_public);
        out.end_row();
    }

    /// What the row adds to its user's counts.
    fn counts(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(4);
        if self.requested {
            out.push(status_metric("requested", self.status));
        }
        if self.assigned {
            out.push(status_metric("assigned", self.status));
        }
        if self.seen > 0 {
            out.push(SEEN.to_string());
        }
        if self.seen_public > 0 {
            out.push(SEEN_PUBLIC.to_string());
        }
        out
    }
}

/// What a batch changes in `my_tickets` and `my_counts`.
#[derive(Debug, Default)]
pub(crate) struct MyTicketsDelta {
    /// The rows as they end, by (user, ticket); `None`: the row goes.
    rows: BTreeMap<(Uuid, Uuid), Option<MyTicket>>,
    /// (Hashed with foldhash, as the statistics' [`Delta`](super::tally::Delta) is.)
    counts: foldhash::HashMap<(Uuid, String), i64>,
}

impl MyTicketsDelta {
    /// Replaces a ticket's rows `before` with `after`.
    pub(crate) fn replace(&mut self, before: &[MyTicket], after: &[MyTicket]) {
        self.replace_rows(before, after);
        for row in before {
            for metric in row.counts() {
                *self.counts.entry((row.user_id, metric)).or_default() -= 1;
            }
        }
        for row in after {
            for metric in row.counts() {
                *self.counts.entry((row.user_id, metric)).or_default() += 1;
            }
        }
    }

    /// Replaces a ticket's rows `before` with `after`, leaving the counts as they are: for a
    /// rebuild, which counts every batch's change but writes a ticket's rows only now and then.
    pub(crate) fn replace_rows(&mut self, before: &[MyTicket], after: &[MyTicket]) {
        for row in before {
            if !after.contains(row) {
                self.rows.insert((row.user_id, row.ticket_id), None);
            }
        }
        for row in after {
            if !before.contains(row) {
                self.rows
                    .insert((row.user_id, row.ticket_id), Some(row.clone()));
            }
        }
    }

    /// Adds `later`'s change (of the batches after this one's): each row as the later left
    /// it, the counts summed.
    pub(crate) fn merge(&mut self, later: MyTicketsDelta) {
        self.rows.extend(later.rows);
        for (key, n) in later.counts {
            *self.counts.entry(key).or_default() += n;
        }
    }

    /// Takes the counts out, leaving the rows.
    pub(crate) fn take_counts(&mut self) -> MyTicketsDelta {
        MyTicketsDelta {
            rows: BTreeMap::new(),
            counts: std::mem::take(&mut self.counts),
        }
    }

    /// Writes the rows and adds the counts, a few statements for the whole batch.
    pub(crate) async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (mut gone_users, mut gone_tickets) = (Vec::new(), Vec::new());
        let mut kept = Vec::new();
        for ((user, ticket), row) in self.rows {
            match row {
                Some(row) => kept.push(row),
                None => {
                    gone_users.push(user);
                    gone_tickets.push(ticket);
                }
            }
        }
        if !gone_users.is_empty() {
            sqlx::query(
                "DELETE FROM my_tickets m
                 USING UNNEST($1::uuid[], $2::uuid[]) AS g(user_id, ticket_id)
                 WHERE m.user_id = g.user_id AND m.ticket_id = g.ticket_id",
            )
            .bind(&gone_users)
            .bind(&gone_tickets)
            .execute(&mut *conn)
            .await?;
        }
        if !kept.is_empty() {
            sqlx::query(
                "INSERT INTO my_tickets (user_id, ticket_id, requested, assigned, status,
                                         created_at, seen, seen_public)
                 SELECT user_id, ticket_id, requested, assigned, status, created_at, seen,
                        seen_public
                 FROM jsonb_populate_recordset(NULL::my_tickets, $1)
                 ON CONFLICT (user_id, ticket_id) DO UPDATE
                     SET requested = EXCLUDED.requested, assigned = EXCLUDED.assigned,
                         status = EXCLUDED.status, created_at = EXCLUDED.created_at,
                         seen = EXCLUDED.seen, seen_public = EXCLUDED.seen_public",
            )
            .bind(sqlx::types::Json(&kept))
            .execute(&mut *conn)
            .await?;
        }
        let (mut users, mut metrics, mut ns) = (Vec::new(), Vec::new(), Vec::new());
        for ((user, metric), n) in self.counts {
            if n != 0 {
                users.push(user);
                metrics.push(metric);
                ns.push(n);
            }
        }
        if users.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO my_counts (user_id, metric, n)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bigint[])
             ON CONFLICT (user_id, metric) DO UPDATE SET n = my_counts.n + EXCLUDED.n",
        )
        .bind(&users)
        .bind(&metrics)
        .bind(&ns)
        .execute(&mut *conn)
        .await?;
        // A count at 0 goes, so that the table holds the same rows however the events were
        // batched. (A statement apart: one statement does not see its own upserts.)
        sqlx::query("DELETE FROM my_counts WHERE user_id = ANY($1) AND n = 0")
            .bind(&users)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// For every user, the kept positions give the latest event by someone else, as a scan
        /// of the whole history would.
        #[test]
        fn the_latest_event_by_someone_else_is_kept_for_every_user(
            actors in proptest::collection::vec(proptest::option::of(0u128..4), 0..40),
        ) {
            let mut kept = (None, 0, 0);
            for (i, actor) in actors.iter().enumerate() {
                kept = step(kept, actor.map(Uuid::from_u128), i as i64 + 1);
            }
            let seen = |user: Uuid| if kept.0 == Some(user) { kept.2 } else { kept.1 };
            for user in (0u128..5).map(Uuid::from_u128) {
                let scanned = actors
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.map(Uuid::from_u128) != Some(user))
                    .map(|(i, _)| i as i64 + 1)
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(seen(user), scanned);
            }
        }
    }

    fn row(user: u128, status: Status, seen: i64) -> MyTicket {
        MyTicket {
            user_id: Uuid::from_u128(user),
            ticket_id: Uuid::from_u128(99),
            requested: user == 1,
            assigned: user != 1,
            status,
            created_at: DateTime::<Utc>::MIN_UTC,
            seen,
            seen_public: 0,
        }
    }

    #[test]
    fn an_assignment_away_takes_the_row_and_its_counts_from_the_old_assignee() {
        let before = [row(1, Status::InProgress, 5), row(2, Status::InProgress, 4)];
        let after = [row(1, Status::InProgress, 6), row(3, Status::InProgress, 6)];
        let mut delta = MyTicketsDelta::default();
        delta.replace(&before, &after);
        let n = |user: u128, metric: &str| {
            delta
                .counts
                .get(&(Uuid::from_u128(user), metric.to_string()))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(n(2, "assigned_in_progress"), -1);
        assert_eq!(n(3, "assigned_in_progress"), 1);
        assert_eq!(n(2, SEEN), -1);
        assert_eq!(n(1, "requested_in_progress"), 0);
        assert_eq!(n(1, SEEN), 0);
        assert_eq!(
            delta.rows.get(&(Uuid::from_u128(2), Uuid::from_u128(99))),
            Some(&None)
        );
        assert!(matches!(
            delta.rows.get(&(Uuid::from_u128(1), Uuid::from_u128(99))),
            Some(Some(r)) if r.seen == 6
        ));
    }
}
