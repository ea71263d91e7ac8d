//! The requester members of `GET /stats` over all time, from the kept counts: how many
//! requesters have a ticket and two or more (`ticket_totals`'s `requesters` and
//! `recurring_requesters`) and each one's tickets (`requester_counts`, indexed by count). The
//! cost depends on the merged users and on who leads, not on how many people filed tickets.
//! Every figure is exact: the kept ones count requesters as recorded on the tickets, and each
//! merged group's members are read and replaced by the group ([`super::merges`]).

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::merges::Merges;
use super::sums::Sums;
use super::top_requesters::{named_top, TOP};
use crate::read_models::requesters::RequesterStats;
use crate::read_models::tickets::tally;

/// The all-time requester figures; `sums` holds the `all` grain's rows.
pub(super) async fn requester_stats(
    conn: &mut PgConnection,
    sums: &Sums,
) -> Result<RequesterStats, sqlx::Error> {
    let merges = Merges::read(conn).await?;
    let members = merges.group_members();
    let grouped: HashMap<Uuid, i64> = if members.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as(
            "SELECT requester_id, tickets FROM requester_counts WHERE requester_id = ANY($1)",
        )
        .bind(&members)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    };
    let (regrouped_unique, regrouped_recurring) = merges.regrouped(&grouped);
    let unique = sums.get(tally::REQUESTERS, "").0 + regrouped_unique;
    let recurring = sums.get(tally::RECURRING_REQUESTERS, "").0 + regrouped_recurring;

    // Everyone outside the groups with as many tickets as the tenth of them, or more: whoever
    // ties with the tenth of all, groups included, is among them.
    let mut people: HashMap<Uuid, i64> = sqlx::query_as(
        "SELECT requester_id, tickets FROM requester_counts
         WHERE NOT requester_id = ANY($1)
           AND tickets >= coalesce((SELECT tickets FROM requester_counts
                                    WHERE NOT requester_id = ANY($1)
                                    ORDER BY tickets DESC OFFSET $2 LIMIT 1), 1)",
    )
    .bind(&members)
    .bind(TOP as i64 - 1)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    people.extend(merges.sum(&grouped));
    let top = named_top(conn, people, None, None).await?;
    Ok(RequesterStats {
        unique,
        recurring,
        top,
    })
}
