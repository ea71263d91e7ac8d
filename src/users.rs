//! The user directory: users added by the CLI or the API, users first seen in a valid token, and
//! requesters found or created by intake. E-mail addresses are unique regardless of case (the
//! `users_email` index on `lower(email)`), phone numbers (E.164) are unique too (`users_phone`).
//!
//! Every change is recorded on the user's own event stream ([`crate::store::user_stream`]) in
//! the transaction that makes it, so the directory is read-your-writes and its stream complete.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use ticket_nats::events::FieldChange;
use ticket_nats::user_events::{UserCreated, UserEvent, UserMerged, UserUpdated};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::password;
use crate::domain::Role;
use crate::store::user_stream::{self, Recorder};

/// A known user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// Id (the tokens' `sub`).
    pub id: Uuid,
    /// E-mail address (normalized: trimmed, lower case, for users added since contacts are
    /// normalized); `null` for a requester known by phone only.
    pub email: Option<String>,
    /// Phone number in E.164 form (`+5511987654321`), if known.
    pub phone: Option<String>,
    /// Display name.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
    /// Whether the user may sign in with a password (has one).
    pub login: bool,
    /// False: sign-in and every token of the user are refused.
    pub active: bool,
    /// The user this one was merged into, if merged.
    pub merged_into: Option<Uuid>,
}

/// How a user became known (the `origin` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `ticketd user add` or `ticketd token`.
    Cli,
    /// `POST /users`.
    Api,
    /// First seen in a valid token.
    Token,
    /// A requester found by none of their contacts at intake.
    Intake,
}

impl Origin {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Api => "api",
            Origin::Token => "token",
            Origin::Intake => "intake",
        }
    }
}

/// Longest e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// Longest display name, after trimming.
pub const NAME_MAX: usize = 200;
/// Shortest password.
pub const PASSWORD_MIN: usize = 8;
/// Longest password (hashing cost grows with it).
pub const PASSWORD_MAX: usize = 1024;
/// Longest phone number as typed.
pub const PHONE_MAX: usize = 64;

/// Checks an e-mail address: one `@` with something on both sides, at most 254 characters, no
/// spaces or control characters. Returns it trimmed.
pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim();
    if email.chars().count() > EMAIL_MAX {
        return Err(format!("email must be at most {EMAIL_MAX} characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("email must not contain spaces or control characters".into());
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_string())
        }
        _ => Err("email must be an address with one @ and text on both sides".into()),
    }
}

/// [`check_email`], then lower case: the form contacts are stored and looked up in.
pub fn normalize_email(email: &str) -> Result<String, String> {
    check_email(email).map(|e| e.to_lowercase())
}

/// Parses a phone number, national numbers in `region` (e.g. `BR`), into E.164
/// (`+5511987654321`). Refuses what is not a valid number of its country.
pub fn normalize_phone(
    phone: &str,
    region: Option<phonenumber::country::Id>,
) -> Result<String, String> {
    let phone = phone.trim();
    if phone.is_empty() || phone.chars().count() > PHONE_MAX || phone.chars().any(char::is_control)
    {
        return Err(format!(
            "phone must be a phone number of at most {PHONE_MAX} characters"
        ));
    }
    let number = phonenumber::parse(region, phone)
        .map_err(|e| format!("phone is not a phone number: {e}"))?;
    if !phonenumber::is_valid(&number) {
        return Err("phone is not a valid number of its country".into());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Checks a display name: 1–200 characters after trimming, no control characters. Returns it
/// trimmed.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 {
        return Err("name must not be empty".into());
    }
    if len > NAME_MAX {
        return Err(format!("name must be at most {NAME_MAX} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// Checks a new password: 8–1024 characters.
pub fn check_password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(format!(
            "password must be at least {PASSWORD_MIN} characters"
        ));
    }
    if len > PASSWORD_MAX {
        return Err(format!(
            "password must be at most {PASSWORD_MAX} characters"
        ));
    }
    Ok(())
}

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// Another user has this e-mail address (compared without case).
    #[error("a user with this e-mail exists")]
    EmailTaken,
    /// Another user has this phone number.
    #[error("a user with this phone number exists")]
    PhoneTaken,
    /// The password could not be hashed.
    #[error("cannot hash the password")]
    Hash(#[source] anyhow::Error),
    /// The database failed.
    #[error("cannot store the user")]
    Database(#[from] sqlx::Error),
}

/// What a new user is made of (checked values: [`normalize_email`], [`normalize_phone`],
/// [`check_name`], [`check_password`]).
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// E-mail address.
    pub email: Option<&'a str>,
    /// E.164 phone number.
    pub phone: Option<&'a str>,
    /// Display name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// Password, stored as an Argon2id hash; none: `login: false`.
    pub password: Option<&'a str>,
    /// How the user became known.
    pub origin: Origin,
}

const COLUMNS: &str =
    "id, email, name, role, phone, password_hash IS NOT NULL AS login, active, merged_into";

type Row = (
    Uuid,
    Option<String>,
    String,
    String,
    Option<String>,
    bool,
    bool,
    Option<Uuid>,
);

fn from_row((id, email, name, role, phone, login, active, merged_into): Row) -> Option<User> {
    match role.parse() {
        Ok(role) => Some(User {
            id,
            email,
            phone,
            name,
            role,
            login,
            active,
            merged_into,
        }),
        Err(_) => {
            // The table's CHECK constraint makes this unreachable short of a schema change.
            tracing::warn!(user_id = %id, role = %role, "skipping a user with an unknown role");
            None
        }
    }
}

/// The contact a unique violation is about, if it is one.
fn taken(error: &sqlx::Error) -> Option<CreateUserError> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => match db.constraint() {
            Some("users_email") => Some(CreateUserError::EmailTaken),
            Some("users_phone") => Some(CreateUserError::PhoneTaken),
            _ => None,
        },
        _ => None,
    }
}

fn store_error(error: sqlx::Error) -> CreateUserError {
    taken(&error).unwrap_or(CreateUserError::Database(error))
}

/// Finds a user by id.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(from_row))
}

/// Finds a user by e-mail address, whatever its case.
pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    Ok(find_credentials(pool, email).await?.map(|(user, _)| user))
}

/// The user a contact names, following a merge to the user that stands for a merged one:
/// by e-mail address (whatever its case) when given, else by E.164 phone number.
pub async fn find_by_contact(
    conn: &mut PgConnection,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = (
             SELECT coalesce(merged_into, id) FROM users
             WHERE ($1::text IS NOT NULL AND lower(email) = lower($1))
                OR ($1::text IS NULL AND $2::text IS NOT NULL AND phone = $2))"
    ))
    .bind(email)
    .bind(phone)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(from_row))
}

/// Finds a user by e-mail address, whatever its case, with its password hash (`None` for users
/// who only ever arrive with a token).
pub async fn find_credentials(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let Some(hash_row): Option<(Uuid, Option<String>)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE lower(email) = lower($1)")
            .bind(email.trim())
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let (id, hash) = hash_row;
    Ok(find(pool, id).await?.map(|user| (user, hash)))
}

async fn hash_password(password: Option<&str>) -> Result<Option<String>, CreateUserError> {
    match password {
        Some(p) => Ok(Some(
            password::hash(p.to_string())
                .await
                .map_err(CreateUserError::Hash)?,
        )),
        None => Ok(None),
    }
}

/// Adds a user with a new UUID v7 id, and records `user.created`.
pub async fn create(
    pool: &PgPool,
    recorder: &Recorder,
    new: NewUser<'_>,
) -> Result<User, CreateUserError> {
    let password_hash = hash_password(new.password).await?;
    let mut tx = pool.begin().await?;
    let user = insert(&mut tx, recorder, Uuid::now_v7(), &new, password_hash).await?;
    tx.commit().await?;
    Ok(user)
}

/// Inserts a user and its `user.created` in the caller's transaction.
pub async fn insert(
    tx: &mut PgConnection,
    recorder: &Recorder,
    id: Uuid,
    new: &NewUser<'_>,
    password_hash: Option<String>,
) -> Result<User, CreateUserError> {
    let user = User {
        id,
        email: new.email.map(str::to_string),
        phone: new.phone.map(str::to_string),
        name: new.name.to_string(),
        role: new.role,
        login: password_hash.is_some(),
        active: true,
        merged_into: None,
    };
    sqlx::query(
        "INSERT INTO users (id, email, phone, name, role, password_hash, origin)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.phone)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(new.origin.as_str())
    .execute(&mut *tx)
    .await
    .map_err(store_error)?;
    let event = UserEvent::Created(UserCreated {
        name: user.name.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        role: user.role.as_str().to_string(),
        login: user.login,
        origin: new.origin.as_str().to_string(),
    });
    user_stream::append(tx, recorder, user.id, &event).await?;
    Ok(user)
}

/// Every user, or those with `role`, by name (then id, so that equal names keep one order).
pub async fn list(pool: &PgPool, role: Option<Role>) -> Result<Vec<User>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        r#"SELECT {COLUMNS} FROM users
           WHERE $1::text IS NULL OR role = $1
           ORDER BY name COLLATE "C", id"#
    ))
    .bind(role.map(|r| r.as_str()))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

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
    let user = write(&mut tx, recorder, &before, after, password_hash).await?;
    tx.commit().await?;
    Ok(Some(user))
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
    /// One of the two users does not exist.
    #[error("no such user")]
    NotFound,
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
    let (Some(a), Some(b)) = (a, b) else {
        return Err(MergeError::NotFound);
    };
    let (source, target) = if a.id == id { (a, b) } else { (b, a) };
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

/// What [`ensure_from_token`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The user was new and has been added (origin `token`).
    Inserted,
    /// A user with this id was already known (its stored details are left as they are).
    Known,
    /// The id is new but another user has the e-mail address: nothing was added.
    EmailTaken,
}

/// Adds a user first seen in a valid token, from its claims, unless its id is known.
pub async fn ensure_from_token(
    pool: &PgPool,
    recorder: &Recorder,
    user: &User,
) -> Result<Ensured, sqlx::Error> {
    if find(pool, user.id).await?.is_some() {
        return Ok(Ensured::Known);
    }
    let new = NewUser {
        email: user.email.as_deref(),
        phone: None,
        name: &user.name,
        role: user.role,
        password: None,
        origin: Origin::Token,
    };
    let mut tx = pool.begin().await?;
    match insert(&mut tx, recorder, user.id, &new, None).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Ensured::Inserted)
        }
        Err(CreateUserError::EmailTaken) => Ok(Ensured::EmailTaken),
        // A racing first request of the same user inserted it.
        Err(CreateUserError::Database(sqlx::Error::Database(db))) if db.is_unique_violation() => {
            Ok(Ensured::Known)
        }
        Err(CreateUserError::Database(e)) => Err(e),
        Err(e) => Err(sqlx::Error::Protocol(e.to_string())),
    }
}

/// Whether user `id` is active (`None`: unknown).
pub async fn is_active(pool: &PgPool, id: Uuid) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar("SELECT active FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_with_text_on_both_sides() {
        for ok in [
            "a@b",
            "jane.doe@example.com",
            "  x@y.z  ",
            "Mixed.Case@Example.COM",
        ] {
            assert!(check_email(ok).is_ok(), "{ok} should be accepted");
        }
        assert_eq!(check_email(" a@b ").unwrap(), "a@b");
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in ["", "plain", "@b", "a@", "a@b@c", "a b@c", "a@b\0", &long] {
            assert!(check_email(bad).is_err(), "{bad:?} should be refused");
        }
        let exactly = format!("{}@b", "a".repeat(EMAIL_MAX - 2));
        assert!(check_email(&exactly).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Jane Doe ").unwrap(), "Jane Doe");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"é".repeat(NAME_MAX)).is_ok());
        assert!(check_name(&"é".repeat(NAME_MAX + 1)).is_err());
        assert!(check_name("nul\0byte").is_err());
    }

    #[test]
    fn passwords_are_8_to_1024_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(PASSWORD_MAX)).is_ok());
        assert!(check_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
    }

    /// A fresh, migrated database on the local Postgres (`DATABASE_URL`'s server, default
    /// `postgres://postgres@127.0.0.1:5432`), dropped by the returned guard's `drop_db`.
    pub(crate) struct TestDb {
        pub pool: PgPool,
        admin: PgPool,
        name: String,
    }

    impl TestDb {
        pub(crate) async fn new() -> Self {
            let base = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/ticketd".into());
            let server = base.rsplit_once('/').map(|(s, _)| s.to_string()).unwrap();
            let admin = PgPool::connect(&format!("{server}/postgres"))
                .await
                .unwrap();
            let name = format!("ticketd_test_{}", Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            let pool = PgPool::connect(&format!("{server}/{name}")).await.unwrap();
            crate::startup::migrate(&pool).await.unwrap();
            Self { pool, admin, name }
        }

        pub(crate) async fn drop_db(self) {
            self.pool.close().await;
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&self.admin)
            .await;
        }
    }

    fn rec() -> Recorder {
        Recorder::system("ticketd")
    }

    async fn add(
        pool: &PgPool,
        email: &str,
        name: &str,
        role: Role,
        password: Option<&str>,
        origin: Origin,
    ) -> Result<User, CreateUserError> {
        let new = NewUser {
            email: Some(email),
            phone: None,
            name,
            role,
            password,
            origin,
        };
        create(pool, &rec(), new).await
    }

    #[tokio::test]
    async fn create_find_and_list_users() {
        let db = TestDb::new().await;
        let pool = &db.pool;

        let bob = add(
            pool,
            "Bob@Example.com",
            "bob",
            Role::Agent,
            Some("password1"),
            Origin::Api,
        )
        .await
        .unwrap();
        let alice = add(
            pool,
            "alice@example.com",
            "Alice",
            Role::Admin,
            None,
            Origin::Cli,
        )
        .await
        .unwrap();
        let carol = add(
            pool,
            "carol@example.com",
            "Carol",
            Role::Requester,
            None,
            Origin::Api,
        )
        .await
        .unwrap();

        assert_eq!(bob.id.get_version_num(), 7);
        assert_eq!(find(pool, bob.id).await.unwrap(), Some(bob.clone()));
        assert_eq!(
            find_by_email(pool, "BOB@example.COM").await.unwrap(),
            Some(bob.clone())
        );
        assert_eq!(
            find_by_email(pool, "nobody@example.com").await.unwrap(),
            None
        );
        let (_, hash) = find_credentials(pool, "bob@example.com")
            .await
            .unwrap()
            .unwrap();
        assert!(password::verify_blocking("password1", &hash.unwrap()));
        let (_, hash) = find_credentials(pool, "alice@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hash, None);

        let all = list(pool, None).await.unwrap();
        assert_eq!(
            all,
            [alice.clone(), carol.clone(), bob.clone()],
            "sorted by name"
        );
        assert_eq!(list(pool, Some(Role::Agent)).await.unwrap(), [bob]);
        assert_eq!(list(pool, Some(Role::Auditor)).await.unwrap(), []);

        db.drop_db().await;
    }

    #[tokio::test]
    async fn emails_are_unique_whatever_their_case() {
        let db = TestDb::new().await;
        add(
            &db.pool,
            "dup@example.com",
            "One",
            Role::Agent,
            None,
            Origin::Api,
        )
        .await
        .unwrap();

        let again = add(
            &db.pool,
            "DUP@example.com",
            "Two",
            Role::Agent,
            None,
            Origin::Api,
        )
        .await;

        assert!(
            matches!(again, Err(CreateUserError::EmailTaken)),
            "{again:?}"
        );
        assert_eq!(list(&db.pool, None).await.unwrap().len(), 1);
        db.drop_db().await;
    }

    #[tokio::test]
    async fn users_from_tokens_are_added_once_and_never_clash() {
        let db = TestDb::new().await;
        let user = User {
            id: Uuid::new_v4(),
            email: Some("tok@example.com".into()),
            phone: None,
            login: false,
            active: true,
            merged_into: None,
            name: "Tok".into(),
            role: Role::Requester,
        };

        assert_eq!(
            ensure_from_token(&db.pool, &rec(), &user).await.unwrap(),
            Ensured::Inserted
        );
        assert_eq!(
            ensure_from_token(&db.pool, &rec(), &user).await.unwrap(),
            Ensured::Known
        );
        let renamed = User {
            name: "Renamed".into(),
            ..user.clone()
        };
        assert_eq!(
            ensure_from_token(&db.pool, &rec(), &renamed).await.unwrap(),
            Ensured::Known
        );
        let other = User {
            id: Uuid::new_v4(),
            email: Some("TOK@example.com".into()),
            ..user.clone()
        };
        assert_eq!(
            ensure_from_token(&db.pool, &rec(), &other).await.unwrap(),
            Ensured::EmailTaken
        );

        assert_eq!(find(&db.pool, user.id).await.unwrap(), Some(user.clone()));
        assert_eq!(find(&db.pool, other.id).await.unwrap(), None);
        let origin: String = sqlx::query_scalar("SELECT origin FROM users WHERE id = $1")
            .bind(user.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(origin, "token");
        db.drop_db().await;
    }
}
