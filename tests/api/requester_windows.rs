//! CONTRACT 7 (`GET /stats` `requesters`): over any window and over all time, `unique`,
//! `recurring` and `top` are exactly what counting the window's tickets gives, however the
//! tickets arrived (out of creation order, many to a batch), and the kept earlier-ticket times
//! are what a scan of the tickets computes.

use chrono::{DateTime, Duration, DurationRound, Utc};
use ticket_projections::read_models::stats::{stats, StatsQuery};
use uuid::Uuid;

use crate::synthetic::{Desk, Opened};

/// A small deterministic generator (the same tickets every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 2,500 tickets over 120 days up to an hour ago, from 80 requesters of whom a few file most,
/// opened in batches of 250 in shuffled order.
async fn desk(now: DateTime<Utc>) -> Desk {
    let mut rng = Lcg(23);
    let span = Duration::days(120).num_seconds() as f64;
    let mut tickets: Vec<Opened> = (0..2_500u128)
        .map(|n| {
            let requester = Uuid::from_u128(1 + (80.0 * rng.next().powi(3)) as u128);
            let ago = Duration::seconds((3_600.0 + rng.next() * span) as i64);
            Opened::new(n, requester, now - ago)
        })
        .collect();
    // A requester's two tickets in the same microsecond, ordered by id.
    tickets[7].created_at = tickets[8].created_at;
    tickets[7].requester = tickets[8].requester;
    for i in (1..tickets.len()).rev() {
        tickets.swap(i, (rng.next() * (i + 1) as f64) as usize);
    }
    let mut desk = Desk::new().await;
    for batch in tickets.chunks(250) {
        desk.open(batch).await;
    }
    desk
}

/// `(unique, recurring, top as (id, tickets))` counted over the window's tickets.
async fn counted(
    desk: &Desk,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> (i64, i64, Vec<(Uuid, i64)>) {
    let people: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT requester_id, count(*) FROM ticket_view
         WHERE created_at >= $1 AND ($2::timestamptz IS NULL OR created_at < $2)
         GROUP BY requester_id ORDER BY count(*) DESC, max(requester_name), requester_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&desk.pool)
    .await
    .unwrap();
    let recurring = people.iter().filter(|(_, n)| *n >= 2).count() as i64;
    let top = people.iter().take(10).copied().collect();
    (people.len() as i64, recurring, top)
}

#[tokio::test]
async fn requester_figures_of_every_window_equal_a_count_of_its_tickets() {
    let now = Utc::now();
    let desk = desk(now).await;
    let midnight = now.duration_trunc(Duration::days(1)).unwrap();
    let mut windows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = vec![
        (now - Duration::days(30), None),
        (now - Duration::days(7), None),
        (now - Duration::hours(20), None),
        (midnight - Duration::days(30), None),
        (midnight - Duration::days(30), Some(midnight)),
        (now - Duration::days(92), Some(now - Duration::hours(5))),
        // Longer than the chains answer: the per-requester rows.
        (now - Duration::days(100), None),
        (now - Duration::days(400), None),
    ];
    let mut rng = Lcg(5);
    for _ in 0..30 {
        let from = now - Duration::seconds((rng.next() * 125.0 * 86_400.0) as i64);
        let length = Duration::seconds((rng.next() * 95.0 * 86_400.0) as i64);
        let to = (rng.next() < 0.7).then_some(from + length);
        windows.push((from, to));
    }
    // Within one day, and from a day's very start.
    windows.push((
        midnight - Duration::days(3) + Duration::hours(2),
        Some(midnight - Duration::days(3) + Duration::hours(9)),
    ));
    windows.push((
        midnight - Duration::days(10),
        Some(midnight - Duration::days(9)),
    ));

    // All time, from the kept counts (a `from` before every ticket for the count).
    let mut windows: Vec<(Option<DateTime<Utc>>, _)> = windows
        .into_iter()
        .map(|(from, to)| (Some(from), to))
        .collect();
    windows.push((None, None));

    for (from, to) in windows {
        let query = StatsQuery {
            from,
            to,
            statuses: Vec::new(),
            priorities: Vec::new(),
            categories: Vec::new(),
            channels: Vec::new(),
            tag: None,
        };
        let (_, people) = stats(&desk.pool, &query).await.expect("stats");
        let answered = &people.requesters;
        let from = from.unwrap_or(now - Duration::days(365));
        let (unique, recurring, top) = counted(&desk, from, to).await;
        assert!(unique > 0 || to.is_some(), "the data set covers {from}");
        let window = format!("[{from}, {to:?})");
        assert_eq!(answered.unique, unique, "unique of {window}");
        assert_eq!(answered.recurring, recurring, "recurring of {window}");
        let answered_top: Vec<(Uuid, i64)> =
            answered.top.iter().map(|t| (t.id, t.tickets)).collect();
        assert_eq!(answered_top, top, "top of {window}");
    }
}

#[tokio::test]
async fn the_kept_earlier_tickets_are_what_a_scan_of_the_tickets_gives() {
    let desk = desk(Utc::now()).await;
    let scanned = "SELECT ticket_id, requester_id, created_at,
                          lag(created_at, 1) OVER w AS prev1_at, lag(created_at, 2) OVER w AS prev2_at,
                          lag(created_at, 4) OVER w AS prev4_at, lag(created_at, 8) OVER w AS prev8_at
                   FROM ticket_view
                   WINDOW w AS (PARTITION BY requester_id ORDER BY created_at, ticket_id)";
    let differing: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (
             (SELECT * FROM requester_tickets EXCEPT ALL {scanned})
             UNION ALL
             ({scanned} EXCEPT ALL SELECT * FROM requester_tickets)) d"
    ))
    .fetch_one(&desk.pool)
    .await
    .unwrap();
    assert_eq!(differing, 0, "requester_tickets");
    let gaps = format!(
        "SELECT day, depth::smallint, gap::smallint, count(*)::bigint AS n FROM (
             SELECT (created_at AT TIME ZONE 'UTC')::date AS day, 0 AS depth, 0 AS gap FROM ({scanned}) s
             UNION ALL
             SELECT (created_at AT TIME ZONE 'UTC')::date, 1,
                    (created_at AT TIME ZONE 'UTC')::date - (prev1_at AT TIME ZONE 'UTC')::date
             FROM ({scanned}) s WHERE prev1_at IS NOT NULL
             UNION ALL
             SELECT (created_at AT TIME ZONE 'UTC')::date, 2,
                    (created_at AT TIME ZONE 'UTC')::date - (prev2_at AT TIME ZONE 'UTC')::date
             FROM ({scanned}) s WHERE prev2_at IS NOT NULL) t
         WHERE gap <= 92 GROUP BY 1, 2, 3"
    );
    let differing: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (
             (SELECT * FROM requester_gaps EXCEPT ALL {gaps})
             UNION ALL
             ({gaps} EXCEPT ALL SELECT * FROM requester_gaps)) d"
    ))
    .fetch_one(&desk.pool)
    .await
    .unwrap();
    assert_eq!(differing, 0, "requester_gaps");
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM requester_tickets")
        .fetch_one(&desk.pool)
        .await
        .unwrap();
    assert_eq!(tickets, 2_500);
}
