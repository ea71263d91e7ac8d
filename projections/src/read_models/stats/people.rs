//! The channel and requester members of `GET /stats`, from the same summed rows as the rest
//! of the statistics ([`super::super::tickets::tally`]'s `channel_*` and `requester` metrics),
//! or, for the requesters of a window of up to a quarter that starts at an instant, from each
//! ticket's earlier tickets ([`super::requester_window`]), and of all time from the kept counts
//! ([`super::requester_totals`]).
//!
//! Ticket counts, closed counts, `resolved_pct` and every requester figure (`unique`,
//! `recurring`, `top`) are exact: the tally keeps one count per requester and period, so a
//! window's distinct requesters are the distinct keys of its rows, and merges are applied when
//! reading. Medians come from the per-channel histograms and are within 1 % of
//! `percentile_cont` over the same tickets ([`crate::read_models::histogram`]). A window
//! reads one row per channel, histogram and period (its buckets in an array), and, when the
//! per-requester rows answer it, one per requester with tickets in it (per week or month piece).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::answer::StatsQuery;
use super::merges::Merges;
use super::requester_totals;
use super::requester_window::{self, Window};
use super::sums::{pct, seconds, Sums};
use super::top_requesters::named_top;
use crate::read_models::histogram::Histogram;
use crate::read_models::requesters::{ChannelStats, PeopleStats, RequesterStats};
use crate::read_models::tickets::tally;

/// Per channel, every one of `channels` present.
pub(super) fn channel_stats(sums: &Sums, channels: &[String]) -> BTreeMap<String, ChannelStats> {
    let first_response: HashMap<&str, &Histogram> = sums
        .series_histograms(tally::CHANNEL_FIRST_RESPONSE_HISTOGRAM)
        .collect();
    let resolution: HashMap<&str, &Histogram> = sums
        .series_histograms(tally::CHANNEL_RESOLUTION_HISTOGRAM)
        .collect();
    let mut keys: Vec<String> = channels.to_vec();
    keys.extend(
        sums.keyed(tally::CHANNEL)
            .filter(|(_, n, _)| *n > 0)
            .map(|(k, _, _)| k.to_string()),
    );
    keys.into_iter()
        .map(|channel| {
            let tickets = sums.get(tally::CHANNEL, &channel).0;
            let closed = sums.get(tally::CHANNEL_CLOSED, &channel).0;
            let p50 = |h: &HashMap<&str, &Histogram>| {
                h.get(channel.as_str())
                    .and_then(|h| h.percentile(0.5))
                    .map(seconds)
            };
            let stats = ChannelStats {
                tickets,
                first_response_p50_seconds: p50(&first_response),
                resolution_p50_seconds: p50(&resolution),
                resolved_pct: pct(closed, tickets),
            };
            (channel, stats)
        })
        .collect()
}

/// Requesters of the window's tickets, a merged user's tickets counted for the user they were
/// merged into (from the per-requester rows: windows neither the chains nor the all-time counts
/// answer, and tagged subsets).
async fn summed_requester_stats(
    conn: &mut PgConnection,
    sums: &Sums,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<RequesterStats, sqlx::Error> {
    let merges = Merges::read(conn).await?;
    let mut recorded: HashMap<Uuid, i64> = HashMap::new();
    for (key, n, _) in sums.keyed(tally::REQUESTER) {
        let Ok(id) = key.parse::<Uuid>() else {
            tracing::warn!(key, "ticket_stats requester key is not a user id");
            continue;
        };
        *recorded.entry(id).or_default() += n;
    }
    let people = merges.sum(&recorded);
    let unique = people.len() as i64;
    let recurring = people.values().filter(|n| **n >= 2).count() as i64;
    let top = named_top(conn, people, from, to).await?;
    Ok(RequesterStats {
        unique,
        recurring,
        top,
    })
}

/// Where a window's requester figures come from.
#[derive(Debug, Clone, Copy)]
pub(super) enum RequesterSource {
    /// The kept chains of earlier tickets ([`requester_window`]).
    Chains(Window),
    /// The all-time counts ([`requester_totals`]).
    AllTime,
    /// The per-requester rows of the summed periods, or the tickets of a tagged subset.
    Summed,
}

impl RequesterSource {
    pub(super) fn of(query: &StatsQuery, now: DateTime<Utc>) -> Self {
        if query.tag.is_some() {
            return Self::Summed;
        }
        if query.from.is_none() && query.to.is_none() {
            return Self::AllTime;
        }
        Window::of(query.from, query.to, now).map_or(Self::Summed, Self::Chains)
    }
}

/// Both members; the chains' requester figures as `chained` when they were read beside.
pub(super) async fn people_stats(
    conn: &mut PgConnection,
    sums: &Sums,
    query: &StatsQuery,
    source: RequesterSource,
    chained: Option<RequesterStats>,
) -> Result<PeopleStats, sqlx::Error> {
    let requesters = match (source, chained) {
        (RequesterSource::Chains(_), Some(read)) => read,
        (RequesterSource::Chains(window), None) => {
            requester_window::requester_stats(conn, &window).await?
        }
        (RequesterSource::AllTime, _) => requester_totals::requester_stats(conn, sums).await?,
        (RequesterSource::Summed, _) => {
            summed_requester_stats(conn, sums, query.from, query.to).await?
        }
    };
    Ok(PeopleStats {
        channels: channel_stats(sums, &query.channels),
        requesters,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use ticket_nats::{Channel, Priority, Status};

    use super::*;
    use crate::read_models::histogram::RELATIVE_ERROR;
    use crate::read_models::tickets::tally::TicketFacts;

    fn ticket(channel: Channel, resolution_seconds: Option<i64>) -> TicketFacts {
        let created_at = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        TicketFacts {
            created_at,
            status: if resolution_seconds.is_some() {
                Status::Closed
            } else {
                Status::Open
            },
            priority: Priority::Medium,
            category: "network".into(),
            channel,
            assignee_id: None,
            first_response_at: None,
            closed_at: resolution_seconds.map(|s| created_at + Duration::seconds(s)),
            rating_score: None,
            first_response_due: created_at + Duration::hours(1),
            resolution_due: created_at + Duration::days(1),
            first_response_breach_recorded: false,
            resolution_breach_recorded: false,
            pending_since: None,
            paused_seconds: 0,
            requester_id: Uuid::from_u128(1),
            first_response_business_ms: None,
            resolution_business_ms: None,
            team_id: None,
        }
    }

    #[test]
    fn channels_count_exactly_and_their_medians_are_within_the_histograms_error() {
        let mut sums = Sums::default();
        let resolutions = [61, 3_600, 7_321, 90_000, 12];
        let mut tickets: Vec<_> = resolutions
            .iter()
            .map(|s| ticket(Channel::Email, Some(*s)))
            .collect();
        tickets.push(ticket(Channel::Email, None));
        tickets.push(ticket(Channel::Web, None));
        sums.add_tickets(&tickets, 1);
        let channels = ["web", "email", "chat"].map(String::from);
        let stats = channel_stats(&sums, &channels);
        assert_eq!(stats.len(), 3);
        assert_eq!(stats["email"].tickets, 6);
        assert_eq!(stats["email"].resolved_pct, Some(83.33));
        let median = stats["email"].resolution_p50_seconds.unwrap();
        assert!(
            (median - 3_600.0).abs() <= 3_600.0 * RELATIVE_ERROR,
            "{median}"
        );
        assert_eq!(stats["email"].first_response_p50_seconds, None);
        assert_eq!(stats["web"].tickets, 1);
        assert_eq!(stats["web"].resolved_pct, Some(0.0));
        assert_eq!(stats["web"].resolution_p50_seconds, None);
        assert_eq!(stats["chat"].tickets, 0);
        assert_eq!(stats["chat"].resolved_pct, None);
    }
}
