//! The answer of `GET /stats` (CONTRACT 2.5).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// Only tickets carrying this tag.
    pub tag: Option<String>,
}

/// Ticket counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A duration's distribution in seconds, on the wall clock and in business time (CONTRACT 9:
/// the ticket's calendar, pauses left out); `null`s when no ticket counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Durations {
    /// Mean.
    pub avg_seconds: Option<f64>,
    /// Median (continuous percentile).
    pub p50_seconds: Option<f64>,
    /// 90th percentile (continuous).
    pub p90_seconds: Option<f64>,
    /// Mean, in business seconds.
    pub business_avg_seconds: Option<f64>,
    /// Median, in business seconds.
    pub business_p50_seconds: Option<f64>,
    /// 90th percentile, in business seconds.
    pub business_p90_seconds: Option<f64>,
}

/// SLA outcomes. Due times count business time of the ticket's calendar with pauses left out
/// (the aggregate decides them), so met and breached are in business time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaStats {
    /// Percent of tickets whose first-response outcome is known (met, or breached) that met it.
    pub first_response_met_pct: Option<f64>,
    /// Percent of tickets whose resolution outcome is known that met it.
    pub resolution_met_pct: Option<f64>,
    /// Tickets not closed with any breached target.
    pub open_breached: i64,
    /// Breached targets (first response, resolution) by current priority, every priority
    /// present: a ticket that missed both counts two.
    pub breaches_by_priority: BTreeMap<String, i64>,
}

/// Latest rating per ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Breached targets of their tickets (as `sla.breaches_by_priority` counts them).
    pub breaches: i64,
}

/// One team's figures, over the tickets currently given to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamStats {
    /// Team id.
    pub id: Uuid,
    /// The team's current name.
    pub name: String,
    /// Its tickets not closed (with or without an assignee).
    pub open: i64,
    /// Its tickets closed.
    pub closed: i64,
    /// Mean creation-to-close time of its closed tickets.
    pub avg_resolution_seconds: Option<f64>,
    /// Mean rating of its rated tickets.
    pub avg_rating: Option<f64>,
}

/// `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Per team, every team present (zero included), by name.
    pub teams: Vec<TeamStats>,
}
