//! How a [`Delta`] is stored: the day, week and month rows in `ticket_stats`, but their
//! per-requester counts in `requester_periods` (a window reads them only when its requester
//! figures come from them; among the other rows they were most of what a window's statement
//! read and threw away); the all-time ones in `ticket_totals`, a small table whose rows stay on
//! few pages (among the periods' rows they were spread over one page each); the all-time count
//! per requester in `requester_counts`, indexed by count, with how many requesters have one
//! ticket or more and two or more kept in `ticket_totals` by the same statement. A row nothing counts in any more is removed, so that
//! the tables hold the same rows however the events were batched (a rebuild never writes the
//! rows a ticket passed through).

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Delta, Grain, RECURRING_REQUESTERS, REQUESTER, REQUESTERS};

/// Rows as the columns `UNNEST` reads.
#[derive(Debug, Default)]
struct Rows {
    grains: Vec<&'static str>,
    periods: Vec<NaiveDate>,
    metrics: Vec<String>,
    keys: Vec<String>,
    ns: Vec<i64>,
    totals: Vec<i64>,
}

impl Rows {
    fn push(&mut self, grain: &'static str, period: NaiveDate, metric: String, key: String) {
        self.grains.push(grain);
        self.periods.push(period);
        self.metrics.push(metric);
        self.keys.push(key);
    }
}

/// A row left at zero: its table, then its grain and period (`ticket_stats` only), metric
/// and key (a requester's id for `requester_counts`).
type EmptiedRow = (String, Option<String>, Option<NaiveDate>, String, String);

/// The rows a change left at zero, by table.
#[derive(Debug, Default)]
struct Gone {
    grains: Vec<String>,
    periods: Vec<NaiveDate>,
    metrics: Vec<String>,
    keys: Vec<String>,
    total_metrics: Vec<String>,
    total_keys: Vec<String>,
    requesters: Vec<Uuid>,
    period_grains: Vec<String>,
    period_periods: Vec<NaiveDate>,
    period_requesters: Vec<Uuid>,
}

/// The tables a row left at zero is removed from.
const STATS: &str = "stats";
const TOTALS: &str = "totals";
const COUNTS: &str = "counts";
const PERIODS: &str = "periods";

impl Delta {
    /// Adds the net change to the tables with one statement, and removes the rows it leaves at
    /// zero with one more when there are any.
    pub(crate) async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut stats = Rows::default();
        let mut totals = Rows::default();
        let mut periods = Rows::default();
        let (mut requesters, mut requester_ns) = (Vec::new(), Vec::new());
        for ((grain, period, metric, key), (n, total)) in self.changes {
            // A comment changes no figure: its ticket's entries cancel out.
            if n == 0 && total == 0 {
                continue;
            }
            let rows = match (grain, metric) {
                (Grain::All, REQUESTER) => {
                    match key.parse::<Uuid>() {
                        Ok(id) => {
                            requesters.push(id);
                            requester_ns.push(n);
                        }
                        Err(_) => tracing::warn!(key, "a requester key is not a user id"),
                    }
                    continue;
                }
                (_, REQUESTER) => &mut periods,
                (Grain::All, _) => &mut totals,
                _ => &mut stats,
            };
            rows.push(grain.as_str(), period, metric.to_string(), key);
            rows.ns.push(n);
            rows.totals.push(total);
        }
        if stats.grains.is_empty()
            && totals.grains.is_empty()
            && periods.grains.is_empty()
            && requesters.is_empty()
        {
            return Ok(());
        }
        // How many requesters have one ticket or more, and two or more, changes by each
        // count's moves across 1 and 2: the count before is the count after less the change.
        let emptied: Vec<EmptiedRow> = sqlx::query_as(
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
                 periods AS (
                     INSERT INTO requester_periods (grain, period, requester_id, n)
                     SELECT * FROM UNNEST($18::text[], $19::date[], $20::text[]::uuid[],
                                          $21::bigint[])
                     ON CONFLICT (grain, period, requester_id) DO UPDATE
                         SET n = requester_periods.n + EXCLUDED.n
                     RETURNING grain, period, requester_id, n = 0 AS empty),
                 change AS (SELECT * FROM UNNEST($11::uuid[], $12::bigint[]) AS c(requester_id, n)),
                 counts AS (
                     INSERT INTO requester_counts (requester_id, tickets)
                     SELECT requester_id, n FROM change
                     ON CONFLICT (requester_id) DO UPDATE
                         SET tickets = requester_counts.tickets + EXCLUDED.tickets
                     RETURNING requester_id, tickets),
                 moved AS (
                     SELECT sum((k.tickets >= 1)::int - (k.tickets - c.n >= 1)::int) AS people,
                            sum((k.tickets >= 2)::int - (k.tickets - c.n >= 2)::int) AS recurring
                       FROM counts k JOIN change c USING (requester_id)),
                 people AS (
                     INSERT INTO ticket_totals (metric, key, n, total)
                     SELECT m.metric, '', m.n, 0
                       FROM moved, LATERAL (VALUES ($13::text, moved.people),
                                                   ($14::text, moved.recurring)) AS m(metric, n)
                      WHERE m.n <> 0
                     ON CONFLICT (metric, key) DO UPDATE SET n = ticket_totals.n + EXCLUDED.n
                     RETURNING metric, key, n = 0 AND total = 0 AS empty)
                 SELECT $15::text, grain, period, metric, key FROM stats WHERE empty
                 UNION ALL
                 SELECT $16::text, NULL, NULL, metric, key FROM totals WHERE empty
                 UNION ALL
                 SELECT $16::text, NULL, NULL, metric, key FROM people WHERE empty
                 UNION ALL
                 SELECT $17::text, NULL, NULL, '', requester_id::text FROM counts
                  WHERE tickets = 0
                 UNION ALL
                 SELECT $22::text, grain, period, '', requester_id::text FROM periods
                  WHERE empty",
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
        .bind(requesters)
        .bind(requester_ns)
        .bind(REQUESTERS)
        .bind(RECURRING_REQUESTERS)
        .bind(STATS)
        .bind(TOTALS)
        .bind(COUNTS)
        .bind(periods.grains)
        .bind(periods.periods)
        .bind(periods.keys)
        .bind(periods.ns)
        .bind(PERIODS)
        .fetch_all(&mut *conn)
        .await?;
        if emptied.is_empty() {
            return Ok(());
        }
        let mut gone = Gone::default();
        for (table, grain, period, metric, key) in emptied {
            match (table.as_str(), grain, period) {
                (STATS, Some(grain), Some(period)) => {
                    gone.grains.push(grain);
                    gone.periods.push(period);
                    gone.metrics.push(metric);
                    gone.keys.push(key);
                }
                (TOTALS, _, _) => {
                    gone.total_metrics.push(metric);
                    gone.total_keys.push(key);
                }
                (PERIODS, Some(grain), Some(period)) => {
                    if let Ok(id) = key.parse::<Uuid>() {
                        gone.period_grains.push(grain);
                        gone.period_periods.push(period);
                        gone.period_requesters.push(id);
                    }
                }
                _ => gone.requesters.extend(key.parse::<Uuid>().ok()),
            }
        }
        sqlx::query(
            "WITH totals AS (
                 DELETE FROM ticket_totals t
                  USING UNNEST($5::text[], $6::text[]) AS e(metric, key)
                  WHERE t.metric = e.metric AND t.key = e.key AND t.n = 0 AND t.total = 0),
             counts AS (
                 DELETE FROM requester_counts WHERE requester_id = ANY($7::uuid[]) AND tickets = 0),
             periods AS (
                 DELETE FROM requester_periods p
                  USING UNNEST($8::text[], $9::date[], $10::uuid[]) AS e(grain, period, requester_id)
                  WHERE p.grain = e.grain AND p.period = e.period
                    AND p.requester_id = e.requester_id AND p.n = 0)
             DELETE FROM ticket_stats s
              USING UNNEST($1::text[], $2::date[], $3::text[], $4::text[])
                    AS e(grain, period, metric, key)
              WHERE s.grain = e.grain AND s.period = e.period AND s.metric = e.metric
                AND s.key = e.key AND s.n = 0 AND s.total = 0",
        )
        .bind(gone.grains)
        .bind(gone.periods)
        .bind(gone.metrics)
        .bind(gone.keys)
        .bind(gone.total_metrics)
        .bind(gone.total_keys)
        .bind(gone.requesters)
        .bind(gone.period_grains)
        .bind(gone.period_periods)
        .bind(gone.period_requesters)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
