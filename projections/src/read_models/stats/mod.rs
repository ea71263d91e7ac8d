//! Statistics over the tickets created in a window, served from `ticket_view` (its
//! `created_at` index selects the window).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::query::snapshot;

/// [`super::tickets::SlaFacts::at`]'s first-response rule in SQL, at `now()`.
const FIRST_RESPONSE_BREACHED: &str = "(v.first_response_breach_recorded
     OR (v.first_response_at IS NOT NULL AND v.first_response_at > v.first_response_due)
     OR (v.first_response_at IS NULL AND v.closed_at IS NULL AND v.first_response_due <= now()))";

/// [`super::tickets::SlaFacts::at`]'s resolution rule in SQL, at `now()`.
const RESOLUTION_BREACHED: &str = "(v.resolution_breach_recorded
     OR (v.closed_at IS NOT NULL AND v.closed_at > v.resolution_due)
     OR (v.closed_at IS NULL AND v.resolution_due <= now()))";

/// Tickets created in `[$1, $2)`; either bound may be NULL (open-ended).
const WINDOW: &str = "($1::timestamptz IS NULL OR v.created_at >= $1)
     AND ($2::timestamptz IS NULL OR v.created_at < $2)";

/// `GET /stats`: the window and the keys every `by_*` map must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    /// Created at or after (all time when `None`).
    pub from: Option<DateTime<Utc>>,
    /// Created before (all time when `None`).
    pub to: Option<DateTime<Utc>>,
    /// Every status.
    pub statuses: Vec<String>,
    /// Every priority.
    pub priorities: Vec<String>,
    /// Every configured category.
    pub categories: Vec<String>,
    /// Every channel.
    pub channels: Vec<String>,
}

/// Ticket counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketCounts {
    /// Tickets created in the window.
    pub total: i64,
    /// By current status.
    pub by_status: BTreeMap<String, i64>,
    /// By current priority.
    pub by_priority: BTreeMap<String, i64>,
    /// By current category (every configured one, and any other a ticket still has).
    pub by_category: BTreeMap<String, i64>,
    /// By channel.
    pub by_channel: BTreeMap<String, i64>,
}

/// A duration's distribution, in seconds; `null`s when no ticket counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Durations {
    /// Mean.
    pub avg_seconds: Option<f64>,
    /// Median (continuous percentile).
    pub p50_seconds: Option<f64>,
    /// 90th percentile (continuous).
    pub p90_seconds: Option<f64>,
}

/// SLA outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlaStats {
    /// Percent of tickets whose first-response outcome is known (met, or breached) that met it.
    pub first_response_met_pct: Option<f64>,
    /// Percent of tickets whose resolution outcome is known that met it.
    pub resolution_met_pct: Option<f64>,
    /// Tickets not closed with any breached target.
    pub open_breached: i64,
}

/// Latest rating per ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratings {
    /// Rated tickets.
    pub count: i64,
    /// Mean score.
    pub avg: Option<f64>,
    /// Tickets per score, `"1"` to `"5"`.
    pub distribution: BTreeMap<String, i64>,
}

/// One assignee's figures, over the tickets currently assigned to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AgentStats {
    /// User id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Assigned tickets not closed.
    pub open_assigned: i64,
    /// Assigned tickets closed.
    pub closed: i64,
    /// Mean creation-to-close time of their closed tickets.
    pub avg_resolution_seconds: Option<f64>,
    /// Mean rating of their rated tickets.
    pub avg_rating: Option<f64>,
}

/// `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Counts.
    pub tickets: TicketCounts,
    /// Creation to first response, over tickets that had one.
    pub first_response: Durations,
    /// Creation to the latest close, over closed tickets.
    pub resolution: Durations,
    /// SLA outcomes.
    pub sla: SlaStats,
    /// Ratings.
    pub ratings: Ratings,
    /// Per current assignee, by name.
    pub agents: Vec<AgentStats>,
}

/// One grouping set's count. Each column is NOT NULL in the table, so a NULL marks the
/// dimensions a grouping set left out (all four: the total).
#[derive(sqlx::FromRow)]
struct CountRow {
    status: Option<String>,
    priority: Option<String>,
    category: Option<String>,
    channel: Option<String>,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct Figures {
    fr_avg: Option<f64>,
    fr_p50: Option<f64>,
    fr_p90: Option<f64>,
    res_avg: Option<f64>,
    res_p50: Option<f64>,
    res_p90: Option<f64>,
    fr_met: i64,
    fr_known: i64,
    res_met: i64,
    res_known: i64,
    open_breached: i64,
    rating_count: i64,
    rating_avg: Option<f64>,
    r1: i64,
    r2: i64,
    r3: i64,
    r4: i64,
    r5: i64,
}

fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 10_000.0 / whole as f64).round() / 100.0)
}

fn zeroes(keys: &[String]) -> BTreeMap<String, i64> {
    keys.iter().map(|k| (k.clone(), 0)).collect()
}

/// The statistics of the tickets created in the window.
pub async fn stats(pool: &PgPool, query: &StatsQuery) -> Result<Stats, sqlx::Error> {
    let mut tx = snapshot(pool).await?;

    let counts: Vec<CountRow> = sqlx::query_as(&format!(
        "SELECT v.status, v.priority, v.category, v.channel, count(*) AS n
         FROM ticket_view v WHERE {WINDOW}
         GROUP BY GROUPING SETS ((v.status), (v.priority), (v.category), (v.channel), ())"
    ))
    .bind(query.from)
    .bind(query.to)
    .fetch_all(&mut *tx)
    .await?;

    let figures: Figures = sqlx::query_as(&format!(
        "SELECT round(avg(fr)::numeric, 3)::float8 AS fr_avg,
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fr)::numeric, 3)::float8 AS fr_p50,
                round(percentile_cont(0.9) WITHIN GROUP (ORDER BY fr)::numeric, 3)::float8 AS fr_p90,
                round(avg(res)::numeric, 3)::float8 AS res_avg,
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY res)::numeric, 3)::float8 AS res_p50,
                round(percentile_cont(0.9) WITHIN GROUP (ORDER BY res)::numeric, 3)::float8 AS res_p90,
                count(*) FILTER (WHERE first_response_met) AS fr_met,
                count(*) FILTER (WHERE first_response_met OR fr_breached) AS fr_known,
                count(*) FILTER (WHERE resolution_met) AS res_met,
                count(*) FILTER (WHERE resolution_met OR res_breached) AS res_known,
                count(*) FILTER (WHERE closed_at IS NULL AND (fr_breached OR res_breached))
                    AS open_breached,
                count(rating_score) AS rating_count,
                round(avg(rating_score), 2)::float8 AS rating_avg,
                count(*) FILTER (WHERE rating_score = 1) AS r1,
                count(*) FILTER (WHERE rating_score = 2) AS r2,
                count(*) FILTER (WHERE rating_score = 3) AS r3,
                count(*) FILTER (WHERE rating_score = 4) AS r4,
                count(*) FILTER (WHERE rating_score = 5) AS r5
         FROM (SELECT v.first_response_met, v.resolution_met, v.closed_at, v.rating_score,
                      extract(epoch FROM v.first_response_at - v.created_at)::float8 AS fr,
                      extract(epoch FROM v.closed_at - v.created_at)::float8 AS res,
                      {FIRST_RESPONSE_BREACHED} AS fr_breached,
                      {RESOLUTION_BREACHED} AS res_breached
               FROM ticket_view v WHERE {WINDOW}) w"
    ))
    .bind(query.from)
    .bind(query.to)
    .fetch_one(&mut *tx)
    .await?;

    let agents: Vec<AgentStats> = sqlx::query_as(&format!(
        "SELECT v.assignee_id AS id, max(v.assignee_name) AS name,
                count(*) FILTER (WHERE v.closed_at IS NULL) AS open_assigned,
                count(*) FILTER (WHERE v.closed_at IS NOT NULL) AS closed,
                round(avg(extract(epoch FROM v.closed_at - v.created_at)), 3)::float8
                    AS avg_resolution_seconds,
                round(avg(v.rating_score), 2)::float8 AS avg_rating
         FROM ticket_view v
         WHERE v.assignee_id IS NOT NULL AND {WINDOW}
         GROUP BY v.assignee_id
         ORDER BY name, id"
    ))
    .bind(query.from)
    .bind(query.to)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut tickets = TicketCounts {
        total: 0,
        by_status: zeroes(&query.statuses),
        by_priority: zeroes(&query.priorities),
        by_category: zeroes(&query.categories),
        by_channel: zeroes(&query.channels),
    };
    for CountRow {
        status,
        priority,
        category,
        channel,
        n,
    } in counts
    {
        let (map, key) = match (status, priority, category, channel) {
            (Some(k), _, _, _) => (&mut tickets.by_status, k),
            (_, Some(k), _, _) => (&mut tickets.by_priority, k),
            (_, _, Some(k), _) => (&mut tickets.by_category, k),
            (_, _, _, Some(k)) => (&mut tickets.by_channel, k),
            (None, None, None, None) => {
                tickets.total = n;
                continue;
            }
        };
        map.insert(key, n);
    }

    let f = figures;
    Ok(Stats {
        tickets,
        first_response: Durations {
            avg_seconds: f.fr_avg,
            p50_seconds: f.fr_p50,
            p90_seconds: f.fr_p90,
        },
        resolution: Durations {
            avg_seconds: f.res_avg,
            p50_seconds: f.res_p50,
            p90_seconds: f.res_p90,
        },
        sla: SlaStats {
            first_response_met_pct: pct(f.fr_met, f.fr_known),
            resolution_met_pct: pct(f.res_met, f.res_known),
            open_breached: f.open_breached,
        },
        ratings: Ratings {
            count: f.rating_count,
            avg: f.rating_avg,
            distribution: [f.r1, f.r2, f.r3, f.r4, f.r5]
                .into_iter()
                .enumerate()
                .map(|(i, n)| ((i + 1).to_string(), n))
                .collect(),
        },
        agents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_have_two_decimals_and_need_a_known_outcome() {
        assert_eq!(pct(2, 3), Some(66.67));
        assert_eq!(pct(1, 1), Some(100.0));
        assert_eq!(pct(0, 4), Some(0.0));
        assert_eq!(pct(0, 0), None);
    }
}
