//! Stored calendars (CONTRACT 9): written as the admin gave them, once `Calendar::new` accepted
//! them, and read back in the same shape.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use utoipa::ToSchema;
use uuid::Uuid;

/// Opening intervals per weekday, as written.
pub type WeekHours = BTreeMap<String, Vec<[String; 2]>>;

/// A calendar as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredCalendar {
    /// The calendar's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// IANA time zone of its hours and holidays.
    pub time_zone: String,
    /// `{"mon": [["08:00","18:00"]], …}`; a missing weekday is closed.
    #[schema(value_type = Object)]
    pub hours: WeekHours,
    /// Dates (`YYYY-MM-DD`) in the calendar's zone on which it is closed.
    pub holidays: Vec<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The members of a calendar, as checked.
#[derive(Debug, Clone)]
pub struct CalendarFields {
    /// Its name.
    pub name: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Opening intervals per weekday.
    pub hours: WeekHours,
    /// Closed dates.
    pub holidays: Vec<String>,
}

const COLUMNS: &str = "id, name, time_zone, hours, holidays, created_at, updated_at";

fn calendar(row: &PgRow) -> Result<StoredCalendar, sqlx::Error> {
    Ok(StoredCalendar {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        time_zone: row.try_get("time_zone")?,
        hours: row.try_get::<Json<WeekHours>, _>("hours")?.0,
        holidays: row.try_get::<Json<Vec<String>>, _>("holidays")?.0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores a new calendar.
pub async fn create(pool: &PgPool, fields: &CalendarFields) -> Result<StoredCalendar, sqlx::Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO calendars (id, name, time_zone, hours, holidays)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&fields.name)
    .bind(&fields.time_zone)
    .bind(Json(&fields.hours))
    .bind(Json(&fields.holidays))
    .fetch_one(pool)
    .await?;
    calendar(&row)
}

/// Replaces a calendar's members; `None` when there is no such calendar.
pub async fn replace(
    pool: &PgPool,
    id: Uuid,
    fields: &CalendarFields,
) -> Result<Option<StoredCalendar>, sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE calendars SET name = $2, time_zone = $3, hours = $4, holidays = $5,
            updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&fields.name)
    .bind(&fields.time_zone)
    .bind(Json(&fields.hours))
    .bind(Json(&fields.holidays))
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(calendar)
    .transpose()
}

/// One calendar.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<StoredCalendar>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM calendars WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(calendar)
        .transpose()
}

/// Every calendar, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredCalendar>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM calendars ORDER BY id"))
        .fetch_all(pool)
        .await?
        .iter()
        .map(calendar)
        .collect()
}
