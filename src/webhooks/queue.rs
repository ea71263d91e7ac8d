//! The deliverer's side of the tables: each endpoint's checkpoint over the event log, its due
//! deliveries, and the outcome of each attempt.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::{PgPool, Row};
use ticket_projections::stored::read_envelopes_at;
use uuid::Uuid;

/// An enabled endpoint as its worker sees it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Id.
    pub id: Uuid,
    /// Where to post.
    pub url: String,
    /// The signing secret.
    pub secret: SecretString,
    /// Changes whenever the endpoint does (its worker is restarted with the new values).
    pub updated_at: DateTime<Utc>,
}

/// A delivery due now.
#[derive(Debug, Clone)]
pub struct Due {
    /// The event's position.
    pub position: i64,
    /// The event id (`webhook-id`).
    pub event_id: String,
    /// Attempts already made.
    pub attempts: i32,
    /// The body to post (the envelope), read with the batch; `None` when the event is no longer
    /// in the log.
    pub body: Option<Result<Vec<u8>, String>>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong; `None` on success (a 2xx in time).
    pub error: Option<String>,
}

/// Every enabled endpoint.
pub async fn enabled(pool: &PgPool) -> Result<Vec<Endpoint>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, url, secret, updated_at FROM webhooks WHERE status = 'enabled' ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Endpoint {
                id: row.try_get("id")?,
                url: row.try_get("url")?,
                secret: SecretString::from(row.try_get::<String, _>("secret")?),
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Reads up to `batch` events after the endpoint's checkpoint, writes a pending delivery for
/// each matching one and moves the checkpoint past them, in one statement (so an event is never
/// skipped, nor scheduled twice). Answers how many events it read: `batch` means there may be
/// more. A disabled endpoint reads nothing.
pub async fn enqueue(pool: &PgPool, id: Uuid, batch: i64) -> Result<i64, sqlx::Error> {
    let read: Option<i64> = sqlx::query_scalar(
        "WITH w AS (
             SELECT position, event_types, created_snapshot FROM webhooks
             WHERE id = $1 AND status = 'enabled' FOR UPDATE
         ), batch AS (
             SELECT e.position, e.aggregate_id || ':' || e.sequence AS event_id, e.event_type,
                    e.transaction_id
             FROM events e
             WHERE e.position > (SELECT position FROM w)
             ORDER BY e.position LIMIT $2
         ), inserted AS (
             INSERT INTO webhook_deliveries (webhook_id, position, event_id, event_type, next_attempt_at)
             SELECT $1, b.position, b.event_id, b.event_type, now()
             FROM batch b, w
             WHERE ('*' = ANY(w.event_types) OR b.event_type = ANY(w.event_types))
               AND NOT pg_visible_in_snapshot(b.transaction_id, w.created_snapshot)
             ON CONFLICT (webhook_id, position) DO NOTHING
             RETURNING 1
         )
         UPDATE webhooks SET position = (SELECT max(position) FROM batch)
         WHERE id = $1 AND EXISTS (SELECT 1 FROM batch)
         RETURNING (SELECT count(*) FROM batch)",
    )
    .bind(id)
    .bind(batch)
    .fetch_optional(pool)
    .await?;
    Ok(read.unwrap_or(0))
}

/// Up to `limit` deliveries of the endpoint due now, oldest due first, but those at the
/// positions `sending` (attempts in flight).
pub async fn due(
    pool: &PgPool,
    id: Uuid,
    limit: i64,
    sending: &[i64],
) -> Result<Vec<Due>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT position, event_id, attempts FROM webhook_deliveries
         WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at <= now()
           AND position <> ALL($3)
         ORDER BY next_attempt_at, position LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .bind(sending)
    .fetch_all(pool)
    .await?;
    let mut due: Vec<Due> = rows
        .iter()
        .map(|row| {
            Ok(Due {
                position: row.try_get("position")?,
                event_id: row.try_get("event_id")?,
                attempts: row.try_get("attempts")?,
                body: None,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    if due.is_empty() {
        return Ok(due);
    }
    // The bodies of the whole batch in one query, rather than one per attempt.
    let positions: Vec<i64> = due.iter().map(|d| d.position).collect();
    let envelopes = read_envelopes_at(pool, &positions).await?;
    let mut bodies: HashMap<i64, (String, Result<Vec<u8>, String>)> = envelopes
        .into_iter()
        .map(|e| {
            let body = serde_json::to_vec(&e)
                .map_err(|error| format!("the event cannot be serialized: {error}"));
            (e.position, (e.id, body))
        })
        .collect();
    for d in &mut due {
        d.body = bodies
            .remove(&d.position)
            .filter(|(id, _)| *id == d.event_id)
            .map(|(_, body)| body);
    }
    Ok(due)
}

/// Records successful attempts (one statement for the lot: a success is the common case) and
/// ends the endpoint's failure clock.
pub async fn record_successes(
    pool: &PgPool,
    id: Uuid,
    positions: &[i64],
    statuses: &[Option<i32>],
) -> Result<(), sqlx::Error> {
    if positions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH done AS (
             SELECT * FROM UNNEST($2::bigint[], $3::int[]) AS d(position, status)
         ), delivered AS (
             UPDATE webhook_deliveries w SET status = 'succeeded', attempts = attempts + 1,
                 last_status_code = done.status, last_error = NULL, last_attempt_at = now(),
                 next_attempt_at = NULL
             FROM done WHERE w.webhook_id = $1 AND w.position = done.position
         )
         UPDATE webhooks SET failing_since = NULL
         WHERE id = $1 AND failing_since IS NOT NULL",
    )
    .bind(id)
    .bind(positions)
    .bind(statuses)
    .execute(pool)
    .await?;
    Ok(())
}

/// When the endpoint's next pending delivery (not in `sending`) is due, if it has one.
pub async fn next_due(
    pool: &PgPool,
    id: Uuid,
    sending: &[i64],
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(next_attempt_at) FROM webhook_deliveries
         WHERE webhook_id = $1 AND status = 'pending' AND position <> ALL($2)",
    )
    .bind(id)
    .bind(sending)
    .fetch_one(pool)
    .await
}

/// Records an attempt. A failure is retried after `retry_in`, or is final without one; it
/// starts the endpoint's failure clock, and an endpoint failing for `disable_after` is
/// disabled. Answers whether the endpoint is still enabled.
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    position: i64,
    attempt: &Attempt,
    retry_in: Option<Duration>,
    disable_after: Duration,
) -> Result<bool, sqlx::Error> {
    let status = attempt.status.map(i32::from);
    let Some(error) = &attempt.error else {
        // One statement: a success is the common case, and one round trip keeps it cheap.
        sqlx::query(
            "WITH delivered AS (
                 UPDATE webhook_deliveries SET status = 'succeeded', attempts = attempts + 1,
                     last_status_code = $3, last_error = NULL, last_attempt_at = now(),
                     next_attempt_at = NULL
                 WHERE webhook_id = $1 AND position = $2
             )
             UPDATE webhooks SET failing_since = NULL
             WHERE id = $1 AND failing_since IS NOT NULL",
        )
        .bind(id)
        .bind(position)
        .bind(status)
        .execute(pool)
        .await?;
        return Ok(true);
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET
             status = CASE WHEN $5::double precision IS NULL THEN 'failed' ELSE 'pending' END,
             attempts = attempts + 1, last_status_code = $3, last_error = $4,
             last_attempt_at = now(),
             next_attempt_at = now() + make_interval(secs => $5)
         WHERE webhook_id = $1 AND position = $2",
    )
    .bind(id)
    .bind(position)
    .bind(status)
    .bind(error)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(&mut *tx)
    .await?;
    let state: Option<String> = sqlx::query_scalar(
        "UPDATE webhooks SET
             failing_since = coalesce(failing_since, now()),
             status = CASE WHEN coalesce(failing_since, now()) <= now() - make_interval(secs => $2)
                           THEN 'disabled' ELSE status END,
             disabled_reason = CASE WHEN coalesce(failing_since, now()) <= now() - make_interval(secs => $2)
                           THEN format('failing since %s without a success; last error: %s',
                                       to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $3::text)
                           ELSE disabled_reason END,
             updated_at = CASE WHEN coalesce(failing_since, now()) <= now() - make_interval(secs => $2)
                           THEN now() ELSE updated_at END
         WHERE id = $1 RETURNING status",
    )
    .bind(id)
    .bind(disable_after.as_secs_f64())
    .bind(error)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    if state.as_deref() == Some("disabled") {
        tracing::warn!(webhook_id = %id, %error, "webhook endpoint disabled after failing too long");
    }
    Ok(state.as_deref() == Some("enabled"))
}
