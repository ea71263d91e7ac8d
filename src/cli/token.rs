//! `ticketd token`.

use anyhow::Context;
use sqlx::PgPool;

use super::args::TokenArgs;
use crate::auth::jwt;
use crate::domain::Role;
use crate::settings::Settings;
use crate::store::user_stream::Recorder;
use crate::users::{self, Origin};

/// `ticketd token`: prints a token for the user with `--email`, adding the user first (origin
/// `cli`) when it is unknown and `--role` is given.
pub async fn mint(pool: &PgPool, settings: &Settings, args: TokenArgs) -> anyhow::Result<()> {
    if settings.auth.secret.is_none() {
        anyhow::bail!("`ticketd token` signs with JWT_SECRET, which is not set");
    }
    if args.ttl <= 0 {
        anyhow::bail!("--ttl must be a positive number of seconds");
    }
    let role = args
        .role
        .as_deref()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| anyhow::anyhow!("--role: {e}"))
        })
        .transpose()?;
    let user = match users::find_by_email(pool, &args.email)
        .await
        .context("cannot look the user up")?
    {
        Some(user) => {
            if role.is_some_and(|r| r != user.role) {
                tracing::warn!(
                    role = %user.role,
                    "the user exists with another role; the token carries the directory's role"
                );
            }
            user
        }
        None => {
            let Some(role) = role else {
                anyhow::bail!(
                    "no user has the e-mail {}; pass --role (and --name) to add one",
                    args.email
                );
            };
            let email =
                users::check_email(&args.email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let name = args
                .name
                .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
            let name = users::check_name(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let email = email.to_lowercase();
            let new = users::NewUser {
                email: Some(&email),
                phone: None,
                name: &name,
                role,
                password: None,
                origin: Origin::Cli,
            };
            users::create(pool, &Recorder::system(&settings.source), new)
                .await
                .context("cannot add the user")?
        }
    };
    let token = jwt::mint(&settings.auth, &user, args.ttl)?;
    println!("{token}");
    Ok(())
}
