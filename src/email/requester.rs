//! Who a mail is from: the directory's user with that address (compared without case), or a new
//! requester without a password. The one place mail finds people, so that a fuller lookup (by
//! phone too, filling missing contacts) replaces it here alone.

use anyhow::Context;
use sqlx::PgPool;

use crate::domain::Role;
use crate::users::{self, CreateUserError, Origin, User};

/// The user with `email`, created as a requester named `name` when there is none. Two mails
/// from a new address at once create one user: the loser of the unique index finds the winner's.
pub async fn find_or_create(pool: &PgPool, email: &str, name: &str) -> anyhow::Result<User> {
    for _ in 0..3 {
        if let Some(user) = users::find_by_email(pool, email)
            .await
            .context("cannot look up the sender")?
        {
            return Ok(user);
        }
        match users::create(pool, email, name, Role::Requester, None, Origin::Email).await {
            Ok(user) => return Ok(user),
            // Created meanwhile by a concurrent mail: found on the next turn.
            Err(CreateUserError::EmailTaken) => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("cannot add the sender")),
        }
    }
    anyhow::bail!("the sender's address is taken but its user cannot be read")
}
