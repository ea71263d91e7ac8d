//! Custom field definitions (CONTRACT 10) as events: each field has a stream of its own in the
//! event log (`field.defined`, then `field.updated` per change, each carrying the whole
//! definition), so definitions are covered by a hash chain, in the feed and on NATS like
//! everything else. `field_definitions` is their projection, one row per event (a version is
//! its event's `seq`, `recorded_at` its `time`), written in the transaction that appends the
//! event (so a definition is in force once `POST /fields` answers) and rebuilt from the events
//! by [`rebuild`]. A view `as_of` an instant reads the definitions of that instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use ticket_nats::envelope::Actor;
use ticket_nats::field_events::{FieldDefinitionData, FieldEvent};
use ticket_nats::Envelope;
use uuid::Uuid;

use crate::domain::fields::{FieldDefinition, FieldType};
use crate::store::user_stream::{append_to_stream, Recorder};

pub use ticket_nats::field_events::FIELD_AGGREGATE;

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

const IN_FORCE: &str = "SELECT DISTINCT ON (key) key, version, label, type, options,
                               required_on_create, visible_to_requester
                        FROM field_definitions
                        WHERE $1::timestamptz IS NULL OR recorded_at <= $1
                        ORDER BY key, version DESC";

/// Every field's current definition, by key.
pub async fn current(pool: &PgPool) -> Result<BTreeMap<String, Stored>, sqlx::Error> {
    in_force_at(pool, None).await
}

/// Every field's definition in force at `at` (the latest recorded by then; now when `None`),
/// by key: a field defined later is absent.
pub async fn in_force_at(
    pool: &PgPool,
    at: Option<DateTime<Utc>>,
) -> Result<BTreeMap<String, Stored>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(IN_FORCE).bind(at).fetch_all(pool).await?;
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

/// The event data of a definition.
pub fn event_data(definition: &FieldDefinition) -> FieldDefinitionData {
    FieldDefinitionData {
        key: definition.key.clone(),
        label: definition.label.clone(),
        kind: definition.kind.as_str().to_string(),
        options: definition.options.clone(),
        required_for: if definition.required_on_create {
            vec!["create".to_string()]
        } else {
            Vec::new()
        },
        visible_to_requester: definition.visible_to_requester,
    }
}

/// Records `definition` as the next version of its key (the first when new): appends its
/// event to the field's stream and projects it, in one transaction.
pub async fn define(
    pool: &PgPool,
    definition: FieldDefinition,
    recorder: &Recorder,
) -> Result<Stored, DefineError> {
    let mut tx = pool.begin().await?;
    // One writer per key at a time, so that the type check holds.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('field_definitions:' || $1))")
        .bind(&definition.key)
        .execute(&mut *tx)
        .await?;
    let last: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT type, field_id FROM field_definitions WHERE key = $1
         ORDER BY version DESC LIMIT 1",
    )
    .bind(&definition.key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((kind, _)) = &last {
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
    let data = event_data(&definition);
    let (field_id, event) = match last {
        Some((_, Some(id))) => (id, FieldEvent::Updated(data)),
        // A key recorded before definitions were events, not yet given its stream: a new one.
        Some((_, None)) => (Uuid::now_v7(), FieldEvent::Updated(data)),
        None => (Uuid::now_v7(), FieldEvent::Defined(data)),
    };
    let envelope = append_to_stream(
        &mut tx,
        recorder,
        FIELD_AGGREGATE,
        field_id,
        event.event_type(),
        event.data(),
        ticket_nats::Timestamp::now(),
    )
    .await?;
    let version = project(&mut tx, &envelope).await?;
    tx.commit().await?;
    Ok(Stored {
        definition,
        version,
    })
}

/// Applies one field event to `field_definitions` (the table `search_path` finds): the row of
/// its version. Returns that version. The one place a definition event becomes a row.
pub async fn project(conn: &mut PgConnection, envelope: &Envelope) -> Result<i32, sqlx::Error> {
    let event = FieldEvent::from_data(&envelope.event_type, &envelope.data).map_err(|e| {
        sqlx::Error::Decode(format!("field event {} cannot be typed: {e}", envelope.id).into())
    })?;
    let field_id = Uuid::parse_str(&envelope.subject).map_err(|e| {
        sqlx::Error::Decode(format!("field event {} names no field id: {e}", envelope.id).into())
    })?;
    let version = i32::try_from(envelope.seq)
        .map_err(|e| sqlx::Error::Decode(format!("field event {}: {e}", envelope.id).into()))?;
    let d = event.definition();
    sqlx::query(
        "INSERT INTO field_definitions (key, version, label, type, options, required_on_create,
                                        visible_to_requester, recorded_at, recorded_by, field_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&d.key)
    .bind(version)
    .bind(&d.label)
    .bind(&d.kind)
    .bind(&d.options)
    .bind(d.required_for.iter().any(|r| r == "create"))
    .bind(d.visible_to_requester)
    .bind(envelope.time.as_datetime())
    .bind(Uuid::parse_str(&envelope.actorid).ok())
    .bind(field_id)
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

/// Rebuilds `field_definitions` from the field streams' events, in one transaction: readers
/// see the old rows until it commits, and a definition recorded meanwhile waits for it.
/// Returns the number of events applied.
pub async fn rebuild(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE field_definitions IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM field_definitions")
        .execute(&mut *tx)
        .await?;
    let rows: Vec<(String, i64, String, serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, event_type, payload, metadata FROM events
         WHERE aggregate_type = $1 ORDER BY aggregate_id, sequence",
    )
    .bind(FIELD_AGGREGATE)
    .fetch_all(&mut *tx)
    .await?;
    let applied = rows.len();
    for (aggregate_id, sequence, event_type, payload, metadata) in rows {
        let envelope = ticket_projections::stored::RawEvent {
            aggregate_id,
            sequence,
            event_type,
            payload,
            metadata,
            position: None,
        }
        .into_envelope()
        .map_err(|e| sqlx::Error::Decode(format!("a field event cannot be read: {e}").into()))?;
        project(&mut tx, &envelope).await?;
    }
    tx.commit().await?;
    tracing::info!(events = applied, "field definitions rebuilt");
    Ok(applied)
}

/// Gives every definition recorded before definitions were events (`field_id` unset) its
/// events, in version order, each with the time and author it was recorded with. Run when
/// migrations are applied; does nothing once every row has its stream.
pub async fn record_unrecorded(pool: &PgPool, source: &str) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE field_definitions IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    #[derive(sqlx::FromRow)]
    struct Unrecorded {
        #[sqlx(flatten)]
        row: Row,
        recorded_at: DateTime<Utc>,
        recorded_by: Option<Uuid>,
        recorded_by_name: Option<String>,
    }
    let rows: Vec<Unrecorded> = sqlx::query_as(
        "SELECT d.key, d.version, d.label, d.type, d.options, d.required_on_create,
                d.visible_to_requester, d.recorded_at, d.recorded_by, u.name AS recorded_by_name
         FROM field_definitions d LEFT JOIN users u ON u.id = d.recorded_by
         WHERE d.field_id IS NULL ORDER BY d.key, d.version",
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut streams: BTreeMap<String, Uuid> = BTreeMap::new();
    let recorded = rows.len();
    for unrecorded in rows {
        let Some(stored) = unrecorded.row.into_stored() else {
            continue;
        };
        let key = stored.definition.key.clone();
        let first = !streams.contains_key(&key);
        let field_id = *streams.entry(key.clone()).or_insert_with(Uuid::now_v7);
        let data = event_data(&stored.definition);
        let event = if first {
            FieldEvent::Defined(data)
        } else {
            FieldEvent::Updated(data)
        };
        let recorder = Recorder {
            source: source.to_string(),
            actor: match unrecorded.recorded_by {
                Some(id) => Actor {
                    id: id.to_string(),
                    name: unrecorded.recorded_by_name.unwrap_or_default(),
                    role: "admin".into(),
                },
                None => Recorder::system(source).actor,
            },
            correlation_id: Uuid::now_v7().to_string(),
        };
        let envelope = append_to_stream(
            &mut tx,
            &recorder,
            FIELD_AGGREGATE,
            field_id,
            event.event_type(),
            event.data(),
            unrecorded.recorded_at.into(),
        )
        .await?;
        // The stream numbers versions from 1, densely, as the table did.
        sqlx::query(
            "UPDATE field_definitions SET field_id = $1, version = $2
             WHERE key = $3 AND version = $4",
        )
        .bind(field_id)
        .bind(i32::try_from(envelope.seq).unwrap_or(i32::MAX))
        .bind(&key)
        .bind(stored.version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        definitions = recorded,
        "field definitions recorded as events"
    );
    Ok(recorded)
}
