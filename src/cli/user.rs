//! `ticketd user add` and `ticketd user import`.

use anyhow::Context;
use sqlx::PgPool;

use super::args::{UserAddArgs, UserImportArgs};
use crate::application::import_users;
use crate::domain::Role;
use crate::settings::Settings;
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

/// `ticketd user import FILE`: prints `{created, updated, errors}` as JSON; fails (exit 1) when
/// any line fails, and then nothing is applied.
pub async fn import(
    pool: &PgPool,
    settings: &Settings,
    args: UserImportArgs,
) -> anyhow::Result<()> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("cannot read standard input")?;
        bytes
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let applied = import_users::import(
        pool,
        &Recorder::system(&settings.source),
        &bytes,
        settings.default_phone_region,
        args.dry_run,
    )
    .await
    .context("cannot import the users")?
    .map_err(|refused| anyhow::anyhow!("{}: {refused}", args.file.display()))?;
    let errors: Vec<_> = applied
        .errors
        .iter()
        .map(|e| serde_json::json!({"line": e.line, "field": e.field, "message": e.message}))
        .collect();
    println!(
        "{}",
        serde_json::json!({"created": applied.created, "updated": applied.updated, "errors": errors})
    );
    if !applied.errors.is_empty() {
        anyhow::bail!(
            "{} line(s) failed; nothing was imported",
            applied.errors.len()
        );
    }
    Ok(())
}
