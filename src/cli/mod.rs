//! The command line (`ticketd --help`): what each subcommand does lives here and below, so the
//! engine's modules never depend on the command line.
//!
//! - [`args`]: the options of each subcommand.
//! - [`user`]: `ticketd user add`; [`token`]: `ticketd token`.
//! - [`events`]: `ticketd history`, `ticketd verify`, `ticketd projections rebuild`.

pub mod args;
pub mod events;
pub mod files;
pub mod token;
pub mod user;

use anyhow::Context;
use clap::{Parser, Subcommand};

pub use args::{
    ProjectionsCommand, TokenArgs, UserAddArgs, UserCommand, UserImportArgs, VerifyArgs,
};

use crate::db;
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
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            crate::field_definitions::record_unrecorded(&pool, &settings.source).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User {
            command: UserCommand::Add(args),
        } => {
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            user::add(&pool, &settings.source, args).await
        }
        Command::User {
            command: UserCommand::Import(args),
        } => {
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            user::import(&pool, &settings, args).await
        }
        Command::History { ticket } => {
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            events::print_history(&pool, &ticket).await
        }
        Command::Verify(args) => {
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            let files = args.files;
            let ticket = match (&args.ticket, args.all) {
                (Some(raw), false) => Some(
                    uuid::Uuid::parse_str(raw.trim())
                        .map_err(|_| anyhow::anyhow!("'{raw}' is not a ticket id"))?,
                ),
                _ => None,
            };
            let chains = events::verify(&pool, args).await;
            if !files {
                return chains;
            }
            // Files are checked even when a chain is broken: an operator wants both answers.
            let stored = files::verify_files(&pool, &settings, ticket).await;
            chains.and(stored)
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { name, batch_size },
        } => {
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            events::rebuild(&pool, &settings, name.as_deref(), batch_size).await
        }
        Command::Token(args) => {
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            token::mint(&pool, &settings, args).await
        }
    }
}
