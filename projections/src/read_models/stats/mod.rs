//! Statistics over the tickets created in a window, summed from what the ticket view
//! projection keeps per creation day, week and month (`ticket_stats`) and for all time
//! (`ticket_totals`), each histogram as one row of bucket counts (`ticket_histograms`; see
//! [`super::tickets::tally`]): the cost of an answer depends on the length of the window, not
//! on how many tickets it holds. Only what depends on the time of the question is counted over
//! tickets: the targets that passed while still awaited, over the tickets still open.
//!
//! The channel and requester statistics come from the same rows ([`people`]), and so do the
//! team ones (by the team a ticket is given to, as the agents' are by its assignee); the
//! requester figures of a window of up to a quarter starting at an instant come from each
//! ticket's earlier tickets instead ([`requester_window`]), which no row per requester holds,
//! and those of all time from kept counts ([`requester_totals`]).
//!
//! Counts, sums and averages are exact; percentiles come from mergeable histograms and are
//! within 1 % of `percentile_cont` over the same tickets ([`super::histogram`]).

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::query::{joined, snapshots};
use super::requesters::{PeopleStats, RequesterStats};
use super::tickets::tally::{self, TicketFacts, FACT_COLUMNS};

mod answer;
mod groups;
mod merges;
mod people;
mod requester_totals;
mod requester_window;
mod sums;
mod top_requesters;
mod window;

pub use answer::*;
pub use groups::{field_groups, FieldGroup, FieldGroups};
use people::RequesterSource;
use sums::{OpenFigures, OpenGroup, Sums};
use window::WINDOW;

/// [`super::tickets::SlaFacts::at`]'s first-response rule in SQL, at the instant `at` (a
/// pending ticket's clock stands at its pause's start).
fn first_response_breached(at: &str) -> String {
    format!(
        "(v.first_response_breach_recorded
          OR (v.first_response_at IS NOT NULL AND v.first_response_at > v.first_response_due)
          OR (v.first_response_at IS NULL AND v.closed_at IS NULL
              AND v.first_response_due <= LEAST({at}, COALESCE(v.pending_since, {at}))))"
    )
}

/// [`super::tickets::SlaFacts::at`]'s resolution rule in SQL, at the instant `at`.
fn resolution_breached(at: &str) -> String {
    format!(
        "(v.resolution_breach_recorded
          OR (v.closed_at IS NOT NULL AND v.closed_at > v.resolution_due)
          OR (v.closed_at IS NULL
              AND v.resolution_due <= LEAST({at}, COALESCE(v.pending_since, {at}))))"
    )
}

/// A `ticket_histograms` row: metric, series, first bucket and the counts from it on.
type HistogramRow = (String, String, Option<i32>, Vec<Option<i64>>);

/// The rows of `ticket_histograms` as [`HistogramRow`]s (`counts[:]`: starting at 1, as the
/// driver reads arrays, with the first bucket beside it).
const HISTOGRAM_ROWS: &str =
    "SELECT metric, key, array_lower(counts, 1), counts[:] FROM ticket_histograms";

/// Adds the histogram rows of a window's periods (a few per period and histogram).
fn add_histograms(sums: &mut Sums, rows: Vec<HistogramRow>) {
    for (metric, series, first, counts) in rows {
        if let Some(first) = first {
            sums.add_histogram(metric, series, first, &counts);
        }
    }
}

/// The statistics of the tickets created in the window, and its channel and requester ones.
///
/// Three connections on one snapshot read side by side what does not depend on the rest, each
/// in a task of its own so that decoding and counting use another core too: the kept sums, the
/// tickets counted one by one (a tagged subset, the parts of a day at either end), and what the
/// time of the question decides (the open tickets' targets) with the requester chains. Each is
/// a few milliseconds of the database's and the engine's work.
pub async fn stats(pool: &PgPool, query: &StatsQuery) -> Result<(Stats, PeopleStats), sqlx::Error> {
    let plan = window::plan(query.from, query.to);
    let requesters = RequesterSource::of(query, chrono::Utc::now());
    let (_permit, [mut tx, mut counting, mut beside]) = snapshots::<3>(pool).await?;
    let counted = tokio::spawn({
        let (query, plan) = (query.clone(), plan.clone());
        async move {
            let counted = counted_sums(&mut counting, &query, &plan).await;
            (counting, counted)
        }
    });
    let timely = tokio::spawn({
        let query = query.clone();
        async move {
            let read = open_and_chains(&mut beside, &query, requesters).await;
            (beside, read)
        }
    });
    let mut sums = kept_sums(&mut tx, query, &plan, requesters).await?;
    let (counting, counted) = joined(counted).await?;
    let (beside, timely) = joined(timely).await?;
    let (open, chained) = timely?;
    sums.absorb(counted?);

    let ids = sums.agent_ids();
    // An agent's name as their latest assigned ticket recorded it.
    let names: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT a.id, (SELECT v.assignee_name FROM ticket_view v WHERE v.assignee_id = a.id
                       ORDER BY v.created_at DESC, v.ticket_id DESC LIMIT 1)
         FROM UNNEST($1::uuid[]) AS a(id)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    // Every team is listed, those without tickets in the window too, by its current name.
    let teams: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, name FROM teams")
        .fetch_all(&mut *tx)
        .await?;
    let people = people::people_stats(&mut tx, &sums, query, requesters, chained).await?;
    futures::try_join!(tx.commit(), counting.commit(), beside.commit())?;

    Ok((
        sums.into_stats(query, open, names.into_iter().collect(), &teams),
        people,
    ))
}

/// What the kept rows give: all time, or the window's months, weeks and days (with its
/// requesters' rows when they answer it). Nothing for a tagged subset, which is counted.
async fn kept_sums(
    tx: &mut PgConnection,
    query: &StatsQuery,
    plan: &window::Plan,
    requesters: RequesterSource,
) -> Result<Sums, sqlx::Error> {
    let mut sums = Sums::default();
    if query.tag.is_some() {
        return Ok(sums);
    }
    if plan.months == Some((None, None)) {
        // All time: the kept totals, one row per metric and key.
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT metric, key, n, total::text FROM ticket_totals WHERE metric <> $1",
        )
        .bind(tally::BOARD)
        .fetch_all(&mut *tx)
        .await?;
        for (metric, key, n, total) in rows {
            sums.add_summed(metric, key, n, &total);
        }
        let histograms: Vec<HistogramRow> =
            sqlx::query_as(&format!("{HISTOGRAM_ROWS} WHERE grain = 'all'"))
                .fetch_all(&mut *tx)
                .await?;
        add_histograms(&mut sums, histograms);
    } else if plan.months.is_some() || !plan.days.is_empty() {
        let (weeks, days) = window::weeks_within(&plan.days);
        let periods = |select: &str| {
            let mut qb = QueryBuilder::<Postgres>::new(select);
            qb.push(" WHERE (false");
            if let Some((from, to)) = plan.months {
                qb.push(" OR (grain = 'month'");
                if let Some(from) = from {
                    qb.push(" AND period >= ").push_bind(from);
                }
                if let Some(to) = to {
                    qb.push(" AND period < ").push_bind(to);
                }
                qb.push(")");
            }
            if !weeks.is_empty() {
                qb.push(" OR (grain = 'week' AND period = ANY(")
                    .push_bind(weeks.clone())
                    .push("))");
            }
            for (from, to) in &days {
                qb.push(" OR (grain = 'day' AND period >= ")
                    .push_bind(*from)
                    .push(" AND period < ")
                    .push_bind(*to)
                    .push(")");
            }
            qb.push(")");
            qb
        };
        let mut qb =
            periods("SELECT metric, key, sum(n)::bigint, sum(total)::text FROM ticket_stats");
        qb.push(" GROUP BY metric, key");
        let rows: Vec<(String, String, i64, String)> =
            qb.build_query_as().fetch_all(&mut *tx).await?;
        for (metric, key, n, total) in rows {
            sums.add_summed(metric, key, n, &total);
        }
        let histograms: Vec<HistogramRow> = periods(HISTOGRAM_ROWS)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        add_histograms(&mut sums, histograms);
        // The per-requester rows, only for the windows whose requester figures they give.
        if matches!(requesters, RequesterSource::Summed) {
            let mut qb =
                periods("SELECT requester_id::text, sum(n)::bigint FROM requester_periods");
            qb.push(" GROUP BY requester_id");
            let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
            for (requester, n) in rows {
                sums.add_summed(tally::REQUESTER.to_string(), requester, n, "0");
            }
        }
    }
    Ok(sums)
}

/// What is counted ticket by ticket: a tagged subset (the kept sums are not by tag; its
/// tickets are found through the GIN index on `tags`), or the parts of a day at the window's
/// ends that the kept rows do not give, added or taken out.
async fn counted_sums(
    tx: &mut PgConnection,
    query: &StatsQuery,
    plan: &window::Plan,
) -> Result<Sums, sqlx::Error> {
    let mut sums = Sums::default();
    if let Some(tag) = &query.tag {
        let tickets: Vec<TicketFacts> = sqlx::query_as(&format!(
            "SELECT {FACT_COLUMNS} FROM ticket_view v WHERE v.tags @> ARRAY[$3::text] AND {WINDOW}"
        ))
        .bind(query.from)
        .bind(query.to)
        .bind(tag)
        .fetch_all(&mut *tx)
        .await?;
        sums.add_tickets(&tickets, 1);
        return Ok(sums);
    }
    let parts = plan.partial.iter().map(|part| (part, 1));
    let outside = plan.less.iter().map(|part| (part, -1));
    for ((from, to), sign) in parts.chain(outside) {
        let tickets: Vec<TicketFacts> = sqlx::query_as(&format!(
            "SELECT {FACT_COLUMNS} FROM ticket_view v WHERE v.created_at >= $1 AND v.created_at < $2"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        sums.add_tickets(&tickets, sign);
    }
    Ok(sums)
}

/// What the open tickets of the window add at the time of the question, and the requester
/// figures of a window the chains answer (`None` for the others, which come from the sums).
async fn open_and_chains(
    tx: &mut PgConnection,
    query: &StatsQuery,
    requesters: RequesterSource,
) -> Result<(OpenFigures, Option<RequesterStats>), sqlx::Error> {
    let open = open_figures(tx, query).await?;
    let chained = match requesters {
        RequesterSource::Chains(window) => {
            Some(requester_window::requester_stats(tx, &window).await?)
        }
        RequesterSource::AllTime | RequesterSource::Summed => None,
    };
    Ok((open, chained))
}

/// What the open tickets of the window add at the time of the question.
async fn open_figures(
    tx: &mut PgConnection,
    query: &StatsQuery,
) -> Result<OpenFigures, sqlx::Error> {
    Ok(sqlx::query_as::<_, OpenGroup>(&format!(
        "SELECT v.priority, v.assignee_id,
                count(*) FILTER (WHERE {fr_now} AND NOT {fr_never}) AS first_response_due,
                count(*) FILTER (WHERE {res_now} AND NOT {res_never}) AS resolution_due,
                count(*) FILTER (WHERE {fr_now} OR {res_now}) AS open_breached
         FROM ticket_view v WHERE v.closed_at IS NULL AND {WINDOW}
              AND ($3::text IS NULL OR v.tags @> ARRAY[$3::text])
         GROUP BY v.priority, v.assignee_id",
        fr_now = first_response_breached("now()"),
        fr_never = first_response_breached("'-infinity'"),
        res_now = resolution_breached("now()"),
        res_never = resolution_breached("'-infinity'"),
    ))
    .bind(query.from)
    .bind(query.to)
    .bind(query.tag.as_deref())
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect())
}
