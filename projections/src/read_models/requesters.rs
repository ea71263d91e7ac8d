//! What the tickets read model tells about people and channels: a requester's tickets
//! (`GET /users/{id}`), and the shapes of the channel and requester statistics of `GET /stats`.
//!
//! A user merged into another is the same person: both read through the directory's
//! `merged_into` (kept by the merge itself), so a merge needs no rewrite of any ticket row.
//! The statistics themselves are summed with the others (`super::stats`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::query::requested_by;

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
