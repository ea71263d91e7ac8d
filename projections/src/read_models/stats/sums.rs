//! A window's summed figures, and the answer made from them.

use std::collections::{BTreeMap, HashMap};

use ticket_nats::Priority;

use uuid::Uuid;

use super::answer::{
    AgentStats, Durations, Ratings, SlaStats, Stats, StatsQuery, TeamStats, TicketCounts,
};
use crate::read_models::histogram::Histogram;
use crate::read_models::tickets::tally::{self, Kept, TicketFacts};

/// What the open tickets of one priority and assignee add at the time of the question.
#[derive(sqlx::FromRow)]
pub(super) struct OpenGroup {
    #[sqlx(try_from = "String")]
    pub(super) priority: Priority,
    pub(super) assignee_id: Option<Uuid>,
    /// First responses whose target passed while awaited (not decided by the tally).
    pub(super) first_response_due: i64,
    /// Resolutions whose target passed while awaited.
    pub(super) resolution_due: i64,
    /// Open tickets with any breached target.
    pub(super) open_breached: i64,
}

/// What the open tickets of the window add at the time of the question.
#[derive(Debug, Default)]
pub(super) struct OpenFigures {
    first_response_due: i64,
    resolution_due: i64,
    open_breached: i64,
    /// Targets passed while awaited, by priority.
    by_priority: HashMap<&'static str, i64>,
    /// The same by assignee.
    by_agent: HashMap<Uuid, i64>,
}

impl FromIterator<OpenGroup> for OpenFigures {
    fn from_iter<I: IntoIterator<Item = OpenGroup>>(groups: I) -> Self {
        let mut open = Self::default();
        for g in groups {
            open.first_response_due += g.first_response_due;
            open.resolution_due += g.resolution_due;
            open.open_breached += g.open_breached;
            let due = g.first_response_due + g.resolution_due;
            *open.by_priority.entry(g.priority.as_str()).or_default() += due;
            if let Some(agent) = g.assignee_id {
                *open.by_agent.entry(agent).or_default() += due;
            }
        }
        open
    }
}

pub(super) fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 10_000.0 / whole as f64).round() / 100.0)
}

fn zeroes(keys: &[String]) -> BTreeMap<String, i64> {
    keys.iter().map(|k| (k.clone(), 0)).collect()
}

/// `(tickets, total)` by `(metric, key)`; totals are exact (microseconds or points). The
/// [`tally::HISTOGRAMS`] apart, by metric and series.
///
/// (Hashed with foldhash, as the tally's [`Delta`](tally::Delta) is: a window's parts of a day
/// add a dozen entries per ticket.)
#[derive(Debug, Default)]
pub(super) struct Sums {
    figures: foldhash::HashMap<(String, String), (i64, i128)>,
    histograms: foldhash::HashMap<(String, String), Histogram>,
}

/// `a / b` rounded half away from zero, as Postgres rounds a `numeric` (`b > 0`).
fn div_round(a: i128, b: i128) -> i128 {
    if a < 0 {
        -div_round(-a, b)
    } else {
        (2 * a + b) / (2 * b)
    }
}

/// A mean of microseconds in seconds, to the millisecond.
fn mean_seconds(total_micros: i128, n: i64) -> Option<f64> {
    (n > 0).then(|| div_round(total_micros, i128::from(n) * 1_000) as f64 / 1_000.0)
}

/// A mean of points to two decimals.
fn mean_points(total: i128, n: i64) -> Option<f64> {
    (n > 0).then(|| div_round(total * 100, i128::from(n)) as f64 / 100.0)
}

/// Microseconds in seconds, to the millisecond.
pub(super) fn seconds(micros: f64) -> f64 {
    (micros / 1_000.0).round() / 1_000.0
}

impl Sums {
    fn add(&mut self, metric: String, key: String, n: i64, total: i128) {
        match tally::kept(&metric, &key) {
            None => return,
            Some(Kept::Bucket(series, bucket)) => {
                self.histograms
                    .entry((metric, series.to_string()))
                    .or_default()
                    .add(bucket, n);
                return;
            }
            Some(Kept::Figure) => {}
        }
        let entry = self.figures.entry((metric, key)).or_default();
        entry.0 += n;
        entry.1 += total;
    }

    /// A row summed by the database (`total` as the text of a `numeric`, exact at any size).
    pub(super) fn add_summed(&mut self, metric: String, key: String, n: i64, total: &str) {
        // A sum of integers has no fractional part; anything else would be a corrupt table.
        let total = total.parse::<i128>().unwrap_or_else(|_| {
            tracing::warn!(%metric, %key, total, "ticket_stats total is not an integer");
            0
        });
        self.add(metric, key, n, total);
    }

    /// A stored histogram row: the counts of buckets `first`, `first + 1`, … of `metric`'s
    /// `series`.
    pub(super) fn add_histogram(
        &mut self,
        metric: String,
        series: String,
        first: i32,
        counts: &[Option<i64>],
    ) {
        self.histograms
            .entry((metric, series))
            .or_default()
            .add_run(first, counts);
    }

    /// Tickets tallied here (the parts of a day at the ends of a window, a tagged subset), or
    /// taken out (`sign` -1: the part of a day summed whole that lies outside the window).
    /// Tickets share most of their entries (a status, a channel, a histogram's bucket): summed
    /// first, each distinct entry is looked up and kept once.
    pub(super) fn add_tickets<'t>(
        &mut self,
        tickets: impl IntoIterator<Item = &'t TicketFacts>,
        sign: i64,
    ) {
        let mut summed: foldhash::HashMap<(&'static str, String), (i64, i128)> = Default::default();
        for ticket in tickets {
            for (metric, key, n, total) in ticket.entries() {
                let entry = summed.entry((metric, key)).or_default();
                entry.0 += sign * n;
                entry.1 += i128::from(sign * total);
            }
        }
        for ((metric, key), (n, total)) in summed {
            self.add(metric.to_string(), key, n, total);
        }
    }

    /// Adds what `other` summed (another part of the same window).
    pub(super) fn absorb(&mut self, other: Sums) {
        for (key, (n, total)) in other.figures {
            let entry = self.figures.entry(key).or_default();
            entry.0 += n;
            entry.1 += total;
        }
        for (key, histogram) in other.histograms {
            match self.histograms.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut mine) => {
                    mine.get_mut().merge(&histogram)
                }
                std::collections::hash_map::Entry::Vacant(mine) => {
                    mine.insert(histogram);
                }
            }
        }
    }

    pub(super) fn get(&self, metric: &str, key: &str) -> (i64, i128) {
        self.figures
            .get(&(metric.to_string(), key.to_string()))
            .copied()
            .unwrap_or_default()
    }

    pub(super) fn keyed(&self, metric: &str) -> impl Iterator<Item = (&str, i64, i128)> + '_ {
        let metric = metric.to_string();
        self.figures
            .iter()
            .filter(move |((m, _), _)| *m == metric)
            .map(|((_, k), (n, t))| (k.as_str(), *n, *t))
    }

    /// Counts by key, every key of `keys` present, keys nobody has left out.
    fn counts(&self, metric: &str, keys: &[String]) -> BTreeMap<String, i64> {
        let mut map = zeroes(keys);
        for (key, n, _) in self.keyed(metric) {
            if n != 0 || map.contains_key(key) {
                *map.entry(key.to_string()).or_default() += n;
            }
        }
        map
    }

    /// `metric`'s histogram of each series (channel).
    pub(super) fn series_histograms(
        &self,
        metric: &str,
    ) -> impl Iterator<Item = (&str, &Histogram)> + '_ {
        let metric = metric.to_string();
        self.histograms
            .iter()
            .filter(move |((m, _), _)| *m == metric)
            .map(|((_, series), h)| (series.as_str(), h))
    }

    /// `metric`'s histogram of every series together.
    fn histogram(&self, metric: &str) -> Histogram {
        let mut histogram = Histogram::default();
        for (_, h) in self.series_histograms(metric) {
            histogram.merge(h);
        }
        histogram
    }

    /// The wall-clock figures of `[metric, per-channel histogram]` (the channels' summed) and the business ones of
    /// `[business metric, business histogram]`.
    fn durations(&self, wall: [&str; 2], business: [&str; 2]) -> Durations {
        let (n, total) = self.get(wall[0], "");
        let histogram = self.histogram(wall[1]);
        let (business_n, business_total) = self.get(business[0], "");
        let business_histogram = self.histogram(business[1]);
        Durations {
            avg_seconds: mean_seconds(total, n),
            p50_seconds: histogram.percentile(0.5).map(seconds),
            p90_seconds: histogram.percentile(0.9).map(seconds),
            business_avg_seconds: mean_seconds(business_total, business_n),
            business_p50_seconds: business_histogram.percentile(0.5).map(seconds),
            business_p90_seconds: business_histogram.percentile(0.9).map(seconds),
        }
    }

    /// The agents with tickets in the window.
    pub(super) fn agent_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .keyed(tally::AGENT_OPEN)
            .chain(self.keyed(tally::AGENT_CLOSED))
            .filter(|(_, n, _)| *n > 0)
            .filter_map(|(key, _, _)| key.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The teams with tickets in the window.
    fn team_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .keyed(tally::TEAM_OPEN)
            .chain(self.keyed(tally::TEAM_CLOSED))
            .filter(|(_, n, _)| *n > 0)
            .filter_map(|(key, _, _)| key.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Every team of `directory` (id and current name), and any other with tickets in the
    /// window, by name.
    fn teams(&self, directory: &[(Uuid, String)]) -> Vec<TeamStats> {
        let names: HashMap<Uuid, &str> = directory
            .iter()
            .map(|(id, name)| (*id, name.as_str()))
            .collect();
        let mut ids: Vec<Uuid> = directory.iter().map(|(id, _)| *id).collect();
        ids.extend(
            self.team_ids()
                .into_iter()
                .filter(|id| !names.contains_key(id)),
        );
        let mut teams: Vec<TeamStats> = ids
            .into_iter()
            .map(|id| {
                let key = id.to_string();
                let (closed, resolution) = self.get(tally::TEAM_CLOSED, &key);
                let (rated, points) = self.get(tally::TEAM_RATED, &key);
                TeamStats {
                    id,
                    name: names.get(&id).map(|n| n.to_string()).unwrap_or_default(),
                    open: self.get(tally::TEAM_OPEN, &key).0,
                    closed,
                    avg_resolution_seconds: mean_seconds(resolution, closed),
                    avg_rating: mean_points(points, rated),
                }
            })
            .collect();
        teams.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        teams
    }

    /// The answer.
    pub(super) fn into_stats(
        self,
        query: &StatsQuery,
        open: OpenFigures,
        names: HashMap<Uuid, Option<String>>,
        teams: &[(Uuid, String)],
    ) -> Stats {
        let by_status = self.counts(tally::STATUS, &query.statuses);
        let tickets = TicketCounts {
            total: by_status.values().sum(),
            by_status,
            by_priority: self.counts(tally::PRIORITY, &query.priorities),
            by_category: self.counts(tally::CATEGORY, &query.categories),
            by_channel: self.counts(tally::CHANNEL, &query.channels),
        };
        let n = |metric| self.get(metric, "").0;
        let sla = SlaStats {
            first_response_met_pct: pct(
                n(tally::FIRST_RESPONSE_MET),
                n(tally::FIRST_RESPONSE_DECIDED) + open.first_response_due,
            ),
            resolution_met_pct: pct(
                n(tally::RESOLUTION_MET),
                n(tally::RESOLUTION_DECIDED) + open.resolution_due,
            ),
            open_breached: open.open_breached,
            breaches_by_priority: query
                .priorities
                .iter()
                .map(|p| {
                    let open = open.by_priority.get(p.as_str()).copied().unwrap_or(0);
                    (p.clone(), self.get(tally::BREACHES, p).0 + open)
                })
                .collect(),
        };
        let distribution: BTreeMap<String, i64> = (1..=5)
            .map(|score| {
                let key = score.to_string();
                let count = self.get(tally::RATING, &key).0;
                (key, count)
            })
            .collect();
        let rated: i64 = distribution.values().sum();
        let points: i128 = distribution
            .iter()
            .map(|(score, n)| i128::from(*n) * score.parse::<i128>().unwrap_or(0))
            .sum();
        let mut agents: Vec<AgentStats> = self
            .agent_ids()
            .into_iter()
            .map(|id| {
                let key = id.to_string();
                let (closed, resolution) = self.get(tally::AGENT_CLOSED, &key);
                let (rated, points) = self.get(tally::AGENT_RATED, &key);
                AgentStats {
                    id,
                    name: names.get(&id).cloned().flatten().unwrap_or_default(),
                    open_assigned: self.get(tally::AGENT_OPEN, &key).0,
                    closed,
                    avg_resolution_seconds: mean_seconds(resolution, closed),
                    avg_rating: mean_points(points, rated),
                    breaches: self.get(tally::AGENT_BREACHES, &key).0
                        + open.by_agent.get(&id).copied().unwrap_or(0),
                }
            })
            .collect();
        agents.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Stats {
            tickets,
            first_response: self.durations(
                [
                    tally::FIRST_RESPONSE,
                    tally::CHANNEL_FIRST_RESPONSE_HISTOGRAM,
                ],
                [
                    tally::FIRST_RESPONSE_BUSINESS,
                    tally::FIRST_RESPONSE_BUSINESS_HISTOGRAM,
                ],
            ),
            resolution: self.durations(
                [tally::RESOLUTION, tally::CHANNEL_RESOLUTION_HISTOGRAM],
                [
                    tally::RESOLUTION_BUSINESS,
                    tally::RESOLUTION_BUSINESS_HISTOGRAM,
                ],
            ),
            sla,
            ratings: Ratings {
                count: rated,
                avg: mean_points(points, rated),
                distribution,
            },
            agents,
            teams: self.teams(teams),
        }
    }
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

    #[test]
    fn means_round_half_away_from_zero_like_numeric() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(mean_seconds(1_500_500, 1), Some(1.501));
        assert_eq!(mean_seconds(0, 0), None);
        assert_eq!(mean_points(8, 3), Some(2.67));
        assert_eq!(mean_points(21, 8), Some(2.63));
    }
}
