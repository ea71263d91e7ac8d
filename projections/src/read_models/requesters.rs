//! What the tickets read model tells about people and channels: a requester's tickets
//! (`GET /users/{id}`) and the channel and requester statistics of `GET /stats`.
//!
//! A user merged into another is the same person ([`requested_by`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::query::{requested_by, snapshot};

/// A requester's tickets by status, and the channels they came through.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RequesterTickets {
    /// Every ticket.
    pub total: i64,
    /// Neither in progress, pending nor closed.
    pub open: i64,
    /// In progress.
    pub in_progress: i64,
    /// Waiting on the requester.
    pub pending: i64,
    /// Closed.
    pub closed: i64,
}

/// The tickets of requester `id` (and of users merged into them), and the channels used, sorted.
pub async fn requester_tickets(
    pool: &PgPool,
    id: Uuid,
) -> Result<(RequesterTickets, Vec<String>), sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT v.status, v.channel, count(*) FROM ticket_view v WHERE {}
         GROUP BY v.status, v.channel",
        requested_by("$1")
    ))
    .bind(id)
    .fetch_all(pool)
    .await?;
    let mut counts = RequesterTickets::default();
    let mut channels = Vec::new();
    for (status, channel, n) in rows {
        counts.total += n;
        match status.as_str() {
            "in_progress" => counts.in_progress += n,
            "pending" => counts.pending += n,
            "closed" => counts.closed += n,
            _ => counts.open += n,
        }
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    channels.sort();
    Ok((counts, channels))
}

/// One channel's figures in `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// Tickets created in the window through it.
    pub tickets: i64,
    /// Median creation-to-first-response time of those that had one.
    pub first_response_p50_seconds: Option<f64>,
    /// Median creation-to-close time of those closed.
    pub resolution_p50_seconds: Option<f64>,
    /// Percent of its tickets that are closed (`null` without tickets).
    pub resolved_pct: Option<f64>,
}

/// One of the requesters with the most tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct TopRequester {
    /// User id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Tickets created in the window.
    pub tickets: i64,
}

/// Requesters of the tickets created in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequesterStats {
    /// How many people requested tickets.
    pub unique: i64,
    /// How many requested two or more.
    pub recurring: i64,
    /// The ten with the most tickets (then by name).
    pub top: Vec<TopRequester>,
}

/// The channel and requester members of `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeopleStats {
    /// Per channel, every one of `channels` present.
    pub channels: BTreeMap<String, ChannelStats>,
    /// Requesters.
    pub requesters: RequesterStats,
}

/// One channel's figures as read: (channel, tickets, first-response p50, resolution p50, closed).
type ChannelRow = (String, i64, Option<f64>, Option<f64>, i64);

/// Tickets created in `[$1, $2)`; either bound may be NULL (open-ended).
const WINDOW: &str = "($1::timestamptz IS NULL OR v.created_at >= $1)
     AND ($2::timestamptz IS NULL OR v.created_at < $2)";

/// How many requesters `top` lists.
const TOP: i64 = 10;

/// Channel and requester statistics of the tickets created in `[from, to)`; `channels` are the
/// keys always present.
pub async fn people_stats(
    pool: &PgPool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    channels: &[String],
) -> Result<PeopleStats, sqlx::Error> {
    let mut tx = snapshot(pool).await?;
    let by_channel: Vec<ChannelRow> = sqlx::query_as(&format!(
        "SELECT v.channel, count(*),
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
                    extract(epoch FROM v.first_response_at - v.created_at))::numeric, 3)::float8,
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
                    extract(epoch FROM v.closed_at - v.created_at))::numeric, 3)::float8,
                count(*) FILTER (WHERE v.closed_at IS NOT NULL)
         FROM ticket_view v WHERE {WINDOW} GROUP BY v.channel"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    // A merged user's tickets count for the user they were merged into.
    let per_person = format!(
        "SELECT coalesce(u.merged_into, v.requester_id) AS id, count(*) AS tickets,
                max(v.requester_name) AS recorded_name
         FROM ticket_view v LEFT JOIN users u ON u.id = v.requester_id
         WHERE {WINDOW} GROUP BY 1"
    );
    let (unique, recurring): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), count(*) FILTER (WHERE tickets >= 2) FROM ({per_person}) p"
    ))
    .bind(from)
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    let top: Vec<TopRequester> = sqlx::query_as(&format!(
        "SELECT p.id, coalesce(u.name, p.recorded_name) AS name, p.tickets
         FROM ({per_person}) p LEFT JOIN users u ON u.id = p.id
         ORDER BY p.tickets DESC, name, p.id LIMIT {TOP}"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut stats: BTreeMap<String, ChannelStats> = channels
        .iter()
        .map(|c| {
            let empty = ChannelStats {
                tickets: 0,
                first_response_p50_seconds: None,
                resolution_p50_seconds: None,
                resolved_pct: None,
            };
            (c.clone(), empty)
        })
        .collect();
    for (channel, tickets, fr, res, closed) in by_channel {
        let resolved_pct =
            (tickets > 0).then(|| (closed as f64 * 10_000.0 / tickets as f64).round() / 100.0);
        stats.insert(
            channel,
            ChannelStats {
                tickets,
                first_response_p50_seconds: fr,
                resolution_p50_seconds: res,
                resolved_pct,
            },
        );
    }
    Ok(PeopleStats {
        channels: stats,
        requesters: RequesterStats {
            unique,
            recurring,
            top,
        },
    })
}
