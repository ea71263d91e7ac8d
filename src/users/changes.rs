//! Changes to users of the directory: their details, contacts filled in by intake, merges.
//! Each locks the user's row and records what changed on the user's stream in the same
//! transaction.

use std::collections::BTreeMap;

use sqlx::{PgConnection, PgPool};
use ticket_nats::events::FieldChange;
use ticket_nats::user_events::{UserEvent, UserMerged, UserUpdated};
use uuid::Uuid;

use super::{from_row, hash_password, store_error, CreateUserError, Row, User, COLUMNS};
use crate::domain::Role;
use crate::store::user_stream::{self, Recorder};

/// Changes to a user; `None` leaves a field as it is. Values are checked (see [`NewUser`]).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// A new display name.
    pub name: Option<String>,
    /// A new e-mail address.
    pub email: Option<String>,
    /// A new phone number.
    pub phone: Option<String>,
    /// A new role. A token the user already holds keeps the role it was signed with.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// A new password (gives `login: true`); never recorded in the event.
    pub password: Option<String>,
}

/// Applies `changes` to user `id` and records what changed as `user.updated` (nothing changed:
/// no event). `None` when no such user exists.
pub async fn update(
    pool: &PgPool,
    recorder: &Recorder,
    id: Uuid,
    changes: UserChanges,
) -> Result<Option<User>, CreateUserError> {
    let password_hash = hash_password(changes.password.as_deref()).await?;
    let mut tx = pool.begin().await?;
    let Some(before) = lock(&mut tx, id).await? else {
        return Ok(None);
    };
    let mut after = before.clone();
    if let Some(name) = changes.name {
        after.name = name;
    }
    if let Some(email) = changes.email {
        after.email = Some(email);
    }
    if let Some(phone) = changes.phone {
        after.phone = Some(phone);
    }
    if let Some(role) = changes.role {
        after.role = role;
    }
    if let Some(active) = changes.active {
        after.active = active;
    }
    after.login |= password_hash.is_some();
    // A deactivated user's sessions end now; reactivation does not revive them.
    if before.active && !after.active {
        super::sessions::revoke_user(&mut tx, id, None).await?;
    }
    let user = write(&mut tx, recorder, &before, after, password_hash).await?;
    tx.commit().await?;
    Ok(Some(user))
}

/// Sets user `id`'s password and ends their sessions but the refresh-token family `keep` (the
/// one changing it, if any). `false` when no such user exists.
pub async fn set_password(
    pool: &PgPool,
    recorder: &Recorder,
    id: Uuid,
    password: &str,
    keep: Option<Uuid>,
) -> Result<bool, CreateUserError> {
    let password_hash = hash_password(Some(password)).await?;
    let mut tx = pool.begin().await?;
    let Some(before) = lock(&mut tx, id).await? else {
        return Ok(false);
    };
    let mut after = before.clone();
    after.login = true;
    super::sessions::revoke_user(&mut tx, id, keep).await?;
    write(&mut tx, recorder, &before, after, password_hash).await?;
    tx.commit().await?;
    Ok(true)
}

/// Fills user `id`'s missing e-mail address and phone number with these (never overwriting
/// one), leaving out any held by another user; records `user.updated` when anything was filled.
pub async fn fill_contacts(
    tx: &mut PgConnection,
    recorder: &Recorder,
    id: Uuid,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<User>, CreateUserError> {
    let Some(before) = lock(tx, id).await? else {
        return Ok(None);
    };
    let mut after = before.clone();
    if let (None, Some(email)) = (&before.email, email) {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))",
        )
        .bind(email)
        .fetch_one(&mut *tx)
        .await?;
        if !held {
            after.email = Some(email.to_string());
        }
    }
    if let (None, Some(phone)) = (&before.phone, phone) {
        let held: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE phone = $1)")
            .bind(phone)
            .fetch_one(&mut *tx)
            .await?;
        if !held {
            after.phone = Some(phone.to_string());
        }
    }
    Ok(Some(write(tx, recorder, &before, after, None).await?))
}

/// Locks user `id`'s row for the rest of the transaction (ordering writers of its stream).
async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.and_then(from_row))
}

/// Stores `after` over `before` and records the difference as `user.updated`.
async fn write(
    tx: &mut PgConnection,
    recorder: &Recorder,
    before: &User,
    after: User,
    password_hash: Option<String>,
) -> Result<User, CreateUserError> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut changes = BTreeMap::new();
    let mut note = |field: &str, from: String, to: String| {
        if from != to {
            changes.insert(field.to_string(), FieldChange { from, to });
        }
    };
    note("name", before.name.clone(), after.name.clone());
    note("email", text(&before.email), text(&after.email));
    note("phone", text(&before.phone), text(&after.phone));
    note(
        "role",
        before.role.as_str().into(),
        after.role.as_str().into(),
    );
    note(
        "active",
        before.active.to_string(),
        after.active.to_string(),
    );
    note("login", before.login.to_string(), after.login.to_string());
    if changes.is_empty() && password_hash.is_none() {
        return Ok(after);
    }
    sqlx::query(
        "UPDATE users SET name = $2, email = $3, phone = $4, role = $5, active = $6,
                          password_hash = coalesce($7, password_hash)
         WHERE id = $1",
    )
    .bind(after.id)
    .bind(&after.name)
    .bind(&after.email)
    .bind(&after.phone)
    .bind(after.role.as_str())
    .bind(after.active)
    .bind(password_hash)
    .execute(&mut *tx)
    .await
    .map_err(store_error)?;
    if !changes.is_empty() {
        let event = UserEvent::Updated(UserUpdated { changes });
        user_stream::append(tx, recorder, after.id, &event).await?;
    }
    Ok(after)
}

/// Why a merge was refused.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The user to merge does not exist.
    #[error("no such user")]
    NotFound,
    /// The user to merge into does not exist.
    #[error("no user to merge into")]
    UnknownTarget,
    /// A user cannot be merged into themself, into a merged user, or twice.
    #[error("{0}")]
    Conflict(&'static str),
    /// The database failed.
    #[error("cannot merge the users")]
    Database(#[from] sqlx::Error),
}

/// Merges user `id` into `into`: records `user.merged {into}` on `id`'s stream, deactivates it,
/// and points it (and users merged into it before) at `into`, so that lookups of its contacts
/// find `into` and its tickets are listed under `into`.
pub async fn merge(
    pool: &PgPool,
    recorder: &Recorder,
    id: Uuid,
    into: Uuid,
) -> Result<User, MergeError> {
    if id == into {
        return Err(MergeError::Conflict(
            "a user cannot be merged into themself",
        ));
    }
    let mut tx = pool.begin().await?;
    // Both rows, in id order, so that two crossed merges cannot deadlock.
    let (first, second) = if id < into { (id, into) } else { (into, id) };
    let a = lock(&mut tx, first).await?;
    let b = lock(&mut tx, second).await?;
    let (source, target) = if first == id { (a, b) } else { (b, a) };
    let source = source.ok_or(MergeError::NotFound)?;
    let target = target.ok_or(MergeError::UnknownTarget)?;
    if source.merged_into.is_some() {
        return Err(MergeError::Conflict("the user is already merged"));
    }
    if target.merged_into.is_some() {
        return Err(MergeError::Conflict(
            "the target user is merged into another",
        ));
    }
    sqlx::query(
        "UPDATE users SET merged_into = $2, active = false WHERE id = $1 OR merged_into = $1",
    )
    .bind(id)
    .bind(into)
    .execute(&mut *tx)
    .await?;
    super::sessions::revoke_user(&mut tx, id, None).await?;
    user_stream::append(
        &mut tx,
        recorder,
        id,
        &UserEvent::Merged(UserMerged { into }),
    )
    .await?;
    tx.commit().await?;
    Ok(target)
}
