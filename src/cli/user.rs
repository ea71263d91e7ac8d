//! `ticketd user add`.

use anyhow::Context;
use sqlx::PgPool;

use super::args::UserAddArgs;
use crate::domain::Role;
use crate::store::user_stream::Recorder;
use crate::users::{check_email, check_name, check_password, create, NewUser, Origin};

/// `ticketd user add`: adds the user and prints it as JSON.
pub async fn add(pool: &PgPool, source: &str, args: UserAddArgs) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let email = check_email(&args.email)
        .map_err(|e| problems.push(format!("--email: {e}")))
        .ok();
    let name = check_name(&args.name)
        .map_err(|e| problems.push(format!("--name: {e}")))
        .ok();
    let role = args
        .role
        .parse::<Role>()
        .map_err(|e| problems.push(format!("--role: {e}")))
        .ok();
    if let Some(p) = &args.password {
        if let Err(e) = check_password(p) {
            problems.push(format!("--password: {e}"));
        }
    }
    let (Some(email), Some(name), Some(role)) = (email, name, role) else {
        anyhow::bail!("{}", problems.join("; "));
    };
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    let email = email.to_lowercase();
    let new = NewUser {
        email: Some(&email),
        phone: None,
        name: &name,
        role,
        password: args.password.as_deref(),
        origin: Origin::Cli,
    };
    let user = create(pool, &Recorder::system(source), new)
        .await
        .with_context(|| format!("cannot add the user {email}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&user).context("cannot print the user")?
    );
    Ok(())
}
