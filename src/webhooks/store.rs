//! Webhook endpoints and their deliveries in Postgres, as the API manages and reads them.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::{PgPool, Row};
use ticket_nats::Timestamp;
use ticket_projections::stored::head_position;
use utoipa::ToSchema;
use uuid::Uuid;

/// An endpoint as the API shows it (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    /// Id.
    pub id: Uuid,
    /// Where events are posted.
    pub url: String,
    /// The event types delivered, or `["*"]` for all.
    pub event_types: Vec<String>,
    /// What the endpoint is for.
    pub description: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why the engine disabled it, when it did.
    pub disabled_reason: Option<String>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    /// The event id, sent as `webhook-id`.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The event's position in the log (the `after` cursor of the listing).
    pub position: i64,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the last attempt, when one answered.
    pub last_status_code: Option<i32>,
    /// What went wrong with the last attempt.
    pub last_error: Option<String>,
    /// When the last attempt was made.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Timestamp>,
    /// When the next attempt is due (pending deliveries only).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
}

/// What a PATCH may change.
#[derive(Debug, Default)]
pub struct Changes {
    /// A new URL (already checked).
    pub url: Option<String>,
    /// New event types (already checked).
    pub event_types: Option<Vec<String>>,
    /// A new description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// `Some(true)` enables, `Some(false)` disables.
    pub enabled: Option<bool>,
}

const COLUMNS: &str = "id, url, event_types, description, status, disabled_reason, created_at";

fn webhook(row: &sqlx::postgres::PgRow) -> Result<Webhook, sqlx::Error> {
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        event_types: row.try_get("event_types")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?.into(),
    })
}

/// Stores a new endpoint that receives the events committed after this transaction: those
/// positioned after the current head, but for transactions already committed that the sequencer
/// has not positioned yet (the snapshot tells them apart).
pub async fn create(
    pool: &PgPool,
    url: &str,
    event_types: &[String],
    description: Option<&str>,
    secret: &SecretString,
) -> Result<Webhook, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let head = head_position(&mut *tx).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO webhooks (id, url, event_types, description, secret, position, created_snapshot)
         VALUES ($1, $2, $3, $4, $5, $6, pg_current_snapshot()) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(url)
    .bind(event_types)
    .bind(description)
    .bind(secret.expose_secret())
    .bind(head)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    webhook(&row)
}

/// Every endpoint, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?
    .iter()
    .map(webhook)
    .collect()
}

/// One endpoint.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Webhook>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(webhook)
        .transpose()
}

/// Applies `changes`; `None` when there is no such endpoint. Enabling clears the reason and
/// the failure clock and makes waiting deliveries due now: delivery resumes where it stopped
/// (the checkpoint did not move while disabled).
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    changes: &Changes,
) -> Result<Option<Webhook>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(&format!(
        "UPDATE webhooks SET
            url = coalesce($2, url),
            event_types = coalesce($3, event_types),
            description = CASE WHEN $4 THEN $5 ELSE description END,
            status = CASE $6::boolean WHEN true THEN 'enabled' WHEN false THEN 'disabled' ELSE status END,
            disabled_reason = CASE WHEN $6::boolean IS NULL THEN disabled_reason ELSE NULL END,
            failing_since = CASE WHEN $6::boolean THEN NULL ELSE failing_since END,
            updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(changes.url.as_deref())
    .bind(changes.event_types.as_deref())
    .bind(changes.description.is_some())
    .bind(changes.description.clone().flatten())
    .bind(changes.enabled)
    .fetch_optional(&mut *tx)
    .await?;
    if changes.enabled == Some(true) && row.is_some() {
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = now()
             WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at > now()",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    row.as_ref().map(webhook).transpose()
}

/// Deletes an endpoint and its deliveries; `false` when there was none.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// An endpoint's deliveries in position order after `after`, optionally of one status.
pub async fn deliveries(
    pool: &PgPool,
    id: Uuid,
    status: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT event_id, event_type, position, status, attempts, last_status_code, last_error,
                last_attempt_at, next_attempt_at
         FROM webhook_deliveries
         WHERE webhook_id = $1 AND position > $2 AND ($3::text IS NULL OR status = $3)
         ORDER BY position LIMIT $4",
    )
    .bind(id)
    .bind(after)
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let time = |name: &str| -> Result<Option<Timestamp>, sqlx::Error> {
                Ok(row
                    .try_get::<Option<DateTime<Utc>>, _>(name)?
                    .map(Timestamp::from))
            };
            Ok(Delivery {
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                position: row.try_get("position")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                last_status_code: row.try_get("last_status_code")?,
                last_error: row.try_get("last_error")?,
                last_attempt_at: time("last_attempt_at")?,
                next_attempt_at: time("next_attempt_at")?,
            })
        })
        .collect()
}

/// Schedules again, as new pending deliveries with their original ids, the matching events
/// after `after` up to the endpoint's checkpoint (those beyond it are delivered anyway); `None`
/// when there is no such endpoint, else how many were scheduled.
pub async fn replay(pool: &PgPool, id: Uuid, after: i64) -> Result<Option<u64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let endpoint: Option<(i64, Vec<String>)> =
        sqlx::query_as("SELECT position, event_types FROM webhooks WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((checkpoint, types)) = endpoint else {
        return Ok(None);
    };
    let replayed = sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, position, event_id, event_type, next_attempt_at)
         SELECT $1, position, aggregate_id || ':' || sequence, event_type, now()
         FROM events
         WHERE position > $2 AND position <= $3 AND ('*' = ANY($4) OR event_type = ANY($4))
         ON CONFLICT (webhook_id, position) DO UPDATE SET
            status = 'pending', attempts = 0, last_status_code = NULL, last_error = NULL,
            next_attempt_at = now()",
    )
    .bind(id)
    .bind(after)
    .bind(checkpoint)
    .bind(&types)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(replayed))
}

/// How far one endpoint trails, as `/readyz` and `/metrics` report it.
#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    /// The endpoint.
    pub id: Uuid,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Deliveries not yet made (pending, including retries).
    pub pending: i64,
    /// Events positioned after the endpoint's checkpoint (not yet looked at; of every type).
    pub unread: i64,
    /// Whether its last attempt failed and none has succeeded since.
    pub failing: bool,
}

/// Every endpoint's backlog.
pub async fn backlogs(pool: &PgPool) -> Result<Vec<Backlog>, sqlx::Error> {
    let head = head_position(pool).await?;
    let rows = sqlx::query(
        "SELECT w.id, w.status, w.position, w.failing_since IS NOT NULL AS failing,
                (SELECT count(*) FROM webhook_deliveries d
                 WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending
         FROM webhooks w ORDER BY w.created_at, w.id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            Ok(Backlog {
                id: row.try_get("id")?,
                status: row.try_get("status")?,
                pending: row.try_get("pending")?,
                unread: (head - position).max(0),
                failing: row.try_get("failing")?,
            })
        })
        .collect()
}
