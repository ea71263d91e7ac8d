//! Stored SLA policies (CONTRACT 9) and the SLA configuration the aggregate is given: each
//! priority's targets and calendar, from its policy, else `TICKETD_SLA` and the default
//! calendar, else 24×7.

use std::sync::Arc;

use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::calendar::Calendar;
use crate::domain::sla::{PriorityCalendars, SlaPolicy, SlaTargets};
use crate::domain::sla_duration::SlaDuration;
use crate::domain::{Priority, TicketServices};
use crate::store::calendars::WeekHours;

/// A policy as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredPolicy {
    /// The priority it applies to.
    pub priority: String,
    /// Like `4h`.
    pub first_response: String,
    /// Like `30m`; `null` when none.
    pub next_response: Option<String>,
    /// Like `1d`.
    pub resolution: String,
    /// The calendar its targets count; `null` for the default.
    pub calendar_id: Option<Uuid>,
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct PolicyFields {
    /// First-response target.
    pub first_response: SlaDuration,
    /// Next-response target, if any.
    pub next_response: Option<SlaDuration>,
    /// Resolution target.
    pub resolution: SlaDuration,
    /// Its calendar, if any.
    pub calendar_id: Option<Uuid>,
}

fn spelled(secs: i64) -> String {
    SlaDuration::parse(&format!("{}m", secs / 60))
        .map_or_else(|_| format!("{}m", secs / 60), |d| d.to_string())
}

/// Replaces the policy of `priority`.
pub async fn put(
    pool: &PgPool,
    priority: Priority,
    fields: &PolicyFields,
) -> Result<StoredPolicy, sqlx::Error> {
    sqlx::query(
        "INSERT INTO sla_policies
            (priority, first_response_secs, next_response_secs, resolution_secs, calendar_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (priority) DO UPDATE SET
            first_response_secs = $2, next_response_secs = $3, resolution_secs = $4,
            calendar_id = $5, updated_at = now()",
    )
    .bind(priority.as_str())
    .bind(fields.first_response.secs())
    .bind(fields.next_response.map(SlaDuration::secs))
    .bind(fields.resolution.secs())
    .bind(fields.calendar_id)
    .execute(pool)
    .await?;
    Ok(StoredPolicy {
        priority: priority.as_str().to_string(),
        first_response: fields.first_response.to_string(),
        next_response: fields.next_response.map(|d| d.to_string()),
        resolution: fields.resolution.to_string(),
        calendar_id: fields.calendar_id,
    })
}

/// Whether a calendar `id` exists.
pub async fn calendar_exists(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM calendars WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// Every stored policy.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredPolicy>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT priority, first_response_secs, next_response_secs, resolution_secs, calendar_id
           FROM sla_policies ORDER BY priority",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredPolicy {
                priority: r.try_get("priority")?,
                first_response: spelled(r.try_get("first_response_secs")?),
                next_response: r
                    .try_get::<Option<i64>, _>("next_response_secs")?
                    .map(spelled),
                resolution: spelled(r.try_get("resolution_secs")?),
                calendar_id: r.try_get("calendar_id")?,
            })
        })
        .collect()
}

/// A stored calendar as the clock reads it; a row that no longer validates (it was checked
/// when written) is reported and counted as 24×7 rather than stopping every command.
fn clock_calendar(zone: &str, hours: &WeekHours, holidays: &[String]) -> Calendar {
    Calendar::new(zone, hours, holidays).unwrap_or_else(|faults| {
        tracing::error!(
            ?faults,
            "a stored calendar no longer validates; counting 24x7"
        );
        Calendar::always()
    })
}

/// The SLA configuration in force: `base` (from `TICKETD_SLA`) overridden by each stored
/// policy, each priority on its policy's calendar, else `default_calendar`, else 24×7.
pub async fn load(
    pool: &PgPool,
    base: &SlaPolicy,
    default_calendar: Option<Uuid>,
) -> Result<TicketServices, sqlx::Error> {
    let mut sla = base.clone();
    let default = match default_calendar {
        Some(id) => {
            let row = sqlx::query("SELECT time_zone, hours, holidays FROM calendars WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Arc::new(clock_calendar(
                    &r.try_get::<String, _>("time_zone")?,
                    &r.try_get::<Json<WeekHours>, _>("hours")?.0,
                    &r.try_get::<Json<Vec<String>>, _>("holidays")?.0,
                )),
                None => {
                    tracing::warn!(calendar_id = %id, "SLA_DEFAULT_CALENDAR names no calendar; counting 24x7");
                    Arc::new(Calendar::always())
                }
            }
        }
        None => Arc::new(Calendar::always()),
    };
    let mut calendars = PriorityCalendars::all(default.clone());
    let rows = sqlx::query(
        "SELECT p.priority, p.first_response_secs, p.resolution_secs, p.next_response_secs,
                c.time_zone, c.hours, c.holidays
           FROM sla_policies p LEFT JOIN calendars c ON c.id = p.calendar_id",
    )
    .fetch_all(pool)
    .await?;
    for r in &rows {
        let Ok(priority) = r.try_get::<String, _>("priority")?.parse::<Priority>() else {
            continue;
        };
        sla.set(
            priority,
            SlaTargets {
                first_response_secs: r.try_get("first_response_secs")?,
                resolution_secs: r.try_get("resolution_secs")?,
                next_response_secs: r.try_get("next_response_secs")?,
            },
        );
        let zone: Option<String> = r.try_get("time_zone")?;
        let calendar = match zone {
            Some(zone) => Arc::new(clock_calendar(
                &zone,
                &r.try_get::<Json<WeekHours>, _>("hours")?.0,
                &r.try_get::<Json<Vec<String>>, _>("holidays")?.0,
            )),
            None => default.clone(),
        };
        calendars.set(priority, calendar);
    }
    Ok(TicketServices { sla, calendars })
}
