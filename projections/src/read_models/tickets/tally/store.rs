//! How a [`Delta`] is stored: the day, week and month rows in `ticket_stats`, but their
//! per-requester counts in `requester_periods` (a window reads them only when its requester
//! figures come from them; among the other rows they were most of what a window's statement
//! read and threw away); the all-time ones in `ticket_totals`, a small table whose rows stay on
//! few pages (among the periods' rows they were spread over one page each); the all-time count
//! per requester in `requester_counts`, indexed by count, with how many requesters have one
//! ticket or more and two or more kept in `ticket_totals` by the same statement; each
//! histogram of a period or of all time as one row of bucket counts in `ticket_histograms`
//! (a 30-day window read about 700 rows per histogram and period where it now reads one).
//!
//! A `ticket_stats`, `ticket_totals` or `ticket_histograms` row nothing counts in any more is
//! removed (a histogram's array keeps no empty bucket at either end), so that the
//! tables hold the same rows however the events were batched (a rebuild never writes the rows
//! a ticket passed through). Per-requester counts only grow (a ticket's requester is recorded
//! once, at its creation), so none is ever left at zero.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{kept, Delta, Grain, Kept, RECURRING_REQUESTERS, REQUESTER, REQUESTERS};
use crate::copy_text::CopyText;

/// `ticket_stats` or `ticket_totals` rows as the columns `UNNEST` reads.
#[derive(Debug, Default)]
struct Rows {
    grains: Vec<&'static str>,
    periods: Vec<NaiveDate>,
    metrics: Vec<&'static str>,
    keys: Vec<String>,
    ns: Vec<i64>,
    totals: Vec<i64>,
}

/// Per-requester counts (all time or a period's) as the columns `UNNEST` reads.
#[derive(Debug, Default)]
struct RequesterRows {
    grains: Vec<&'static str>,
    periods: Vec<NaiveDate>,
    ids: Vec<Uuid>,
    ns: Vec<i64>,
}

/// Histogram buckets' changes as the columns `UNNEST` reads (`keys`: the series).
#[derive(Debug, Default)]
struct BucketRows {
    grains: Vec<&'static str>,
    periods: Vec<NaiveDate>,
    metrics: Vec<&'static str>,
    keys: Vec<String>,
    buckets: Vec<i32>,
    ns: Vec<i64>,
}

/// Keys of a period's rows as the columns `UNNEST` reads.
#[derive(Debug, Default)]
struct PeriodKeys {
    grains: Vec<String>,
    periods: Vec<NaiveDate>,
    metrics: Vec<String>,
    keys: Vec<String>,
}

impl PeriodKeys {
    fn push(&mut self, grain: String, period: NaiveDate, metric: String, key: String) {
        self.grains.push(grain);
        self.periods.push(period);
        self.metrics.push(metric);
        self.keys.push(key);
    }
}

/// The rows a change left at zero: `ticket_stats`' and `ticket_histograms`' keys, and
/// `ticket_totals`' (no period).
#[derive(Debug, Default)]
struct Gone {
    stats: PeriodKeys,
    histograms: PeriodKeys,
    total_metrics: Vec<String>,
    total_keys: Vec<String>,
}

/// A histogram's counts by bucket as the `bigint[]` that `histogram_of` makes of them: indexed
/// by bucket from the first bucket counted to the last, `NULL` for a bucket that counts none;
/// `None` if none counts any.
fn histogram_text(counts: &BTreeMap<i32, i64>) -> Option<String> {
    let mut counted = counts.iter().filter(|(_, n)| **n != 0);
    let (&lo, _) = counted.next()?;
    let (&hi, _) = counted.next_back().unwrap_or((&lo, &0));
    let mut text = format!("[{lo}:{hi}]={{");
    for bucket in lo..=hi {
        if bucket > lo {
            text.push(',');
        }
        match counts.get(&bucket).filter(|n| **n != 0) {
            Some(n) => text.push_str(&n.to_string()),
            None => text.push_str("NULL"),
        }
    }
    text.push('}');
    Some(text)
}

/// A change to the tables, table by table.
#[derive(Debug, Default)]
pub(super) struct Change {
    stats: Rows,
    totals: Rows,
    requesters: RequesterRows,
    buckets: BucketRows,
}

impl Delta {
    /// Adds the net change to the tables (see [`Change::write`]).
    pub(crate) async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.into_change().write(conn).await
    }

    /// Writes the change into a rebuild's copies, which hold none of these rows yet (see
    /// [`Change::copy_new`]).
    pub(crate) async fn write_new(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.into_change().copy_new(conn).await
    }

    /// The change, table by table.
    fn into_change(self) -> Change {
        let mut change = Change::default();
        let Change {
            stats,
            totals,
            requesters,
            buckets,
        } = &mut change;
        for ((grain, period, metric, key), (n, total)) in self.changes {
            // A comment changes no figure: its ticket's entries cancel out.
            if n == 0 && total == 0 {
                continue;
            }
            if metric == REQUESTER {
                let Ok(id) = key.parse::<Uuid>() else {
                    tracing::warn!(key, "a requester key is not a user id");
                    continue;
                };
                requesters.grains.push(grain.as_str());
                requesters.periods.push(period);
                requesters.ids.push(id);
                requesters.ns.push(n);
                continue;
            }
            match kept(metric, &key) {
                None => continue,
                Some(Kept::Bucket(series, bucket)) => {
                    buckets.grains.push(grain.as_str());
                    buckets.periods.push(period);
                    buckets.metrics.push(metric);
                    buckets.keys.push(series.to_string());
                    buckets.buckets.push(bucket);
                    buckets.ns.push(n);
                    continue;
                }
                Some(Kept::Figure) => {}
            }
            let rows = if grain == Grain::All {
                &mut *totals
            } else {
                &mut *stats
            };
            rows.grains.push(grain.as_str());
            rows.periods.push(period);
            rows.metrics.push(metric);
            rows.keys.push(key);
            rows.ns.push(n);
            rows.totals.push(total);
        }
        change
    }
}

impl Change {
    /// Copies the change into tables that hold none of its rows ([`crate::copy_text`]): a
    /// rebuild's sums, written once at its end. Its histograms are put together here, as
    /// `histogram_of` would: upserted, the rebuild's 2.9 million buckets at 1,000,000 tickets
    /// took 8 s in one statement. The per-requester counts, if any, are upserted.
    pub(super) async fn copy_new(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let Change {
            stats,
            totals,
            requesters,
            buckets,
        } = self;
        // (`Delta::into_change` leaves out the rows that count nothing.)
        let mut out = CopyText::new();
        for i in 0..stats.grains.len() {
            out.plain(stats.grains[i]);
            out.plain(stats.periods[i]);
            out.text(stats.metrics[i]);
            out.text(&stats.keys[i]);
            out.plain(stats.ns[i]);
            out.plain(stats.totals[i]);
            out.end_row();
        }
        out.send(
            conn,
            "COPY ticket_stats (grain, period, metric, key, n, total) FROM STDIN",
        )
        .await?;
        let mut out = CopyText::new();
        for i in 0..totals.metrics.len() {
            out.text(totals.metrics[i]);
            out.text(&totals.keys[i]);
            out.plain(totals.ns[i]);
            out.plain(totals.totals[i]);
            out.end_row();
        }
        out.send(
            conn,
            "COPY ticket_totals (metric, key, n, total) FROM STDIN",
        )
        .await?;
        let mut histograms: BTreeMap<_, BTreeMap<i32, i64>> = BTreeMap::new();
        for i in 0..buckets.grains.len() {
            let key = (
                buckets.grains[i],
                buckets.periods[i],
                buckets.metrics[i],
                &buckets.keys[i],
            );
            *histograms
                .entry(key)
                .or_default()
                .entry(buckets.buckets[i])
                .or_default() += buckets.ns[i];
        }
        let mut out = CopyText::new();
        for ((grain, period, metric, key), counts) in histograms {
            let Some(counts) = histogram_text(&counts) else {
                continue;
            };
            out.plain(grain);
            out.plain(period);
            out.text(metric);
            out.text(key);
            out.plain(counts);
            out.end_row();
        }
        out.send(
            conn,
            "COPY ticket_histograms (grain, period, metric, key, counts) FROM STDIN",
        )
        .await?;
        Change {
            requesters,
            ..Change::default()
        }
        .write(conn)
        .await
    }

    /// Adds the change with one statement, and removes the rows it leaves at zero with one more
    /// when there are any.
    pub(super) async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let Change {
            stats,
            totals,
            requesters,
            buckets,
        } = self;
        if stats.grains.is_empty()
            && totals.grains.is_empty()
            && requesters.ids.is_empty()
            && buckets.grains.is_empty()
        {
            return Ok(());
        }
        // How many requesters have one ticket or more, and two or more, changes by each
        // count's moves across 1 and 2: the count before is the count after less the change.
        // The two are put side by side by grouping, not joined: both sides are estimated at a
        // row or so, and the planner joined them in a nested loop (16 s for a rebuild batch of
        // 7,929 requesters at 1,000,000 tickets).
        // A period's buckets are added to its row's array in one step: an `ON CONFLICT` update
        // takes each row once per statement.
        let emptied: Vec<(String, String, Option<NaiveDate>, String, String)> = sqlx::query_as(
            "WITH stats AS (
                     INSERT INTO ticket_stats (grain, period, metric, key, n, total)
                     SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[],
                                          $5::bigint[], $6::bigint[])
                     ON CONFLICT (grain, period, metric, key) DO UPDATE
                         SET n = ticket_stats.n + EXCLUDED.n,
                             total = ticket_stats.total + EXCLUDED.total
                     RETURNING grain, period, metric, key, n = 0 AND total = 0 AS empty),
                 totals AS (
                     INSERT INTO ticket_totals (metric, key, n, total)
                     SELECT * FROM UNNEST($7::text[], $8::text[], $9::bigint[], $10::bigint[])
                     ON CONFLICT (metric, key) DO UPDATE
                         SET n = ticket_totals.n + EXCLUDED.n,
                             total = ticket_totals.total + EXCLUDED.total
                     RETURNING metric, key, n = 0 AND total = 0 AS empty),
                 change AS (
                     SELECT * FROM UNNEST($11::text[], $12::date[], $13::uuid[], $14::bigint[])
                         AS c(grain, period, requester_id, n)),
                 periods AS (
                     INSERT INTO requester_periods (grain, period, requester_id, n)
                     SELECT * FROM change WHERE grain <> 'all'
                     ON CONFLICT (grain, period, requester_id) DO UPDATE
                         SET n = requester_periods.n + EXCLUDED.n),
                 counts AS (
                     INSERT INTO requester_counts (requester_id, tickets)
                     SELECT requester_id, n FROM change WHERE grain = 'all'
                     ON CONFLICT (requester_id) DO UPDATE
                         SET tickets = requester_counts.tickets + EXCLUDED.tickets
                     RETURNING requester_id, tickets),
                 moved AS (
                     SELECT sum((m.tickets >= 1)::int - (m.tickets - m.n >= 1)::int) AS people,
                            sum((m.tickets >= 2)::int - (m.tickets - m.n >= 2)::int) AS recurring
                       FROM (SELECT requester_id, sum(tickets)::bigint AS tickets,
                                    sum(n)::bigint AS n
                               FROM (SELECT requester_id, tickets, 0::bigint AS n FROM counts
                                     UNION ALL
                                     SELECT requester_id, 0, n FROM change WHERE grain = 'all')
                                    AS u
                              GROUP BY requester_id) AS m),
                 people AS (
                     INSERT INTO ticket_totals (metric, key, n, total)
                     SELECT m.metric, '', m.n, 0
                       FROM moved, LATERAL (VALUES ($15::text, moved.people),
                                                   ($16::text, moved.recurring)) AS m(metric, n)
                      WHERE m.n <> 0
                     ON CONFLICT (metric, key) DO UPDATE SET n = ticket_totals.n + EXCLUDED.n
                     RETURNING metric, key, n = 0 AND total = 0 AS empty),
                 histograms AS (
                     INSERT INTO ticket_histograms AS h (grain, period, metric, key, counts)
                     SELECT grain, period, metric, key, histogram_of(array_agg(bucket), array_agg(n))
                       FROM UNNEST($17::text[], $18::date[], $19::text[], $20::text[],
                                   $21::int[], $22::bigint[])
                            AS b(grain, period, metric, key, bucket, n)
                      GROUP BY grain, period, metric, key
                     ON CONFLICT (grain, period, metric, key) DO UPDATE
                         SET counts = histogram_add(h.counts, EXCLUDED.counts)
                     RETURNING grain, period, metric, key, counts = '{}' AS empty)
             SELECT 'stats', grain, period, metric, key FROM stats WHERE empty
             UNION ALL
             SELECT 'histograms', grain, period, metric, key FROM histograms WHERE empty
             UNION ALL
             SELECT 'totals', 'all', NULL, metric, key FROM totals WHERE empty
             UNION ALL
             SELECT 'totals', 'all', NULL, metric, key FROM people WHERE empty",
        )
        .bind(stats.grains)
        .bind(stats.periods)
        .bind(stats.metrics)
        .bind(stats.keys)
        .bind(stats.ns)
        .bind(stats.totals)
        .bind(totals.metrics)
        .bind(totals.keys)
        .bind(totals.ns)
        .bind(totals.totals)
        .bind(requesters.grains)
        .bind(requesters.periods)
        .bind(requesters.ids)
        .bind(requesters.ns)
        .bind(REQUESTERS)
        .bind(RECURRING_REQUESTERS)
        .bind(buckets.grains)
        .bind(buckets.periods)
        .bind(buckets.metrics)
        .bind(buckets.keys)
        .bind(buckets.buckets)
        .bind(buckets.ns)
        .fetch_all(&mut *conn)
        .await?;
        if emptied.is_empty() {
            return Ok(());
        }
        let mut gone = Gone::default();
        for (table, grain, period, metric, key) in emptied {
            match (table.as_str(), period) {
                ("stats", Some(period)) => gone.stats.push(grain, period, metric, key),
                ("histograms", Some(period)) => gone.histograms.push(grain, period, metric, key),
                _ => {
                    gone.total_metrics.push(metric);
                    gone.total_keys.push(key);
                }
            }
        }
        sqlx::query(
            "WITH totals AS (
                 DELETE FROM ticket_totals t
                  USING UNNEST($5::text[], $6::text[]) AS e(metric, key)
                  WHERE t.metric = e.metric AND t.key = e.key AND t.n = 0 AND t.total = 0),
                 histograms AS (
                 DELETE FROM ticket_histograms h
                  USING UNNEST($7::text[], $8::date[], $9::text[], $10::text[])
                        AS e(grain, period, metric, key)
                  WHERE h.grain = e.grain AND h.period = e.period AND h.metric = e.metric
                    AND h.key = e.key AND h.counts = '{}')
             DELETE FROM ticket_stats s
              USING UNNEST($1::text[], $2::date[], $3::text[], $4::text[])
                    AS e(grain, period, metric, key)
              WHERE s.grain = e.grain AND s.period = e.period AND s.metric = e.metric
                AND s.key = e.key AND s.n = 0 AND s.total = 0",
        )
        .bind(gone.stats.grains)
        .bind(gone.stats.periods)
        .bind(gone.stats.metrics)
        .bind(gone.stats.keys)
        .bind(gone.total_metrics)
        .bind(gone.total_keys)
        .bind(gone.histograms.grains)
        .bind(gone.histograms.periods)
        .bind(gone.histograms.metrics)
        .bind(gone.histograms.keys)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_runs_from_its_first_counted_bucket_to_its_last() {
        let counts = BTreeMap::from([(-1, 0), (2, 3), (4, 1), (5, -1), (6, 1), (9, 0)]);
        assert_eq!(
            histogram_text(&counts).as_deref(),
            Some("[2:6]={3,NULL,1,-1,1}")
        );
        assert_eq!(
            histogram_text(&BTreeMap::from([(7, 2)])).as_deref(),
            Some("[7:7]={2}")
        );
        assert_eq!(histogram_text(&BTreeMap::from([(1, 0)])), None);
    }
}
