//! The command line (`ticketd --help`).

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::settings::Settings;
use crate::startup::{self, Application};
use crate::telemetry;

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
        Command::Token(args) => {
            let pool = startup::connect(&settings.database_url).await?;
            startup::migrate(&pool).await?;
            crate::auth::cli_token(&pool, &settings, args).await
        }
    }
}
