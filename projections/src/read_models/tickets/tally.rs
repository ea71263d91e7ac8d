//! What one ticket adds to the statistics of its creation day (`ticket_stats`), so that the
//! statistics of a window are a sum over days instead of a scan of its tickets.
//!
//! The projector takes a ticket's tally out of its day and puts the new one in whenever an
//! event changes it (a close moves one count from `in_progress` to `closed`, adds a resolution
//! time, …), in the same transaction as the row. Everything here is a function of the row
//! alone, so a rebuild sums to the same table. What depends on the time of the question (a
//! target that has passed while still awaited) is not in the tally: it is counted at query
//! time over the tickets still open (see [`crate::read_models::stats`]).
//!
//! Rows are kept per day, per week within a month ([`week_of`]), per month (the first of the
//! month) and for all time (`ticket_totals`, `requester_counts`: see [`store`]), so that a window
//! of years reads a few hundred rows, thirty days about ten days' worth, and all time one set.
//! The board's counts are kept for all time only.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ticket_nats::{Channel, Priority, Status};
use uuid::Uuid;

use super::dto::SlaFacts;
use crate::read_models::histogram;

/// Counts by current status (`key` = the status).
pub const STATUS: &str = "status";
/// Counts by current priority.
pub const PRIORITY: &str = "priority";
/// Counts by current category.
pub const CATEGORY: &str = "category";
/// Counts by channel.
pub const CHANNEL: &str = "channel";
/// Tickets with a first response; `total`: creation to first response, in µs.
pub const FIRST_RESPONSE: &str = "first_response";
/// Closed tickets; `total`: creation to the latest close, in µs.
pub const RESOLUTION: &str = "resolution";
/// First responses that met their target.
pub const FIRST_RESPONSE_MET: &str = "first_response_met";
/// First responses whose outcome is known whatever the time: met, late or recorded as breached.
pub const FIRST_RESPONSE_DECIDED: &str = "first_response_decided";
/// Resolutions that met their target.
pub const RESOLUTION_MET: &str = "resolution_met";
/// Resolutions whose outcome is known whatever the time.
pub const RESOLUTION_DECIDED: &str = "resolution_decided";
/// Tickets with a first response; `total`: its business time (the ticket's calendar, pauses
/// left out), in µs.
pub const FIRST_RESPONSE_BUSINESS: &str = "first_response_business";
/// The same business durations by histogram bucket (`key` from [`histogram_key`], no series).
pub const FIRST_RESPONSE_BUSINESS_HISTOGRAM: &str = "first_response_business_histogram";
/// Closed tickets; `total`: the business time from creation to the latest close, in µs.
pub const RESOLUTION_BUSINESS: &str = "resolution_business";
/// The same business durations by histogram bucket (`key` from [`histogram_key`], no series).
pub const RESOLUTION_BUSINESS_HISTOGRAM: &str = "resolution_business_histogram";
/// Breached targets whatever the time (recorded, or met late) by current priority (`key`);
/// a ticket that missed both targets counts two.
pub const BREACHES: &str = "breaches";
/// The same by assignee (`key` = the agent's id).
pub const AGENT_BREACHES: &str = "agent_breaches";
/// Rated tickets by their latest score (`key` = the score).
pub const RATING: &str = "rating";
/// Tickets assigned to an agent (`key` = the agent's id) and not closed.
pub const AGENT_OPEN: &str = "agent_open";
/// Closed tickets assigned to an agent; `total`: their resolution times, in µs.
pub const AGENT_CLOSED: &str = "agent_closed";
/// Rated tickets assigned to an agent; `total`: the sum of their scores.
pub const AGENT_RATED: &str = "agent_rated";
/// Tickets given to a team (`key` = the team's id) and not closed.
pub const TEAM_OPEN: &str = "team_open";
/// Closed tickets given to a team; `total`: their resolution times, in µs.
pub const TEAM_CLOSED: &str = "team_closed";
/// Rated tickets given to a team; `total`: the sum of their scores.
pub const TEAM_RATED: &str = "team_rated";
/// Closed tickets by channel (`key` = the channel).
pub const CHANNEL_CLOSED: &str = "channel_closed";
/// First-response durations by channel and histogram bucket (`key` from [`histogram_key`], the
/// channel as series); all channels' summed are the histogram of every first response.
pub const CHANNEL_FIRST_RESPONSE_HISTOGRAM: &str = "channel_first_response_histogram";
/// Resolution durations by channel and histogram bucket (`key` from [`histogram_key`], the
/// channel as series); all channels' summed are the histogram of every resolution.
pub const CHANNEL_RESOLUTION_HISTOGRAM: &str = "channel_resolution_histogram";
/// The metrics whose keys are histogram buckets: kept as one row of bucket counts per series
/// and period (`ticket_histograms`, see [`store`]).
pub const HISTOGRAMS: [&str; 4] = [
    CHANNEL_FIRST_RESPONSE_HISTOGRAM,
    CHANNEL_RESOLUTION_HISTOGRAM,
    FIRST_RESPONSE_BUSINESS_HISTOGRAM,
    RESOLUTION_BUSINESS_HISTOGRAM,
];
/// Tickets by requester as recorded on the ticket (`key` = the requester's id). A merge is
/// applied when reading (the directory's `merged_into`), so a merge rewrites no row here. The
/// all-time counts are kept in `requester_counts` instead, indexed by count.
pub const REQUESTER: &str = "requester";
/// All time only (kept by [`store`]), `key` empty: requesters with a ticket, as recorded on
/// the tickets.
pub const REQUESTERS: &str = "requesters";
/// All time only (kept by [`store`]), `key` empty: requesters with two tickets or more, as
/// recorded.
pub const RECURRING_REQUESTERS: &str = "recurring_requesters";
/// The board's counts, all time only: tickets by assignee, status and category (`key` from
/// [`board_key`]).
pub const BOARD: &str = "board";

/// The period of the all-time rows.
const ALL_TIME: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");

/// The key of a ticket's board count: `<assignee id or ->|<status>|<category>` (the category
/// last, so that any text it holds splits off whole).
pub(crate) fn board_key(assignee: Option<Uuid>, status: &str, category: &str) -> String {
    let assignee = assignee.map_or_else(|| "-".to_string(), |id| id.to_string());
    format!("{assignee}|{status}|{category}")
}

/// The key of a histogram bucket: `<series>|<bucket>`, the series a channel or empty.
pub(crate) fn histogram_key(series: &str, bucket: i32) -> String {
    format!("{series}|{bucket}")
}

/// The series and bucket of a [`histogram_key`].
fn parse_histogram_key(key: &str) -> Option<(&str, i32)> {
    let (series, bucket) = key.rsplit_once('|')?;
    Some((series, bucket.parse().ok()?))
}

/// Where an entry is kept and summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept<'k> {
    /// One of [`HISTOGRAMS`]: a bucket of a series (a channel, or none).
    Bucket(&'k str, i32),
    /// Any other metric: a figure by metric and key.
    Figure,
}

/// Where the entry `metric`, `key` is kept; `None` (logged) for a histogram's key that no
/// [`histogram_key`] made.
pub(crate) fn kept<'k>(metric: &str, key: &'k str) -> Option<Kept<'k>> {
    if !HISTOGRAMS.contains(&metric) {
        return Some(Kept::Figure);
    }
    let point = parse_histogram_key(key);
    if point.is_none() {
        tracing::warn!(metric, key, "a histogram key is not a series and bucket");
    }
    point.map(|(series, bucket)| Kept::Bucket(series, bucket))
}

/// The assignee, status and category of a [`board_key`].
pub(crate) fn parse_board_key(key: &str) -> Option<(Option<Uuid>, &str, &str)> {
    let mut parts = key.splitn(3, '|');
    let assignee = match parts.next()? {
        "-" => None,
        id => Some(id.parse().ok()?),
    };
    Some((assignee, parts.next()?, parts.next()?))
}

/// The columns of `ticket_view` a tally needs.
pub(crate) const FACT_COLUMNS: &str = "v.created_at, v.status, v.priority, v.category, \
     v.channel, v.assignee_id, v.first_response_at, v.closed_at, v.rating_score, \
     v.first_response_due, v.resolution_due, v.first_response_breach_recorded, \
     v.resolution_breach_recorded, v.requester_id, v.pending_since, v.paused_seconds, v.team_id, \
     v.first_response_business_ms, v.resolution_business_ms";

/// What of a ticket the statistics count.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct TicketFacts {
    pub(crate) created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub(crate) status: Status,
    #[sqlx(try_from = "String")]
    pub(crate) priority: Priority,
    pub(crate) category: String,
    #[sqlx(try_from = "String")]
    pub(crate) channel: Channel,
    pub(crate) assignee_id: Option<Uuid>,
    pub(crate) first_response_at: Option<DateTime<Utc>>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
    pub(crate) rating_score: Option<i16>,
    pub(crate) first_response_due: DateTime<Utc>,
    pub(crate) resolution_due: DateTime<Utc>,
    pub(crate) first_response_breach_recorded: bool,
    pub(crate) resolution_breach_recorded: bool,
    pub(crate) requester_id: Uuid,
    pub(crate) pending_since: Option<DateTime<Utc>>,
    pub(crate) paused_seconds: i64,
    pub(crate) first_response_business_ms: Option<i64>,
    pub(crate) resolution_business_ms: Option<i64>,
    pub(crate) team_id: Option<Uuid>,
}

/// One figure a ticket adds: `n` tickets and `total` (µs or points) under `(metric, key)`.
pub type Entry = (&'static str, String, i64, i64);

fn micros(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX)
}

impl TicketFacts {
    fn sla(&self) -> SlaFacts {
        SlaFacts {
            first_response_due: self.first_response_due,
            resolution_due: self.resolution_due,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            first_response_breach_recorded: self.first_response_breach_recorded,
            resolution_breach_recorded: self.resolution_breach_recorded,
            pending_since: self.pending_since,
            paused_seconds: self.paused_seconds,
        }
    }

    /// Everything this ticket adds to its creation day.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let one = |metric, key: &str| (metric, key.to_string(), 1, 0);
        let mut out = vec![
            one(STATUS, self.status.as_str()),
            one(PRIORITY, self.priority.as_str()),
            one(CATEGORY, &self.category),
            one(CHANNEL, self.channel.as_str()),
            one(REQUESTER, &self.requester_id.to_string()),
        ];
        if let Some(at) = self.first_response_at {
            let us = micros(self.created_at, at);
            out.push((FIRST_RESPONSE, String::new(), 1, us));
            // The histogram of every channel together is the sum of the channels' ones.
            out.push(one(
                CHANNEL_FIRST_RESPONSE_HISTOGRAM,
                &histogram_key(self.channel.as_str(), histogram::bucket(us)),
            ));
        }
        for (ms, metric, histogram_metric) in [
            (
                self.first_response_business_ms,
                FIRST_RESPONSE_BUSINESS,
                FIRST_RESPONSE_BUSINESS_HISTOGRAM,
            ),
            (
                self.resolution_business_ms,
                RESOLUTION_BUSINESS,
                RESOLUTION_BUSINESS_HISTOGRAM,
            ),
        ] {
            if let Some(us) = ms.map(|ms| ms.saturating_mul(1000)) {
                out.push((metric, String::new(), 1, us));
                out.push(one(
                    histogram_metric,
                    &histogram_key("", histogram::bucket(us)),
                ));
            }
        }
        let resolution = self.closed_at.map(|at| micros(self.created_at, at));
        if let Some(us) = resolution {
            out.push((RESOLUTION, String::new(), 1, us));
            out.push(one(CHANNEL_CLOSED, self.channel.as_str()));
            out.push(one(
                CHANNEL_RESOLUTION_HISTOGRAM,
                &histogram_key(self.channel.as_str(), histogram::bucket(us)),
            ));
        }
        let sla = self.sla();
        // Breached whatever the time: a due time never passes at the beginning of time.
        let decided = sla.at(DateTime::<Utc>::MIN_UTC);
        let (fr_met, res_met) = (sla.first_response_met(), sla.resolution_met());
        for (met, breached, met_metric, decided_metric) in [
            (
                fr_met,
                decided.first_response_breached,
                FIRST_RESPONSE_MET,
                FIRST_RESPONSE_DECIDED,
            ),
            (
                res_met,
                decided.resolution_breached,
                RESOLUTION_MET,
                RESOLUTION_DECIDED,
            ),
        ] {
            if met {
                out.push(one(met_metric, ""));
            }
            if met || breached {
                out.push(one(decided_metric, ""));
            }
        }
        let breaches =
            i64::from(decided.first_response_breached) + i64::from(decided.resolution_breached);
        if breaches > 0 {
            out.push((BREACHES, self.priority.as_str().to_string(), breaches, 0));
        }
        if let Some(score) = self.rating_score {
            out.push(one(RATING, &score.to_string()));
        }
        if let (Some(agent), true) = (self.assignee_id, breaches > 0) {
            out.push((AGENT_BREACHES, agent.to_string(), breaches, 0));
        }
        // A ticket counts for its assignee and for its team alike, by the same rules.
        for (id, open, closed, rated) in [
            (self.assignee_id, AGENT_OPEN, AGENT_CLOSED, AGENT_RATED),
            (self.team_id, TEAM_OPEN, TEAM_CLOSED, TEAM_RATED),
        ] {
            let Some(id) = id else { continue };
            let key = id.to_string();
            match resolution {
                Some(us) => out.push((closed, key.clone(), 1, us)),
                None => out.push(one(open, &key)),
            }
            if let Some(score) = self.rating_score {
                out.push((rated, key, 1, i64::from(score)));
            }
        }
        out
    }
}

/// The grain of a `ticket_stats` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Grain {
    Day,
    Week,
    Month,
    All,
}

impl Grain {
    fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::All => "all",
        }
    }
}

/// The first day of `day`'s month.
pub(crate) fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The first day of `day`'s week within its month: its Monday, or the first of the month when
/// the week began in the month before. A month is a whole number of these pieces, so that a
/// window sums whole weeks inside it and whole months around them.
pub(crate) fn week_of(day: NaiveDate) -> NaiveDate {
    let monday = day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()));
    monday.max(month_of(day))
}

/// The day after the last day of the week piece starting at `start` (see [`week_of`]).
pub(crate) fn week_end(start: NaiveDate) -> NaiveDate {
    let days_left = 7 - u64::from(start.weekday().num_days_from_monday());
    let next_monday = start + chrono::Days::new(days_left);
    let next_month = month_of(start)
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(next_monday);
    next_monday.min(next_month)
}

/// The periods a ticket created on `day` counts in.
fn periods(day: NaiveDate) -> [(Grain, NaiveDate); 4] {
    [
        (Grain::Day, day),
        (Grain::Week, week_of(day)),
        (Grain::Month, month_of(day)),
        (Grain::All, ALL_TIME),
    ]
}

pub(crate) mod requesters;
mod store;

type Key = (Grain, NaiveDate, &'static str, String);

/// The net change of a batch to the statistics' tables (see [`store`]).
///
/// Its map hashes with foldhash rather than the standard SipHash: a rebuild of a million
/// tickets makes and merges some hundred million entries, and SipHash alone was 3 % of the
/// machine's time in it.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    changes: foldhash::HashMap<Key, (i64, i64)>,
}

impl Delta {
    /// Adds `later`'s change: the two written as one change the tables as written in turn.
    pub(crate) fn merge(&mut self, later: Delta) {
        for (key, (n, total)) in later.changes {
            let entry = self.changes.entry(key).or_default();
            entry.0 += n;
            entry.1 += total;
        }
    }

    /// Takes `before` out and puts `after` in (either may be absent).
    pub(crate) fn replace(&mut self, before: Option<&TicketFacts>, after: Option<&TicketFacts>) {
        if before == after {
            return;
        }
        let entries = |facts: Option<&TicketFacts>| {
            facts.map_or_else(Vec::new, |facts| {
                let board = board_key(facts.assignee_id, facts.status.as_str(), &facts.category);
                let mut entries = facts.entries();
                entries.push((BOARD, board, 1, 0));
                entries
            })
        };
        let day_of = |facts: Option<&TicketFacts>| facts.map(|f| f.created_at.date_naive());
        let (mut taken, mut put) = (entries(before), entries(after));
        // An entry in both, on the same creation day, cancels out in every period: most of
        // them, for an event that changes one or two figures.
        if day_of(before) == day_of(after) {
            taken.retain(|entry| match put.iter().position(|p| p == entry) {
                Some(i) => {
                    put.swap_remove(i);
                    false
                }
                None => true,
            });
        }
        for (facts, entries, sign) in [(before, taken, -1), (after, put, 1)] {
            let Some(day) = day_of(facts) else { continue };
            for (metric, key, n, total) in entries {
                if metric == BOARD {
                    // The board's counts are kept for all time only.
                    let entry = self.changes.entry((Grain::All, ALL_TIME, BOARD, key));
                    entry.or_default().0 += sign * n;
                    continue;
                }
                for (grain, period) in periods(day) {
                    let entry = self
                        .changes
                        .entry((grain, period, metric, key.clone()))
                        .or_default();
                    entry.0 += sign * n;
                    entry.1 += sign * total;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "tally_tests.rs"]
mod tests;
