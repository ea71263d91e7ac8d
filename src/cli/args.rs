//! The options of each subcommand.

use clap::Subcommand;

/// `ticketd verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["ticket", "all"])))]
pub struct VerifyArgs {
    /// The ticket to check.
    pub ticket: Option<String>,
    /// Check every ticket in the store.
    #[arg(long)]
    pub all: bool,
    /// Also check each stored attachment against the size and SHA-256 its comment recorded.
    #[arg(long)]
    pub files: bool,
}

/// `ticketd projections …`.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild read models from the whole event store, aside, then swap them in; the engine
    /// may keep serving meanwhile.
    Rebuild {
        /// One read model (default: all of them).
        name: Option<String>,
        /// Events applied per transaction. Larger batches write each ticket's rows fewer
        /// times and hold more events in memory (about 14 MB per 1,000).
        #[arg(
            long,
            default_value_t = ticket_projections::rebuild::BATCH_SIZE,
            value_parser = clap::value_parser!(i64).range(1..=1_000_000)
        )]
        batch_size: i64,
    },
}

/// `ticketd user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to the directory.
    Add(UserAddArgs),
    /// Create or update users from a CSV file (`email,name,role[,phone]`), all or nothing.
    Import(UserImportArgs),
}

/// `ticketd user import`.
#[derive(Debug, clap::Args)]
pub struct UserImportArgs {
    /// The CSV file (`-` for standard input).
    pub file: std::path::PathBuf,
    /// Only report what would be done.
    #[arg(long)]
    pub dry_run: bool,
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
