//! The Kanban board grouped by a `select` field: beside the usual columns, the same columns once
//! per option of the field (in the definition's order), then once for the tickets without a
//! value, every board filter applying to each group.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::board::{board_in, Board, BoardQuery, Column, GroupValue};
use super::query::{snapshot, MergedInto, Viewer};
use super::tickets::list::{push_filters, ListFilter};

/// One value's columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardGroup {
    /// The option, or `null` for the tickets without a value.
    pub value: Option<String>,
    /// One column per status, as the board's own.
    pub columns: Vec<Column>,
}

/// The groups of a `select` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardGroups {
    /// `field.<key>`, as asked.
    pub by: String,
    /// One per option, in the definition's order (empty ones included), then one per value no
    /// longer among the options, then one for no value.
    pub groups: Vec<BoardGroup>,
}

/// The board under `query`'s filters and, beside it, its groups by field `key`, whose options
/// are `options`; all from one snapshot, so that the groups add up to the board.
pub async fn grouped_board(
    pool: &PgPool,
    query: &BoardQuery,
    viewer: Viewer,
    key: &str,
    options: &[String],
) -> Result<(Board, BoardGroups), sqlx::Error> {
    let mut tx = snapshot(pool).await?;
    let board = board_in(&mut tx, query, viewer, None).await?;

    // A value left over from an option since removed still gets its own group.
    let mut present = QueryBuilder::<Postgres>::new("SELECT DISTINCT v.fields->>");
    present
        .push_bind(key.to_string())
        .push(" FROM ticket_view v WHERE v.fields ? ")
        .push_bind(key.to_string());
    let filter = ListFilter {
        assignee_id: query.assignee_id,
        team_id: query.team_id,
        categories: query.category.iter().cloned().collect(),
        tags: query.tag.iter().cloned().collect(),
        ..ListFilter::default()
    };
    push_filters(&mut present, &filter, viewer, &MergedInto::default());
    let present: Vec<(Option<String>,)> = present.build_query_as().fetch_all(&mut *tx).await?;
    let mut values: Vec<Option<String>> = options.iter().cloned().map(Some).collect();
    let mut leftovers: Vec<Option<String>> = present
        .into_iter()
        .map(|(v,)| v)
        .filter(|v| v.is_some() && !values.contains(v))
        .collect();
    leftovers.sort();
    values.extend(leftovers);
    values.push(None);

    let mut groups = Vec::with_capacity(values.len());
    for value in values {
        let group = GroupValue {
            key,
            value: value.as_deref(),
        };
        let columns = board_in(&mut tx, query, viewer, Some(&group))
            .await?
            .columns;
        groups.push(BoardGroup { value, columns });
    }
    tx.commit().await?;
    Ok((
        board,
        BoardGroups {
            by: format!("field.{key}"),
            groups,
        },
    ))
}
