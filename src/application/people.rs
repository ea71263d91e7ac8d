//! People: finding the person behind an intake (a web form, a chat, another system, a mail)
//! in the directory, or adding them.

use sqlx::{PgConnection, PgPool};
use ticket_nats::events::RequesterRef;

use crate::domain::Role;
use crate::store::user_stream::Recorder;
use crate::users::{self, CreateUserError, NewUser, Origin, User};

/// Who an intake names, checked: a name and at least one contact, normalized
/// ([`users::normalize_email`], [`users::normalize_phone`], [`users::check_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Display name, used only when the person is new.
    pub name: String,
    /// Normalized e-mail address.
    pub email: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
}

/// The requester an intake resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The user.
    pub user: User,
    /// True when the user was added by this resolution.
    pub created: bool,
}

impl Resolved {
    /// The requester as `ticket.created` names them.
    pub fn requester(&self) -> RequesterRef {
        RequesterRef {
            id: self.user.id,
            name: self.user.name.clone(),
            email: self.user.email.clone(),
        }
    }
}

/// How often a resolution starts over after losing a race to add the same person.
const ATTEMPTS: usize = 3;

/// Finds the requester by e-mail address first, then by phone number, following merges; fills
/// a missing e-mail or phone on the user found (never overwriting one, never one another user
/// holds; the name is left as it is); else adds a requester with no password (`login: false`).
///
/// Two intakes for the same new person race on the directory's unique indexes, not on a lock:
/// the loser finds the winner's user on its next attempt.
pub async fn resolve_requester(
    pool: &PgPool,
    recorder: &Recorder,
    contact: &Contact,
) -> Result<Resolved, CreateUserError> {
    resolve(pool, recorder, contact, true).await
}

async fn resolve(
    pool: &PgPool,
    recorder: &Recorder,
    contact: &Contact,
    look_first: bool,
) -> Result<Resolved, CreateUserError> {
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        match attempt(pool, recorder, contact, look_first).await {
            Err(error @ (CreateUserError::EmailTaken | CreateUserError::PhoneTaken)) => {
                tracing::debug!(%error, "a concurrent intake added the same person; looking again");
                last_error = Some(error);
            }
            other => return other,
        }
    }
    Err(last_error.unwrap_or(CreateUserError::EmailTaken))
}

/// [`resolve_requester`], given what a lookup made in the same round trip as another query
/// found by the contact's first field (e-mail address, else phone number): a returning person
/// with nothing to fill is resolved without another statement.
pub async fn resolve_requester_after(
    pool: &PgPool,
    recorder: &Recorder,
    contact: &Contact,
    found: Option<User>,
) -> Result<Resolved, CreateUserError> {
    match found {
        Some(user) if !fills_a_gap(&user, contact) => Ok(Resolved {
            user,
            created: false,
        }),
        // Not found, or with a gap to fill: the plain lookup was that one; what remains needs
        // the transaction (which looks by phone too).
        _ => resolve(pool, recorder, contact, false).await,
    }
}

/// The person the contact names, by e-mail address first, then by phone number.
async fn find(conn: &mut PgConnection, contact: &Contact) -> Result<Option<User>, sqlx::Error> {
    let email = contact.email.as_deref();
    let phone = contact.phone.as_deref();
    let mut found = None;
    if email.is_some() {
        found = users::find_by_contact(conn, email, None).await?;
    }
    if found.is_none() && phone.is_some() {
        found = users::find_by_contact(conn, None, phone).await?;
    }
    Ok(found)
}

/// Whether the contact gives `user` an e-mail or a phone they lack (to fill, if no one holds it).
fn fills_a_gap(user: &User, contact: &Contact) -> bool {
    (user.email.is_none() && contact.email.is_some())
        || (user.phone.is_none() && contact.phone.is_some())
}

async fn attempt(
    pool: &PgPool,
    recorder: &Recorder,
    contact: &Contact,
    look_first: bool,
) -> Result<Resolved, CreateUserError> {
    // Most intakes name a returning person with nothing to fill: one lookup, without the
    // transaction and row lock that adding or filling needs.
    if look_first {
        let mut conn = pool.acquire().await?;
        if let Some(user) = find(&mut conn, contact).await? {
            if !fills_a_gap(&user, contact) {
                return Ok(Resolved {
                    user,
                    created: false,
                });
            }
        }
    }
    let mut tx = pool.begin().await?;
    let email = contact.email.as_deref();
    let phone = contact.phone.as_deref();
    let found = find(&mut tx, contact).await?;
    let resolved = match found {
        Some(user) => {
            let user = users::changes::fill_contacts(&mut tx, recorder, user.id, email, phone)
                .await?
                .unwrap_or(user);
            Resolved {
                user,
                created: false,
            }
        }
        None => {
            let new = NewUser {
                email,
                phone,
                name: &contact.name,
                role: Role::Requester,
                password: None,
                origin: Origin::Intake,
            };
            let user = users::insert(&mut tx, recorder, uuid::Uuid::now_v7(), &new, None).await?;
            Resolved {
                user,
                created: true,
            }
        }
    };
    tx.commit().await?;
    Ok(resolved)
}
