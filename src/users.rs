//! The user directory: users added by the CLI or the API, users first seen in a valid token, and
//! requesters found or created by intake. E-mail addresses are unique regardless of case (the
//! `users_email` index on `lower(email)`), phone numbers (E.164) are unique too (`users_phone`).
//!
//! Every change is recorded on the user's own event stream ([`crate::store::user_stream`]) in
//! the transaction that makes it, so the directory is read-your-writes and its stream complete.

pub mod changes;
mod contact;
pub mod import;
pub mod resets;
pub mod sessions;
pub mod sweep;
pub mod throttle;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use ticket_nats::user_events::{UserCreated, UserEvent};
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
    /// The sender of a mail that came in.
    Email,
    /// A row of a CSV import (`POST /users/import`, `ticketd user import`).
    Import,
}

impl Origin {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Api => "api",
            Origin::Token => "token",
            Origin::Intake => "intake",
            Origin::Email => "email",
            Origin::Import => "import",
        }
    }
}

pub use contact::{
    check_email, check_name, check_password, normalize_email, normalize_phone, EMAIL_MAX, NAME_MAX,
    PASSWORD_MAX, PASSWORD_MIN, PHONE_MAX,
};

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

pub(super) const COLUMNS: &str =
    "id, email, name, role, phone, password_hash IS NOT NULL AS login, active, merged_into";

pub(super) type Row = (
    Uuid,
    Option<String>,
    String,
    String,
    Option<String>,
    bool,
    bool,
    Option<Uuid>,
);

pub(super) fn from_row(
    (id, email, name, role, phone, login, active, merged_into): Row,
) -> Option<User> {
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

pub(super) fn store_error(error: sqlx::Error) -> CreateUserError {
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

/// Who is mailed for `requester`, and at which address: the person who stands for them now
/// (the user they were merged into, CONTRACT 7, else themself), at that person's address, or,
/// when the person kept has none, at the merged user's own (an address of the same person).
/// `None` when the directory does not hold `requester`.
pub async fn mail_address(
    pool: &PgPool,
    requester: Uuid,
) -> Result<Option<(Uuid, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kept.id, coalesce(kept.email, asked.email)
         FROM users asked JOIN users kept ON kept.id = coalesce(asked.merged_into, asked.id)
         WHERE asked.id = $1",
    )
    .bind(requester)
    .fetch_optional(pool)
    .await
}

/// Whether `person` stands for `requester` in the directory: `requester` was merged into
/// them (CONTRACT 7), so the tickets `requester` asked for are `person`'s.
pub async fn stands_for(pool: &PgPool, person: Uuid, requester: Uuid) -> Result<bool, sqlx::Error> {
    let merged: Option<Option<bool>> =
        sqlx::query_scalar("SELECT merged_into = $1 FROM users WHERE id = $2")
            .bind(person)
            .bind(requester)
            .fetch_optional(pool)
            .await?;
    Ok(merged.flatten().unwrap_or(false))
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

pub(super) async fn hash_password(
    password: Option<&str>,
) -> Result<Option<String>, CreateUserError> {
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
