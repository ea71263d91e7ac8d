//! CONTRACT 5 (`GET /tickets?q=`): a search finds every ticket whose title or description
//! contains the text, in creation order, whether the word is common, rare or found only among
//! old tickets, and whichever way the engine chooses to read the matches.

use chrono::{DateTime, Duration, Utc};
use ticket_projections::read_models::query::Viewer;
use ticket_projections::read_models::tickets::{list, ListFilter, ListQuery, Sort};
use uuid::Uuid;

use crate::synthetic::{Desk, Opened};

/// More tickets than the newest ones a search tests first.
const TICKETS: u128 = 1_300;

fn text_of(n: u128) -> (String, String) {
    let mut title = format!("Ticket {n}");
    let mut description = String::from("Something is wrong.");
    if n.is_multiple_of(3) {
        description.push_str(" The printer jams.");
    }
    if n.is_multiple_of(25) {
        title.push_str(" (VPN)");
    }
    // Only among the oldest tickets, in both cases and either field.
    if [4, 57, 130].contains(&n) {
        title.push_str(" HeadSet crackles");
    }
    if n == 211 {
        description.push_str(" my headset is dead");
    }
    // A literal percent sign, which must not act as a wildcard.
    if n == 1_000 {
        description.push_str(" 100% broken");
    }
    (title, description)
}

async fn desk() -> Desk {
    let mut desk = Desk::new().await;
    let start: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
    let tickets: Vec<Opened> = (0..TICKETS)
        .map(|n| {
            let mut t = Opened::new(
                n,
                Uuid::from_u128(1 + n % 40),
                start + Duration::minutes(n as i64 * 7),
            );
            (t.title, t.description) = text_of(n);
            t
        })
        .collect();
    for batch in tickets.chunks(400) {
        desk.open(batch).await;
    }
    desk
}

/// Every page of `q` in `sort`, `limit` at a time, as ids.
async fn search(desk: &Desk, q: &str, sort: Sort, limit: i64) -> Vec<Uuid> {
    search_by(desk, q, None, sort, limit).await
}

/// The same, of one requester's tickets when `requester` is given.
async fn search_by(
    desk: &Desk,
    q: &str,
    requester: Option<Uuid>,
    sort: Sort,
    limit: i64,
) -> Vec<Uuid> {
    let viewer = Viewer {
        user_id: Uuid::from_u128(999),
        reads_everything: true,
    };
    let (mut ids, mut after) = (Vec::new(), None);
    loop {
        let query = ListQuery {
            filter: ListFilter {
                q: Some(q.to_string()),
                requester_id: requester,
                ..Default::default()
            },
            sort,
            limit,
            after,
            with_unread: false,
        };
        let page = list(&desk.pool, &query, viewer).await.expect("list");
        ids.extend(page.items.iter().map(|item| item.id));
        match page.next_cursor {
            Some(cursor) => after = Some(sort.after(&cursor).expect("a cursor of the sort")),
            None => return ids,
        }
    }
}

/// What a search must find: a case-insensitive substring test of every ticket.
async fn expected(desk: &Desk, q: &str, sort: Sort) -> Vec<Uuid> {
    // Numbers follow creation here.
    let order = match sort {
        Sort::CreatedAtDesc => "DESC",
        _ => "ASC",
    };
    sqlx::query_scalar(&format!(
        "SELECT ticket_id FROM ticket_view
         WHERE strpos(lower(title), lower($1)) > 0 OR strpos(lower(description), lower($1)) > 0
         ORDER BY created_at {order}, ticket_id {order}"
    ))
    .bind(q)
    .fetch_all(&desk.pool)
    .await
    .expect("scan")
}

#[tokio::test]
async fn common_rare_old_and_absent_texts_are_found_exactly_in_creation_order() {
    let desk = desk().await;
    sqlx::query("ANALYZE ticket_search")
        .execute(&desk.pool)
        .await
        .unwrap();
    let texts = [
        ("printer", 434),
        ("headset", 4),
        ("HEADSET CRACK", 3),
        ("vpn", 52),
        ("100%", 1),
        ("zzqx", 0),
    ];
    // As analyzed, and as if the table were a thousand times larger: the engine then walks
    // the creation order for texts it would otherwise list through the indexes.
    for scale in ["as analyzed", "as if larger"] {
        if scale == "as if larger" {
            sqlx::query(
                "UPDATE pg_class SET reltuples = reltuples * 1000 WHERE oid = 'ticket_search'::regclass",
            )
            .execute(&desk.pool)
            .await
            .unwrap();
        }
        for (q, count) in texts {
            for sort in [Sort::CreatedAtDesc, Sort::CreatedAt, Sort::Number] {
                let want = expected(&desk, q, sort).await;
                assert_eq!(want.len(), count, "{q}: the data set");
                for limit in [1, 7, 50, 200] {
                    let got = search(&desk, q, sort, limit).await;
                    assert_eq!(
                        got,
                        want,
                        "{scale}: q={q} sort={} limit={limit}",
                        sort.as_str()
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_search_with_another_filter_finds_the_same_tickets() {
    let desk = desk().await;
    // Tickets 10, 50, 90, 130, …: one of each text.
    let requester = Uuid::from_u128(11);
    for q in ["printer", "headset", "vpn"] {
        let want: Vec<Uuid> = sqlx::query_scalar(
            "SELECT ticket_id FROM ticket_view
             WHERE requester_id = $2
               AND (strpos(lower(title), $1) > 0 OR strpos(lower(description), $1) > 0)
             ORDER BY created_at DESC, ticket_id DESC",
        )
        .bind(q)
        .bind(requester)
        .fetch_all(&desk.pool)
        .await
        .unwrap();
        assert!(!want.is_empty(), "{q}: the data set");
        for limit in [1, 5, 200] {
            let got = search_by(&desk, q, Some(requester), Sort::CreatedAtDesc, limit).await;
            assert_eq!(got, want, "q={q} requester_id limit={limit}");
        }
    }
}
