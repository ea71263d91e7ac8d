//! The sort orders of the lists, their keys and the cursors of keyset pagination.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::read_models::cursor::{Cursor, InvalidCursor};

/// Sort orders of the list. Every order ends with the ticket id, so that keys are unique and
/// keyset pagination neither skips nor repeats a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// `created_at`: oldest first.
    CreatedAt,
    /// `-created_at` (the default): newest first.
    #[default]
    CreatedAtDesc,
    /// `updated_at`: least recently changed first.
    UpdatedAt,
    /// `-updated_at`: most recently changed first.
    UpdatedAtDesc,
    /// `priority`: low first, then oldest first.
    Priority,
    /// `-priority`: urgent first, then oldest first (as on the board).
    PriorityDesc,
    /// `number`: ascending.
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Created,
    Updated,
    Rank,
    Number,
    Id,
    /// The id as `ticket_recency` holds it: the tie-breaker of the `updated_at` orders, so
    /// that a keyset compares columns of one index.
    RecencyId,
    /// `created_at` and the id as `ticket_search` holds them: the creation orders of a search,
    /// so that the matches are ordered before any `ticket_view` row is read (see [`list`]).
    SearchCreated,
    /// See [`Key::SearchCreated`].
    SearchId,
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::Created => "v.created_at",
            // `ticket_recency`'s copy, which carries the index (see `Sort::by_recency`).
            Key::Updated => "r.updated_at",
            Key::Rank => "v.priority_rank",
            Key::Number => "v.number",
            Key::Id => "v.ticket_id",
            Key::RecencyId => "r.ticket_id",
            Key::SearchCreated => "s.created_at",
            Key::SearchId => "s.ticket_id",
        }
    }

    /// The same key read from `ticket_search` where it holds it.
    fn on_search(self) -> Self {
        match self {
            Key::Created => Key::SearchCreated,
            Key::Id => Key::SearchId,
            other => other,
        }
    }

    fn value_of(self, row: &RowKey) -> KeyValue {
        match self {
            Key::Created | Key::SearchCreated => KeyValue::Time(row.created_at),
            Key::Updated => KeyValue::Time(row.updated_at),
            Key::Rank => KeyValue::Int(i64::from(row.priority_rank)),
            Key::Number => KeyValue::Int(row.number),
            Key::Id | Key::RecencyId | Key::SearchId => KeyValue::Id(row.ticket_id),
        }
    }

    fn parse(self, text: &str) -> Option<KeyValue> {
        match self {
            Key::Created | Key::Updated | Key::SearchCreated => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| KeyValue::Time(t.with_timezone(&Utc))),
            Key::Rank | Key::Number => text.parse().ok().map(KeyValue::Int),
            Key::Id | Key::RecencyId | Key::SearchId => {
                Uuid::parse_str(text).ok().map(KeyValue::Id)
            }
        }
    }
}

/// One value of a sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyValue {
    Time(DateTime<Utc>),
    Int(i64),
    Id(Uuid),
}

impl KeyValue {
    fn text(self) -> String {
        match self {
            // Microseconds: Postgres's precision, so that a key survives the round trip.
            KeyValue::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            KeyValue::Int(n) => n.to_string(),
            KeyValue::Id(id) => id.to_string(),
        }
    }

    fn push(self, qb: &mut QueryBuilder<'_, Postgres>) {
        match self {
            KeyValue::Time(t) => qb.push_bind(t),
            KeyValue::Int(n) => qb.push_bind(n),
            KeyValue::Id(id) => qb.push_bind(id),
        };
    }
}

/// What any order's key is made of, read from a row of the list.
pub(super) struct RowKey {
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) priority_rank: i16,
    pub(super) number: i64,
    pub(super) ticket_id: Uuid,
}

/// Where a page starts: after the row with this sort key (a checked cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After(Vec<KeyValue>);

impl Sort {
    /// Every order, as `sort` names them.
    pub const ALL: [Sort; 7] = [
        Sort::CreatedAt,
        Sort::CreatedAtDesc,
        Sort::UpdatedAt,
        Sort::UpdatedAtDesc,
        Sort::Priority,
        Sort::PriorityDesc,
        Sort::Number,
    ];

    /// The name of the order in `sort=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::CreatedAt => "created_at",
            Sort::CreatedAtDesc => "-created_at",
            Sort::UpdatedAt => "updated_at",
            Sort::UpdatedAtDesc => "-updated_at",
            Sort::Priority => "priority",
            Sort::PriorityDesc => "-priority",
            Sort::Number => "number",
        }
    }

    /// Whether the order is by `updated_at`, whose index is on `ticket_recency` (so that a
    /// comment, which changes only that of the indexed columns, updates `ticket_view` in place).
    pub(super) fn by_recency(self) -> bool {
        matches!(self, Sort::UpdatedAt | Sort::UpdatedAtDesc)
    }

    /// The sort key: columns and whether each is descending.
    fn keys(self) -> &'static [(Key, bool)] {
        match self {
            Sort::CreatedAt => &[(Key::Created, false), (Key::Id, false)],
            Sort::CreatedAtDesc => &[(Key::Created, true), (Key::Id, true)],
            Sort::UpdatedAt => &[(Key::Updated, false), (Key::RecencyId, false)],
            Sort::UpdatedAtDesc => &[(Key::Updated, true), (Key::RecencyId, true)],
            Sort::Priority => &[(Key::Rank, false), (Key::Created, false), (Key::Id, false)],
            Sort::PriorityDesc => &[(Key::Rank, true), (Key::Created, false), (Key::Id, false)],
            Sort::Number => &[(Key::Number, false), (Key::Id, false)],
        }
    }

    /// Reads a cursor of this order.
    pub fn after(self, cursor: &str) -> Result<After, InvalidCursor> {
        let cursor = Cursor::decode(cursor)?;
        let keys = self.keys();
        if cursor.sort != self.as_str() || cursor.key.len() != keys.len() {
            return Err(InvalidCursor);
        }
        keys.iter()
            .zip(&cursor.key)
            .map(|((key, _), text)| key.parse(text).ok_or(InvalidCursor))
            .collect::<Result<_, _>>()
            .map(After)
    }

    pub(super) fn cursor_of(self, row: &RowKey) -> String {
        Cursor {
            sort: self.as_str().to_string(),
            key: self
                .keys()
                .iter()
                .map(|(key, _)| key.value_of(row).text())
                .collect(),
        }
        .encode()
    }

    /// Whether a search in this order is driven by `ticket_search`: the creation orders, whose
    /// key that table holds too.
    pub(super) fn drives_search(self) -> bool {
        matches!(self, Sort::CreatedAt | Sort::CreatedAtDesc)
    }

    /// The sort key's columns, on `ticket_search` when `searched` and the order allows it.
    fn keys_on(self, searched: bool) -> Vec<(Key, bool)> {
        let on_search = searched && self.drives_search();
        self.keys()
            .iter()
            .map(|&(key, desc)| (if on_search { key.on_search() } else { key }, desc))
            .collect()
    }

    pub(super) fn push_order(self, qb: &mut QueryBuilder<'_, Postgres>, searched: bool) {
        let order = self
            .keys_on(searched)
            .iter()
            .map(|(key, desc)| format!("{} {}", key.column(), if *desc { "DESC" } else { "ASC" }))
            .collect::<Vec<_>>()
            .join(", ");
        qb.push(" ORDER BY ").push(order);
    }

    pub(super) fn push_after(
        self,
        qb: &mut QueryBuilder<'_, Postgres>,
        after: &After,
        searched: bool,
    ) {
        qb.push(" AND ");
        push_keyset(qb, &self.keys_on(searched), &after.0);
    }
}

/// `key > value` in the sort's order. A key in one direction is a row comparison, which an
/// index serves; a mixed one expands to `k1 > v1 OR (k1 = v1 AND rest)`.
fn push_keyset(qb: &mut QueryBuilder<'_, Postgres>, keys: &[(Key, bool)], values: &[KeyValue]) {
    let Some(((first, desc), (value, _))) = keys.first().zip(values.split_first()) else {
        qb.push("true");
        return;
    };
    let op = if *desc { " < " } else { " > " };
    if keys.iter().all(|(_, d)| d == desc) {
        let columns = keys.iter().map(|(k, _)| k.column()).collect::<Vec<_>>();
        qb.push("(")
            .push(columns.join(", "))
            .push(")")
            .push(op)
            .push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            v.push(qb);
        }
        qb.push(")");
        return;
    }
    qb.push("(").push(first.column()).push(op);
    value.push(qb);
    qb.push(" OR (").push(first.column()).push(" = ");
    value.push(qb);
    qb.push(" AND ");
    push_keyset(qb, &keys[1..], &values[1..]);
    qb.push("))");
}

impl FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|sort| sort.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("sort must be one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cursors_belong_to_their_sort_order() {
        let key = Cursor {
            sort: "-created_at".into(),
            key: vec![
                "2026-11-23T10:00:00.000001Z".into(),
                Uuid::nil().to_string(),
            ],
        }
        .encode();
        assert_eq!(
            Sort::CreatedAtDesc.after(&key),
            Ok(After(vec![
                KeyValue::Time(t("2026-11-23T10:00:00.000001Z")),
                KeyValue::Id(Uuid::nil())
            ]))
        );
        assert_eq!(Sort::UpdatedAtDesc.after(&key), Err(InvalidCursor));
        assert_eq!(Sort::Number.after(&key), Err(InvalidCursor));
        let bad = Cursor {
            sort: "number".into(),
            key: vec!["seven".into(), Uuid::nil().to_string()],
        }
        .encode();
        assert_eq!(Sort::Number.after(&bad), Err(InvalidCursor));
    }

    #[test]
    fn sort_names_round_trip() {
        for sort in Sort::ALL {
            assert_eq!(sort.as_str().parse::<Sort>(), Ok(sort));
        }
        assert!("-number".parse::<Sort>().is_err());
    }

    #[test]
    fn a_mixed_keyset_expands_and_a_uniform_one_compares_rows() {
        let mut qb = QueryBuilder::<Postgres>::new("");
        let values = [
            KeyValue::Int(4),
            KeyValue::Time(t("2026-11-23T10:00:00Z")),
            KeyValue::Id(Uuid::nil()),
        ];
        push_keyset(&mut qb, Sort::PriorityDesc.keys(), &values);
        assert_eq!(
            qb.sql(),
            "(v.priority_rank < $1 OR (v.priority_rank = $2 AND (v.created_at, v.ticket_id) > ($3, $4)))"
        );
    }
}
