//! The user directory: users added by the CLI or the API, and users first seen in a valid token.
//! E-mail addresses are unique regardless of case (the `users_email` index on `lower(email)`).

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::password;
use crate::domain::Role;

/// A known user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// Id (the tokens' `sub`).
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
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
    /// The sender of a mail that came in.
    Email,
}

impl Origin {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Api => "api",
            Origin::Token => "token",
            Origin::Email => "email",
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

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// Another user has this e-mail address (compared without case).
    #[error("a user with this e-mail exists")]
    EmailTaken,
    /// The password could not be hashed.
    #[error("cannot hash the password")]
    Hash(#[source] anyhow::Error),
    /// The database failed.
    #[error("cannot store the user")]
    Database(#[from] sqlx::Error),
}

type Row = (Uuid, String, String, String);

fn from_row((id, email, name, role): Row) -> Option<User> {
    match role.parse() {
        Ok(role) => Some(User {
            id,
            email,
            name,
            role,
        }),
        Err(_) => {
            // The table's CHECK constraint makes this unreachable short of a schema change.
            tracing::warn!(user_id = %id, role = %role, "skipping a user with an unknown role");
            None
        }
    }
}

/// True for a unique violation of the `users_email` index.
fn is_email_conflict(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some("users_email"))
}

/// Finds a user by id.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as("SELECT id, email, name, role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(from_row))
}

/// Finds a user by e-mail address, whatever its case.
pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    Ok(find_credentials(pool, email).await?.map(|(user, _)| user))
}

/// Finds a user by e-mail address, whatever its case, with its password hash (`None` for users
/// who only ever arrive with a token).
pub async fn find_credentials(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let row: Option<(Uuid, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, email, name, role, password_hash FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id, email, name, role, hash)| {
        from_row((id, email, name, role)).map(|user| (user, hash))
    }))
}

/// Adds a user with a new UUID v7 id. `email` and `name` are expected checked
/// ([`check_email`], [`check_name`]); a `password` is stored as an Argon2id hash.
pub async fn create(
    pool: &PgPool,
    email: &str,
    name: &str,
    role: Role,
    password: Option<&str>,
    origin: Origin,
) -> Result<User, CreateUserError> {
    let password_hash = match password {
        Some(p) => Some(
            password::hash(p.to_string())
                .await
                .map_err(CreateUserError::Hash)?,
        ),
        None => None,
    };
    let user = User {
        id: Uuid::now_v7(),
        email: email.to_string(),
        name: name.to_string(),
        role,
    };
    sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash, origin) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(origin.as_str())
    .execute(pool)
    .await
    .map_err(|e| {
        if is_email_conflict(&e) {
            CreateUserError::EmailTaken
        } else {
            CreateUserError::Database(e)
        }
    })?;
    Ok(user)
}

/// Every user, or those with `role`, by name (then id, so that equal names keep one order).
pub async fn list(pool: &PgPool, role: Option<Role>) -> Result<Vec<User>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        r#"SELECT id, email, name, role FROM users
           WHERE $1::text IS NULL OR role = $1
           ORDER BY name COLLATE "C", id"#,
    )
    .bind(role.map(|r| r.as_str()))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

/// Gives user `id` the role `role`; `None` when no such user exists. A token the user already
/// holds keeps the role it was signed with until it expires.
pub async fn set_role(pool: &PgPool, id: Uuid, role: Role) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as("UPDATE users SET role = $2 WHERE id = $1 RETURNING id, email, name, role")
            .bind(id)
            .bind(role.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(from_row))
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
pub async fn ensure_from_token(pool: &PgPool, user: &User) -> Result<Ensured, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, name, role, origin) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(Origin::Token.as_str())
    .execute(pool)
    .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => Ok(Ensured::Inserted),
        Ok(_) => Ok(Ensured::Known),
        Err(e) if is_email_conflict(&e) => Ok(Ensured::EmailTaken),
        Err(e) => Err(e),
    }
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

    #[tokio::test]
    async fn create_find_and_list_users() {
        let db = TestDb::new().await;
        let pool = &db.pool;

        let bob = create(
            pool,
            "Bob@Example.com",
            "bob",
            Role::Agent,
            Some("password1"),
            Origin::Api,
        )
        .await
        .unwrap();
        let alice = create(
            pool,
            "alice@example.com",
            "Alice",
            Role::Admin,
            None,
            Origin::Cli,
        )
        .await
        .unwrap();
        let carol = create(
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
        create(
            &db.pool,
            "dup@example.com",
            "One",
            Role::Agent,
            None,
            Origin::Api,
        )
        .await
        .unwrap();

        let again = create(
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
            email: "tok@example.com".into(),
            name: "Tok".into(),
            role: Role::Requester,
        };

        assert_eq!(
            ensure_from_token(&db.pool, &user).await.unwrap(),
            Ensured::Inserted
        );
        assert_eq!(
            ensure_from_token(&db.pool, &user).await.unwrap(),
            Ensured::Known
        );
        let renamed = User {
            name: "Renamed".into(),
            ..user.clone()
        };
        assert_eq!(
            ensure_from_token(&db.pool, &renamed).await.unwrap(),
            Ensured::Known
        );
        let other = User {
            id: Uuid::new_v4(),
            email: "TOK@example.com".into(),
            ..user.clone()
        };
        assert_eq!(
            ensure_from_token(&db.pool, &other).await.unwrap(),
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
