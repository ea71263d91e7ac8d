//! Who a mail is from: the requester intake resolves from the sender's address (the directory's
//! one lookup, [`resolve_requester`]), added as a requester without a password when unknown.

use anyhow::Context;
use sqlx::PgPool;

use crate::application::people::{resolve_requester, Contact};
use crate::store::user_stream::Recorder;
use crate::users::{self, User};

/// The user behind the address `email` (checked when the mail was read), added as a requester
/// named `name` when no one has it. Two mails from a new address at once add one user.
pub async fn find_or_create(
    pool: &PgPool,
    source: &str,
    email: &str,
    name: &str,
) -> anyhow::Result<User> {
    let contact = Contact {
        name: name.to_string(),
        email: Some(users::normalize_email(email).context("the sender's address")?),
        phone: None,
    };
    let resolved = resolve_requester(pool, &Recorder::system(source), &contact)
        .await
        .context("cannot find or add the sender")?;
    Ok(resolved.user)
}
