//! What is not yet positioned, and why (CONTRACT 6): committed events still without a position,
//! and the transactions that keep events from getting one.
//!
//! The sequencer numbers committed rows as soon as it sees them, so nothing outside the event
//! writers can hold positions back. Two things still can, and both are named here with the
//! backend's pid and the age of its transaction: an event-writing transaction left open (its
//! events cannot be positioned until it commits, and a command's own writes take milliseconds),
//! and a session whose locks block the sequencer's statement (a migration's `ALTER TABLE events`,
//! an explicit `LOCK`). With no sequencer leader at all, committed events wait too.

use serde::Serialize;
use sqlx::PgPool;

use crate::sequencer::SEQUENCER_LOCK;

/// Transactions younger than this are normal traffic and are not listed as holders.
const REPORTED_AFTER_SECONDS: f64 = 1.0;

/// Why a transaction keeps events from being positioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// It wrote events and has not committed.
    EventWriter,
    /// Its locks block the sequencer.
    BlocksSequencer,
}

/// A transaction holding positions back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Holder {
    /// The backend's process id (`pg_stat_activity.pid`).
    pub pid: i32,
    /// How long its transaction has been open, in seconds.
    pub age_seconds: f64,
    /// Its backend state, e.g. `idle in transaction` (absent without the privilege to see it).
    pub state: Option<String>,
    /// Why it holds positions back.
    pub kind: HoldKind,
}

/// Events committed but not yet positioned, and what holds them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    /// Committed events without a position.
    pub unpositioned: i64,
    /// Age of the oldest of them (by the database's clock), in seconds; 0 when there is none.
    pub oldest_unpositioned_seconds: f64,
    /// Age of the oldest open transaction that wrote events, in seconds; 0 when there is none.
    pub oldest_writer_seconds: f64,
    /// The backend of the sequencer leader, if one holds the lock.
    pub sequencer_pid: Option<i32>,
    /// Transactions open for over a second that hold positions back, oldest first.
    pub holders: Vec<Holder>,
}

impl Backlog {
    /// How long positions have been held back: the oldest unpositioned event or open event
    /// writer, in seconds.
    pub fn held_seconds(&self) -> f64 {
        self.oldest_unpositioned_seconds
            .max(self.oldest_writer_seconds)
    }

    /// Why positions count as held back past `limit_seconds`, naming the holder, or `None`.
    pub fn held_past(&self, limit_seconds: f64) -> Option<String> {
        let held = self.held_seconds();
        if held <= limit_seconds {
            return None;
        }
        let cause = match self.holders.first() {
            Some(h) => format!(
                "{} of backend pid {} open for {:.1} s",
                match h.kind {
                    HoldKind::EventWriter => "an event-writing transaction",
                    HoldKind::BlocksSequencer => "a transaction blocking the sequencer",
                },
                h.pid,
                h.age_seconds
            ),
            None if self.sequencer_pid.is_none() => "no sequencer is running".to_string(),
            None => "the sequencer has not positioned them".to_string(),
        };
        Some(format!(
            "positions held back for {held:.1} s (limit {limit_seconds:.0} s): {cause}"
        ))
    }
}

/// Reads the backlog. Cheap: the unpositioned rows come from a partial index, the rest from
/// `pg_locks` and `pg_stat_activity`.
pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let (unpositioned, oldest_unpositioned, sequencer_pid): (i64, f64, Option<i32>) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM events WHERE position IS NULL),
                    coalesce((SELECT extract(epoch FROM clock_timestamp() - min(recorded_at))
                              FROM events WHERE position IS NULL), 0)::float8,
                    (SELECT pid FROM pg_locks
                     WHERE locktype = 'advisory' AND granted AND objsubid = 1
                       AND database = (SELECT oid FROM pg_database
                                       WHERE datname = current_database())
                       AND classid::bigint = ($1::bigint >> 32)
                       AND objid::bigint = ($1::bigint & 4294967295)
                     LIMIT 1)",
        )
        .bind(SEQUENCER_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    // Writers: sessions holding the row-exclusive lock an INSERT takes on `events` (readers
    // take weaker locks), other than this session and the sequencer's own statement. Relation
    // ids are per database, and another database of the cluster (another ticketd's) has an
    // `events` table too, often with the same id: hence the database filter.
    let transactions: Vec<(i32, f64, Option<String>, String)> = sqlx::query_as(
        "WITH open AS (
             SELECT a.pid, extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS age,
                    a.state, 'event_writer' AS kind
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'RowExclusiveLock'
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.relation = to_regclass('events')
               AND a.xact_start IS NOT NULL
               AND a.pid <> pg_backend_pid() AND a.pid IS DISTINCT FROM $1
             UNION ALL
             SELECT a.pid, extract(epoch FROM clock_timestamp() - a.xact_start)::float8,
                    a.state, 'blocks_sequencer'
             FROM unnest(pg_blocking_pids(coalesce($1, 0))) AS b(pid)
             JOIN pg_stat_activity a ON a.pid = b.pid
             WHERE a.xact_start IS NOT NULL
         )
         SELECT pid, age, state, kind FROM open ORDER BY age DESC LIMIT 20",
    )
    .bind(sequencer_pid)
    .fetch_all(&mut *conn)
    .await?;
    let oldest_writer_seconds = transactions
        .iter()
        .filter(|t| t.3 == "event_writer")
        .map(|t| t.1)
        .fold(0.0, f64::max);
    let holders = transactions
        .into_iter()
        .filter(|t| t.1 >= REPORTED_AFTER_SECONDS)
        .map(|(pid, age_seconds, state, kind)| Holder {
            pid,
            age_seconds,
            state,
            kind: if kind == "event_writer" {
                HoldKind::EventWriter
            } else {
                HoldKind::BlocksSequencer
            },
        })
        .collect();
    Ok(Backlog {
        unpositioned,
        oldest_unpositioned_seconds: oldest_unpositioned.max(0.0),
        oldest_writer_seconds,
        sequencer_pid,
        holders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(unpositioned_age: f64, writer_age: f64, holders: Vec<Holder>) -> Backlog {
        Backlog {
            unpositioned: i64::from(unpositioned_age > 0.0),
            oldest_unpositioned_seconds: unpositioned_age,
            oldest_writer_seconds: writer_age,
            sequencer_pid: Some(7),
            holders,
        }
    }

    #[test]
    fn positions_are_held_only_past_the_limit() {
        assert_eq!(backlog(9.9, 3.0, vec![]).held_past(10.0), None);
        assert!(backlog(0.0, 0.0, vec![]).held_past(10.0).is_none());
    }

    #[test]
    fn a_hold_past_the_limit_names_the_oldest_holder() {
        let writer = Holder {
            pid: 4242,
            age_seconds: 12.5,
            state: Some("idle in transaction".into()),
            kind: HoldKind::EventWriter,
        };
        let reason = backlog(0.0, 12.5, vec![writer]).held_past(10.0).unwrap();
        assert!(reason.contains("pid 4242"), "{reason}");
        assert!(reason.contains("12.5 s"), "{reason}");
        assert!(reason.contains("event-writing transaction"), "{reason}");
    }

    #[test]
    fn committed_events_without_a_sequencer_say_so() {
        let mut idle = backlog(11.0, 0.0, vec![]);
        idle.sequencer_pid = None;
        let reason = idle.held_past(10.0).unwrap();
        assert!(reason.contains("no sequencer is running"), "{reason}");
    }
}
