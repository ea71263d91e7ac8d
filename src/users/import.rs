//! Writing a checked CSV import (CONTRACT 11) in one transaction: rows are matched to users by
//! normalized e-mail; new users are inserted and changed ones updated with a few set-based
//! statements, and every `user.created` / `user.updated` is recorded with them, so 10,000 rows
//! cost a handful of round trips, not tens of thousands.

use std::collections::{BTreeMap, HashMap};

use sqlx::PgPool;
use ticket_nats::events::FieldChange;
use ticket_nats::user_events::{UserCreated, UserEvent, UserUpdated};
use uuid::Uuid;

use super::Origin;
use crate::domain::Role;
use crate::store::user_stream::{self, Recorder};

/// One checked row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// Normalized (trimmed, lower case).
    pub email: String,
    /// Checked display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// E.164, when given.
    pub phone: Option<String>,
}

/// A line that cannot be applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line (1: the header).
    pub line: u64,
    /// The column, or `line` for the line as a whole.
    pub field: String,
    /// Why.
    pub message: String,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Users added.
    pub created: usize,
    /// Users changed.
    pub updated: usize,
    /// Lines that could not be applied (then nothing was).
    pub errors: Vec<LineError>,
}

type Existing = (Uuid, String, String, String, Option<String>, Option<Uuid>);

/// Applies `rows` (checked, e-mails unique among them) in one transaction, committed unless
/// `dry_run` or an error is found: then nothing is applied and `errors` says why.
pub async fn apply(
    pool: &PgPool,
    recorder: &Recorder,
    rows: &[ImportRow],
    dry_run: bool,
) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
    // Locked, so that a concurrent change cannot slip between the comparison and the write.
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, lower(email), name, role, phone, merged_into FROM users
         WHERE lower(email) = ANY($1) FOR UPDATE",
    )
    .bind(&emails)
    .fetch_all(&mut *tx)
    .await?;
    let existing: HashMap<String, Existing> =
        existing.into_iter().map(|u| (u.1.clone(), u)).collect();
    let phones: Vec<&str> = rows.iter().filter_map(|r| r.phone.as_deref()).collect();
    let phone_owners: HashMap<String, String> = sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT phone, lower(email) FROM users WHERE phone = ANY($1)",
    )
    .bind(&phones)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(phone, email)| (phone, email.unwrap_or_default()))
    .collect();

    let mut errors = Vec::new();
    let mut events = Vec::new();
    let (mut new_ids, mut new_emails, mut new_names, mut new_roles, mut new_phones) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut upd_ids, mut upd_names, mut upd_roles, mut upd_phones) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        if let Some(phone) = &row.phone {
            if phone_owners
                .get(phone)
                .is_some_and(|owner| *owner != row.email)
            {
                errors.push(LineError {
                    line: row.line,
                    field: "phone".into(),
                    message: "belongs to another user".into(),
                });
                continue;
            }
        }
        match existing.get(&row.email) {
            Some((_, _, _, _, _, Some(_))) => errors.push(LineError {
                line: row.line,
                field: "email".into(),
                message: "belongs to a user merged into another".into(),
            }),
            Some((id, _, name, role, phone, None)) => {
                let mut changes = BTreeMap::new();
                let mut note = |field: &str, from: &str, to: &str| {
                    if from != to {
                        changes.insert(
                            field.to_string(),
                            FieldChange {
                                from: from.to_string(),
                                to: to.to_string(),
                            },
                        );
                    }
                };
                note("name", name, &row.name);
                note("role", role, row.role.as_str());
                // An empty phone cell leaves the phone as it is.
                let phone_after = row.phone.clone().or_else(|| phone.clone());
                note(
                    "phone",
                    phone.as_deref().unwrap_or_default(),
                    phone_after.as_deref().unwrap_or_default(),
                );
                if changes.is_empty() {
                    continue;
                }
                upd_ids.push(*id);
                upd_names.push(row.name.clone());
                upd_roles.push(row.role.as_str().to_string());
                upd_phones.push(phone_after);
                events.push((*id, UserEvent::Updated(UserUpdated { changes })));
            }
            None => {
                let id = Uuid::now_v7();
                new_ids.push(id);
                new_emails.push(row.email.clone());
                new_names.push(row.name.clone());
                new_roles.push(row.role.as_str().to_string());
                new_phones.push(row.phone.clone());
                events.push((
                    id,
                    UserEvent::Created(UserCreated {
                        name: row.name.clone(),
                        email: Some(row.email.clone()),
                        phone: row.phone.clone(),
                        role: row.role.as_str().to_string(),
                        login: false,
                        origin: Origin::Import.as_str().to_string(),
                    }),
                ));
            }
        }
    }
    if !errors.is_empty() {
        tx.rollback().await?;
        return Ok(Applied {
            errors,
            ..Applied::default()
        });
    }
    sqlx::query(
        "INSERT INTO users (id, email, name, role, phone, origin)
         SELECT * , $6 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])",
    )
    .bind(&new_ids)
    .bind(&new_emails)
    .bind(&new_names)
    .bind(&new_roles)
    .bind(&new_phones)
    .bind(Origin::Import.as_str())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE users SET name = u.name, role = u.role, phone = u.phone
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, name, role, phone)
         WHERE users.id = u.id",
    )
    .bind(&upd_ids)
    .bind(&upd_names)
    .bind(&upd_roles)
    .bind(&upd_phones)
    .execute(&mut *tx)
    .await?;
    user_stream::append_many(&mut tx, recorder, &events).await?;
    let applied = Applied {
        created: new_ids.len(),
        updated: upd_ids.len(),
        errors,
    };
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(applied)
}
