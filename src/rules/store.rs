//! Rules in Postgres, as the API manages them and the processor reads them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use ticket_nats::Timestamp;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Action, Conditions};

/// How many of a rule's latest failures the API shows with it.
const FAILURES_SHOWN: i64 = 20;

/// A rule as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rule {
    /// Id (the actor id of the commands it issues).
    pub id: Uuid,
    /// Name (the actor name of the commands it issues).
    pub name: String,
    /// Whether it acts.
    pub enabled: bool,
    /// Event types and conditions.
    #[schema(value_type = Object)]
    pub when: Conditions,
    /// Actions, in order.
    #[schema(value_type = Vec<Object>)]
    pub then: Vec<Action>,
    /// Its latest failures, newest first: actions that could not act.
    pub failures: Vec<Failure>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// An action that could not act on an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Failure {
    /// The triggering event.
    pub event_id: String,
    /// The action's index in `then`.
    pub action: i32,
    /// Why.
    pub error: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub failed_at: Timestamp,
}

/// A rule as the processor uses it.
#[derive(Debug, Clone)]
pub struct Active {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Event types and conditions.
    pub when: Conditions,
    /// Actions.
    pub then: Vec<Action>,
    /// Positions of the batch read that were committed before the rule was made (not its).
    pub before: Vec<i64>,
}

/// What a PATCH may change.
#[derive(Debug, Default)]
pub struct Changes {
    /// A new name.
    pub name: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New conditions.
    pub when: Option<Conditions>,
    /// New actions.
    pub then: Option<Vec<Action>>,
}

const COLUMNS: &str = "id, name, enabled, conditions, actions, created_at, updated_at";

fn json_error(error: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}

fn rule(row: &sqlx::postgres::PgRow) -> Result<Rule, sqlx::Error> {
    Ok(Rule {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        enabled: row.try_get("enabled")?,
        when: serde_json::from_value(row.try_get("conditions")?).map_err(json_error)?,
        then: serde_json::from_value(row.try_get("actions")?).map_err(json_error)?,
        failures: Vec::new(),
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?.into(),
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?.into(),
    })
}

async fn with_failures(pool: &PgPool, mut rule: Rule) -> Result<Rule, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT event_id, action, error, failed_at FROM rule_failures
         WHERE rule_id = $1 ORDER BY failed_at DESC, position DESC LIMIT $2",
    )
    .bind(rule.id)
    .bind(FAILURES_SHOWN)
    .fetch_all(pool)
    .await?;
    rule.failures = rows
        .iter()
        .map(|row| {
            Ok(Failure {
                event_id: row.try_get("event_id")?,
                action: row.try_get("action")?,
                error: row.try_get("error")?,
                failed_at: row.try_get::<DateTime<Utc>, _>("failed_at")?.into(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(rule)
}

/// Adds a rule; it answers the events committed after this call returns.
pub async fn create(
    pool: &PgPool,
    name: &str,
    enabled: bool,
    when: &Conditions,
    then: &[Action],
) -> Result<Rule, sqlx::Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO rules (id, name, enabled, conditions, actions)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(enabled)
    .bind(serde_json::to_value(when).map_err(json_error)?)
    .bind(serde_json::to_value(then).map_err(json_error)?)
    .fetch_one(pool)
    .await?;
    rule(&row)
}

/// Every rule, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Rule>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM rules ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for row in &rows {
        rules.push(with_failures(pool, rule(row)?).await?);
    }
    Ok(rules)
}

/// One rule.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Rule>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM rules WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => Ok(Some(with_failures(pool, rule(&row)?).await?)),
        None => Ok(None),
    }
}

/// Applies `changes`; `None` when there is no such rule.
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    changes: &Changes,
) -> Result<Option<Rule>, sqlx::Error> {
    let when = changes
        .when
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(json_error)?;
    let then = changes
        .then
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(json_error)?;
    let row = sqlx::query(&format!(
        "UPDATE rules SET name = coalesce($2, name), enabled = coalesce($3, enabled),
                conditions = coalesce($4, conditions), actions = coalesce($5, actions),
                updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&changes.name)
    .bind(changes.enabled)
    .bind(when)
    .bind(then)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Some(with_failures(pool, rule(&row)?).await?)),
        None => Ok(None),
    }
}

/// Removes a rule; answers whether there was one.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM rules WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The enabled rules, each with the positions in `(after, last]` it does not answer because
/// their transactions committed before it was made.
pub async fn active<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    after: i64,
    last: i64,
) -> Result<Vec<Active>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.id, r.name, r.conditions, r.actions,
                ARRAY(SELECT e.position FROM events e
                      WHERE e.position > $1 AND e.position <= $2
                        AND pg_visible_in_snapshot(e.transaction_id, r.created_snapshot)) AS before
         FROM rules r WHERE r.enabled ORDER BY r.created_at, r.id",
    )
    .bind(after)
    .bind(last)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Active {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                when: serde_json::from_value(row.try_get("conditions")?).map_err(json_error)?,
                then: serde_json::from_value(row.try_get("actions")?).map_err(json_error)?,
                before: row.try_get("before")?,
            })
        })
        .collect()
}
