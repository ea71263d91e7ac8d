//! The command line (`ticketd --help`).

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::settings::Settings;
use crate::startup::{self, Application};
use crate::telemetry;
use ticket_projections::Projection;

/// ticketd: an event-sourced helpdesk ticket engine.
#[derive(Debug, Parser)]
#[command(name = "ticketd", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the API (the default way to run the engine).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Mint a token for a user, for development (HS256 with JWT_SECRET).
    Token(TokenArgs),
    /// Print a ticket's stored events as CloudEvents envelopes, one JSON object per line, in
    /// sequence order (an event not yet sequenced shows position 0).
    History {
        /// The ticket id.
        ticket: String,
    },
    /// Check hash chains; exits with status 1 if any chain is broken.
    Verify(VerifyArgs),
    /// Manage read models.
    Projections {
        /// What to do with read models.
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
}

/// `ticketd verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["ticket", "all"])))]
pub struct VerifyArgs {
    /// The ticket to check.
    pub ticket: Option<String>,
    /// Check every ticket in the store.
    #[arg(long)]
    pub all: bool,
}

/// `ticketd projections …`.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild read models from the whole event store, aside, then swap them in; the engine
    /// may keep serving meanwhile.
    Rebuild {
        /// One read model (default: all of them).
        name: Option<String>,
    },
}

/// `ticketd user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to the directory.
    Add(UserAddArgs),
}

/// `ticketd user add`.
#[derive(Debug, clap::Args)]
pub struct UserAddArgs {
    /// E-mail address (the login).
    #[arg(long)]
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// requester, agent, admin or auditor.
    #[arg(long)]
    pub role: String,
    /// Password for `POST /auth/login`; omit for token-only users.
    #[arg(long, env = "TICKETD_USER_PASSWORD")]
    pub password: Option<String>,
}

/// `ticketd token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// E-mail of a known user; with --role, a user is created if absent.
    #[arg(long)]
    pub email: String,
    /// Role for a new user.
    #[arg(long)]
    pub role: Option<String>,
    /// Display name for a new user (default: the e-mail's local part).
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env().context("invalid configuration")?;
    telemetry::init_subscriber(telemetry::get_subscriber(
        "info,ticketd=debug,sqlx=warn",
        settings.log_format,
        std::io::stderr,
    ));
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "serving");
            app.run_until_stopped(startup::shutdown_signal()).await
        }
        Command::Migrate => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User {
            command: UserCommand::Add(args),
        } => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            crate::users::cli_add(&pool, args).await
        }
        Command::History { ticket } => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            print_history(&pool, &ticket).await
        }
        Command::Verify(args) => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            verify(&pool, args).await
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { name },
        } => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            rebuild(&pool, name.as_deref()).await
        }
        Command::Token(args) => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            crate::auth::cli_token(&pool, &settings, args).await
        }
    }
}

fn parse_ticket(raw: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(raw.trim()).with_context(|| format!("'{raw}' is not a ticket id"))
}

/// `ticketd history <ticket>`.
async fn print_history(pool: &sqlx::PgPool, ticket: &str) -> anyhow::Result<()> {
    let id = parse_ticket(ticket)?;
    let events = ticket_projections::stored::read_ticket(pool, id, None, true).await?;
    if events.is_empty() {
        anyhow::bail!("no ticket {id}");
    }
    for envelope in events {
        println!("{}", serde_json::to_string(&envelope)?);
    }
    Ok(())
}

/// `ticketd verify [<ticket> | --all]`: one JSON line per ticket; an error (exit status 1)
/// when a chain is broken.
async fn verify(pool: &sqlx::PgPool, args: VerifyArgs) -> anyhow::Result<()> {
    use ticket_projections::verify;
    let print = |report: &verify::ChainReport| {
        println!(
            "{}",
            // A struct of plain members always serializes.
            serde_json::to_string(report).unwrap_or_default()
        );
    };
    match args.ticket {
        Some(ticket) if !args.all => {
            let id = parse_ticket(&ticket)?;
            let report = verify::verify_ticket(pool, id)
                .await?
                .with_context(|| format!("no ticket {id}"))?;
            print(&report);
            if !report.valid {
                anyhow::bail!("the hash chain of ticket {id} is broken");
            }
        }
        _ => {
            let mut checked = 0_usize;
            let invalid = verify::verify_all(pool, |report| {
                checked += 1;
                print(&report);
            })
            .await?;
            eprintln!("{checked} ticket(s) checked, {invalid} broken");
            if invalid > 0 {
                anyhow::bail!("{invalid} of {checked} hash chains are broken");
            }
        }
    }
    Ok(())
}

/// `ticketd projections rebuild [NAME]`.
async fn rebuild(pool: &sqlx::PgPool, name: Option<&str>) -> anyhow::Result<()> {
    let all = ticket_projections::read_models::all();
    let chosen: Vec<_> = match name {
        Some(name) => {
            let found: Vec<_> = all.iter().filter(|p| p.name() == name).cloned().collect();
            if found.is_empty() {
                let known: Vec<_> = all.iter().map(|p| p.name()).collect();
                anyhow::bail!("no read model named '{name}' (known: {})", known.join(", "));
            }
            found
        }
        None => all,
    };
    let chosen: Vec<&dyn Projection> = chosen.iter().map(|p| p.as_ref()).collect();
    let names: Vec<_> = chosen.iter().map(|p| p.name()).collect();
    let reports = ticket_projections::rebuild::rebuild_all(pool, &chosen)
        .await
        .with_context(|| format!("rebuilding {} failed", names.join(", ")))?;
    for report in reports {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
