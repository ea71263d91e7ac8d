//! The Kanban board, served from `ticket_view` through its `(status, priority_rank DESC,
//! created_at, ticket_id)` index: one column per status, urgent first, then oldest first. The
//! columns' counts come from the counts the ticket view projection keeps by assignee, status
//! and category (`ticket_totals`, see [`super::tickets::tally`]), not from counting tickets.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use ticket_nats::{Channel, Priority, Status, Timestamp};
use uuid::Uuid;

use super::query::{snapshot, MergedInto, Viewer};
use super::tickets::dto::Person;
use super::tickets::list::{push_filters, ListFilter, ListRow, LIST_COLUMNS};
use super::tickets::tally::{self, parse_board_key};

/// The SLA as a card shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSla {
    /// When the resolution is due.
    pub resolution_due: Timestamp,
    /// The resolution target was missed.
    pub resolution_breached: bool,
}

/// One ticket on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// The ticket's id.
    pub id: Uuid,
    /// The short number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Priority.
    pub priority: Priority,
    /// Category.
    pub category: String,
    /// Where the ticket came from.
    pub channel: Channel,
    /// Who the ticket is for.
    pub requester: Person,
    /// Who works on it.
    pub assignee: Option<Person>,
    /// Time of creation.
    pub created_at: Timestamp,
    /// Resolution due time and breach.
    pub sla: CardSla,
}

/// One status column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// The status.
    pub status: Status,
    /// How many tickets the column holds under the filters (not only the cards shown).
    pub count: i64,
    /// The first cards, urgent first, then oldest first.
    pub cards: Vec<Card>,
}

/// `GET /board`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    /// One column per status, in the order asked for.
    pub columns: Vec<Column>,
}

/// What the board shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardQuery {
    /// The columns, in order (every status).
    pub statuses: Vec<Status>,
    /// Only tickets assigned to this user.
    pub assignee_id: Option<Uuid>,
    /// Only tickets given to this team.
    pub team_id: Option<Uuid>,
    /// Only tickets of this category.
    pub category: Option<String>,
    /// Only tickets carrying this tag.
    pub tag: Option<String>,
    /// Cards per column at most.
    pub limit_per_column: i64,
}

/// One value of the field the board is grouped by: `None` for the tickets without a value.
pub(crate) struct GroupValue<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: Option<&'a str>,
}

fn push_columns_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    query: &BoardQuery,
    viewer: Viewer,
    group: Option<&GroupValue<'_>>,
) {
    let filter = ListFilter {
        assignee_id: query.assignee_id,
        team_id: query.team_id,
        categories: query.category.iter().cloned().collect(),
        tags: query.tag.iter().cloned().collect(),
        ..ListFilter::default()
    };
    push_filters(qb, &filter, viewer, &MergedInto::default());
    match group {
        // Containment, which the GIN index on `field_values` serves, as the list filter does.
        Some(GroupValue {
            key,
            value: Some(value),
        }) => {
            qb.push(" AND v.field_values @> ARRAY[")
                .push_bind(format!("{key}={value}"))
                .push("]::text[]");
        }
        Some(GroupValue { key, value: None }) => {
            qb.push(" AND NOT v.fields ? ").push_bind(key.to_string());
        }
        None => {}
    }
}

/// Every ticket's count by status under `query`'s filters, summed from the kept counts.
async fn kept_counts(
    tx: &mut sqlx::PgConnection,
    query: &BoardQuery,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT key, n FROM ticket_totals WHERE metric = $1")
            .bind(tally::BOARD)
            .fetch_all(&mut *tx)
            .await?;
    let mut counts: Vec<(String, i64)> = Vec::new();
    for (key, n) in rows {
        let Some((assignee, status, category)) = parse_board_key(&key) else {
            continue;
        };
        if query.assignee_id.is_some_and(|id| assignee != Some(id))
            || query.category.as_deref().is_some_and(|c| c != category)
        {
            continue;
        }
        match counts.iter_mut().find(|(s, _)| s == status) {
            Some((_, total)) => *total += n,
            None => counts.push((status.to_string(), n)),
        }
    }
    Ok(counts)
}

/// The board under `query`'s filters.
pub async fn board(
    pool: &PgPool,
    query: &BoardQuery,
    viewer: Viewer,
) -> Result<Board, sqlx::Error> {
    // Counts and cards from one snapshot, so that a count never disagrees with its cards.
    let mut tx = snapshot(pool).await?;
    let board = board_in(&mut tx, query, viewer, None).await?;
    tx.commit().await?;
    Ok(board)
}

/// The board's columns in `tx`, of one group's tickets only when `group` is given.
pub(crate) async fn board_in(
    tx: &mut sqlx::PgConnection,
    query: &BoardQuery,
    viewer: Viewer,
    group: Option<&GroupValue<'_>>,
) -> Result<Board, sqlx::Error> {
    // The kept counts are by assignee, status and category only: a team, tag or field filter
    // counts tickets, through the view's team index or the GIN index on `tags`.
    let kept = viewer.reads_everything
        && query.team_id.is_none()
        && query.tag.is_none()
        && group.is_none();
    let counts = if kept {
        kept_counts(&mut *tx, query).await?
    } else {
        // A requester's own tickets are few; the kept counts are of everyone's.
        let mut counts =
            QueryBuilder::new("SELECT v.status, count(*) FROM ticket_view v WHERE true");
        push_columns_filters(&mut counts, query, viewer, group);
        counts.push(" GROUP BY v.status");
        counts.build_query_as().fetch_all(&mut *tx).await?
    };

    // One index range scan per column, each stopping after `limit_per_column` cards.
    let mut cards = QueryBuilder::new("SELECT c.* FROM UNNEST(");
    cards
        .push_bind(
            query
                .statuses
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[]) WITH ORDINALITY AS s(status, ord) CROSS JOIN LATERAL (SELECT ")
        .push(LIST_COLUMNS)
        .push(" FROM ticket_view v WHERE v.status = s.status");
    push_columns_filters(&mut cards, query, viewer, group);
    cards
        .push(" ORDER BY v.priority_rank DESC, v.created_at, v.ticket_id LIMIT ")
        .push_bind(query.limit_per_column)
        .push(") c ORDER BY s.ord, c.priority_rank DESC, c.created_at, c.ticket_id");
    let rows: Vec<ListRow> = cards.build_query_as().fetch_all(&mut *tx).await?;

    let now = Utc::now();
    let mut columns: Vec<Column> = query
        .statuses
        .iter()
        .map(|&status| Column {
            status,
            count: counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n),
            cards: Vec::new(),
        })
        .collect();
    for row in rows {
        let Some(column) = columns.iter_mut().find(|c| c.status == row.status) else {
            continue;
        };
        let sla = row.sla(now);
        column.cards.push(Card {
            requester: row.requester(),
            assignee: row.assignee(),
            id: row.ticket_id,
            number: row.number,
            title: row.title,
            priority: row.priority,
            category: row.category,
            channel: row.channel,
            created_at: row.created_at.into(),
            sla: CardSla {
                resolution_due: sla.resolution_due,
                resolution_breached: sla.resolution_breached,
            },
        });
    }
    Ok(Board { columns })
}
