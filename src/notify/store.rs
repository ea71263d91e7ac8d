//! Notification channels in Postgres, as the API manages them (never showing their secrets).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Row};
use ticket_nats::Timestamp;
use utoipa::ToSchema;
use uuid::Uuid;

/// A channel as the API shows it: its secret (bot token, webhook URL) is never here.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = NotificationChannel)]
pub struct Channel {
    /// Id (what a rule's `notify` names).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `email`, `telegram` or `slack`.
    pub kind: String,
    /// The configuration without its secret: email `{to}` or `{to_role}`; telegram
    /// `{chat_id}`; slack `{}`.
    #[schema(value_type = Object)]
    pub config: Value,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// What a PATCH may change.
#[derive(Debug, Default)]
pub struct Changes {
    /// A new name.
    pub name: Option<String>,
    /// A new public configuration.
    pub config: Option<Value>,
    /// A new secret.
    pub secret: Option<String>,
}

const COLUMNS: &str = "id, name, kind, config, created_at, updated_at";

fn channel(row: &sqlx::postgres::PgRow) -> Result<Channel, sqlx::Error> {
    Ok(Channel {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        config: row.try_get("config")?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?.into(),
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?.into(),
    })
}

/// Adds a channel.
pub async fn create(
    pool: &PgPool,
    name: &str,
    kind: &str,
    config: &Value,
    secret: Option<&str>,
) -> Result<Channel, sqlx::Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO notification_channels (id, name, kind, config, secret)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(kind)
    .bind(config)
    .bind(secret)
    .fetch_one(pool)
    .await?;
    channel(&row)
}

/// Every channel, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Channel>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_channels ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(channel).collect()
}

/// One channel.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Channel>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(channel).transpose()
}

/// Applies `changes`; `None` when there is no such channel.
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    changes: &Changes,
) -> Result<Option<Channel>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "UPDATE notification_channels SET name = coalesce($2, name),
                config = coalesce($3, config), secret = coalesce($4, secret), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&changes.name)
    .bind(&changes.config)
    .bind(&changes.secret)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(channel).transpose()
}

/// Removes a channel and its notifications; answers whether there was one.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM notification_channels WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
