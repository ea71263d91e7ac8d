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

/// What [`enqueue`] read.
#[derive(Debug, Default)]
pub struct Enqueued {
    /// Events read: the batch size means there may be more.
    pub read: i64,
    /// The deliveries it wrote, due now, with their bodies: the worker may send them without
    /// looking for them again.
    pub fresh: Vec<Due>,
}

/// An attempt that failed, to be recorded with others by [`record_failures`].
#[derive(Debug, Clone)]
pub struct Failure {
    /// The delivery's position.
    pub position: i64,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    /// What went wrong.
    pub error: String,
    /// The pause before the next attempt; `None`: the delivery is `failed`.
    pub retry_in: Option<Duration>,
}

/// Reads up to `batch` events after the endpoint's checkpoint, writes a pending delivery for
/// each matching one and moves the checkpoint past them, in one statement (so an event is never
/// skipped, nor scheduled twice), then reads the new deliveries' bodies. A disabled endpoint
/// reads nothing.
pub async fn enqueue(pool: &PgPool, id: Uuid, batch: i64) -> Result<Enqueued, sqlx::Error> {
    let row = sqlx::query(
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
             RETURNING position, event_id
         ), moved AS (
             UPDATE webhooks SET position = (SELECT max(position) FROM batch)
             WHERE id = $1 AND EXISTS (SELECT 1 FROM batch)
         )
         SELECT (SELECT count(*) FROM batch) AS read,
                coalesce((SELECT array_agg(position ORDER BY position) FROM inserted), '{}')
                    AS positions,
                coalesce((SELECT array_agg(event_id ORDER BY position) FROM inserted), '{}')
                    AS event_ids",
    )
    .bind(id)
    .bind(batch)
    .fetch_one(pool)
    .await?;
    let positions: Vec<i64> = row.try_get("positions")?;
    let event_ids: Vec<String> = row.try_get("event_ids")?;
    let fresh = positions
        .into_iter()
        .zip(event_ids)
        .map(|(position, event_id)| Due {
            position,
            event_id,
            attempts: 0,
            body: None,
        })
        .collect();
    Ok(Enqueued {
        read: row.try_get("read")?,
        fresh: with_bodies(pool, fresh).await?,
    })
}

/// Up to `limit` deliveries of the endpoint due now, oldest due first, but those at the
/// positions `held` (the worker has them already).
pub async fn due(
    pool: &PgPool,
    id: Uuid,
    limit: i64,
    held: &[i64],
) -> Result<Vec<Due>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT position, event_id, attempts FROM webhook_deliveries
         WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at <= now()
           AND position <> ALL($3)
         ORDER BY next_attempt_at, position LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .bind(held)
    .fetch_all(pool)
    .await?;
    let due: Vec<Due> = rows
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
    with_bodies(pool, due).await
}

/// Reads the bodies of `due`.
async fn with_bodies(pool: &PgPool, mut due: Vec<Due>) -> Result<Vec<Due>, sqlx::Error> {
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

/// When the endpoint's next pending delivery (not in `held`) is due, if it has one.
pub async fn next_due(
    pool: &PgPool,
    id: Uuid,
    held: &[i64],
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(next_attempt_at) FROM webhook_deliveries
         WHERE webhook_id = $1 AND status = 'pending' AND position <> ALL($2)",
    )
    .bind(id)
    .bind(held)
    .fetch_one(pool)
    .await
}

/// Records failed attempts (one statement for the lot, so that an endpoint that fails every
/// attempt costs no more round trips than one that succeeds): each is retried after its
/// `retry_in`, or is final without one. Failures start the endpoint's failure clock, and an
/// endpoint failing for `disable_after` is disabled. Answers whether the endpoint is still
/// enabled.
pub async fn record_failures(
    pool: &PgPool,
    id: Uuid,
    failures: &[Failure],
    disable_after: Duration,
) -> Result<bool, sqlx::Error> {
    let Some(last) = failures.last() else {
        return Ok(true);
    };
    let positions: Vec<i64> = failures.iter().map(|f| f.position).collect();
    let statuses: Vec<Option<i32>> = failures.iter().map(|f| f.status).collect();
    let errors: Vec<&str> = failures.iter().map(|f| f.error.as_str()).collect();
    let retries: Vec<Option<f64>> = failures
        .iter()
        .map(|f| f.retry_in.map(|d| d.as_secs_f64()))
        .collect();
    let state: Option<String> = sqlx::query_scalar(
        "WITH f AS (
             SELECT * FROM UNNEST($2::bigint[], $3::int[], $4::text[], $5::double precision[])
                 AS f(position, status, error, retry)
         ), failed AS (
             UPDATE webhook_deliveries d SET
                 status = CASE WHEN f.retry IS NULL THEN 'failed' ELSE 'pending' END,
                 attempts = d.attempts + 1, last_status_code = f.status, last_error = f.error,
                 last_attempt_at = now(),
                 next_attempt_at = now() + make_interval(secs => f.retry)
             FROM f WHERE d.webhook_id = $1 AND d.position = f.position
         )
         UPDATE webhooks SET
             failing_since = coalesce(failing_since, now()),
             status = CASE WHEN coalesce(failing_since, now()) <= now() - make_interval(secs => $6)
                           THEN 'disabled' ELSE status END,
             disabled_reason = CASE WHEN coalesce(failing_since, now()) <= now() - make_interval(secs => $6)
                           THEN format('failing since %s without a success; last error: %s',
                                       to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $7::text)
                           ELSE disabled_reason END,
             updated_at = CASE WHEN coalesce(failing_since, now()) <= now() - make_interval(secs => $6)
                           THEN now() ELSE updated_at END
         WHERE id = $1 RETURNING status",
    )
    .bind(id)
    .bind(&positions)
    .bind(&statuses)
    .bind(&errors)
    .bind(&retries)
    .bind(disable_after.as_secs_f64())
    .bind(&last.error)
    .fetch_optional(pool)
    .await?;
    if state.as_deref() == Some("disabled") {
        tracing::warn!(webhook_id = %id, error = %last.error, "webhook endpoint disabled after failing too long");
    }
    Ok(state.as_deref() == Some("enabled"))
}
