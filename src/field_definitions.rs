//! Custom field definitions (CONTRACT 10), stored versioned: a change adds the next version of
//! a key and leaves the earlier ones as they were, so that a view `as_of` an instant reads the
//! definitions of that instant.

use std::collections::BTreeMap;

use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::domain::fields::{FieldDefinition, FieldType};

/// A stored version of a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The definition.
    pub definition: FieldDefinition,
    /// 1 for the first, then up by one per change.
    pub version: i32,
}

#[derive(sqlx::FromRow)]
struct Row {
    key: String,
    version: i32,
    label: String,
    #[sqlx(rename = "type")]
    kind: String,
    options: Vec<String>,
    required_on_create: bool,
    visible_to_requester: bool,
}

impl Row {
    /// `None` for a type this build does not know (the table's check keeps it from happening).
    fn into_stored(self) -> Option<Stored> {
        let kind =
            serde_json::from_value::<FieldType>(serde_json::Value::String(self.kind)).ok()?;
        Some(Stored {
            definition: FieldDefinition {
                key: self.key,
                label: self.label,
                kind,
                options: self.options,
                required_on_create: self.required_on_create,
                visible_to_requester: self.visible_to_requester,
            },
            version: self.version,
        })
    }
}

const CURRENT: &str = "SELECT DISTINCT ON (key) key, version, label, type, options,
                              required_on_create, visible_to_requester
                       FROM field_definitions ORDER BY key, version DESC";

/// Every field's current definition, by key.
pub async fn current(pool: &PgPool) -> Result<BTreeMap<String, Stored>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(CURRENT).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(Row::into_stored)
        .map(|s| (s.definition.key.clone(), s))
        .collect())
}

/// Every field's current definition, by key, without versions (what values are checked against).
pub async fn current_definitions(
    pool: &PgPool,
) -> Result<BTreeMap<String, FieldDefinition>, sqlx::Error> {
    Ok(current(pool)
        .await?
        .into_iter()
        .map(|(k, s)| (k, s.definition))
        .collect())
}

/// Why a definition was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DefineError {
    /// A field's type never changes: stored values would stop meaning what they meant.
    #[error("field {key} is a {was} field; its type cannot change")]
    TypeChange {
        /// The key.
        key: String,
        /// Its type so far.
        was: &'static str,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Records `definition` as the next version of its key (the first when new).
pub async fn define(
    pool: &PgPool,
    definition: FieldDefinition,
    by: Uuid,
) -> Result<Stored, DefineError> {
    let mut tx = pool.begin().await?;
    // One writer per key at a time, so that versions are dense and the type check holds.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('field_definitions:' || $1))")
        .bind(&definition.key)
        .execute(&mut *tx)
        .await?;
    let last: Option<(i32, String)> = sqlx::query_as(
        "SELECT version, type FROM field_definitions WHERE key = $1
         ORDER BY version DESC LIMIT 1",
    )
    .bind(&definition.key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((_, kind)) = &last {
        if kind != definition.kind.as_str() {
            let was = serde_json::from_value::<FieldType>(serde_json::Value::String(kind.clone()))
                .map(FieldType::as_str)
                .unwrap_or("different");
            return Err(DefineError::TypeChange {
                key: definition.key,
                was,
            });
        }
    }
    let version = last.map_or(1, |(v, _)| v + 1);
    sqlx::query::<Postgres>(
        "INSERT INTO field_definitions (key, version, label, type, options, required_on_create,
                                        visible_to_requester, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&definition.key)
    .bind(version)
    .bind(&definition.label)
    .bind(definition.kind.as_str())
    .bind(&definition.options)
    .bind(definition.required_on_create)
    .bind(definition.visible_to_requester)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stored {
        definition,
        version,
    })
}
