//! `GET /stats?group_by=field.<key>`: the tickets of the window counted per value of a `select`
//! custom field, and per status within each. Counted over the window's tickets (the kept sums
//! are not by field), so its cost grows with the window's tickets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::answer::StatsQuery;
use super::window::WINDOW;

/// One value's tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldGroup {
    /// The option, or `null` for the tickets without a value.
    pub value: Option<String>,
    /// Tickets created in the window holding it.
    pub total: i64,
    /// By current status, every status present.
    pub by_status: BTreeMap<String, i64>,
}

/// The groups of a `select` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldGroups {
    /// `field.<key>`, as asked.
    pub by: String,
    /// One per option, in the definition's order (zero included), then one for no value.
    pub groups: Vec<FieldGroup>,
}

/// Counts the window's tickets (of `query.tag`, if any) per value of field `key`, whose options
/// are `options`; a value no longer among them is counted under its own name after them.
pub async fn field_groups(
    pool: &PgPool,
    query: &StatsQuery,
    key: &str,
    options: &[String],
) -> Result<FieldGroups, sqlx::Error> {
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(&format!(
        "SELECT v.fields->>$4, v.status, count(*) FROM ticket_view v
         WHERE {WINDOW} AND ($3::text IS NULL OR v.tags @> ARRAY[$3::text])
         GROUP BY 1, 2"
    ))
    .bind(query.from)
    .bind(query.to)
    .bind(query.tag.as_deref())
    .bind(key)
    .fetch_all(pool)
    .await?;
    let empty =
        || -> BTreeMap<String, i64> { query.statuses.iter().map(|s| (s.clone(), 0)).collect() };
    let mut groups: Vec<FieldGroup> = options
        .iter()
        .map(|o| Some(o.clone()))
        .chain(std::iter::once(None))
        .map(|value| FieldGroup {
            value,
            total: 0,
            by_status: empty(),
        })
        .collect();
    for (value, status, n) in rows {
        let at = match groups.iter().position(|g| g.value == value) {
            Some(at) => at,
            None => {
                groups.insert(
                    groups.len() - 1,
                    FieldGroup {
                        value: value.clone(),
                        total: 0,
                        by_status: empty(),
                    },
                );
                groups.len() - 2
            }
        };
        groups[at].total += n;
        *groups[at].by_status.entry(status).or_insert(0) += n;
    }
    Ok(FieldGroups {
        by: format!("field.{key}"),
        groups,
    })
}
