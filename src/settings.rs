//! The engine's configuration: one typed tree, read once at start-up from the environment (and a
//! `.env` file, loaded by `main`). `.env.sample` documents every variable again.

use std::net::SocketAddr;

use secrecy::SecretString;

use crate::domain::values::ValueError;
use crate::domain::SlaPolicy;

mod accounts;
mod attachments;
mod email;
pub use accounts::AccountSettings;
pub use attachments::AttachmentSettings;
pub use email::EmailSettings;

/// Default ticket categories (CONTRACT 1).
pub const DEFAULT_CATEGORIES: &str =
    "hardware,software,network,system,email,printer,telephony,access,backup,onboarding,other";

/// Default of `TICKETD_REQUEST_TIMEOUT_MS`.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 30_000;

/// Default of `TICKETD_READ_WAIT_MS`: the 5 s of CONTRACT 2.5.
pub const DEFAULT_READ_WAIT_MS: u32 = 5_000;

/// Everything the engine is configured with. Its `Debug` hides the passwords of the URLs.
#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`: the Postgres database holding events and read models.
    pub database_url: String,
    /// `BIND_ADDR`: where the HTTP API listens (default `127.0.0.1:8080`; port 0 picks one).
    pub bind_addr: SocketAddr,
    /// `JWT_*`: how tokens are checked.
    pub auth: AuthSettings,
    /// `TICKETD_SOURCE`: the CloudEvents `source` of new events (default `ticketd`).
    pub source: String,
    /// `TICKETD_CATEGORIES`: the allowed categories, comma separated.
    pub categories: Vec<String>,
    /// `TICKETD_SLA`: SLA targets, e.g. `urgent=900/3600` (seconds; see `SlaPolicy::parse`).
    pub sla: SlaPolicy,
    /// `SLA_DEFAULT_CALENDAR`: the id of the calendar SLA targets count when their priority's
    /// policy names none (unset: 24×7).
    pub sla_default_calendar: Option<uuid::Uuid>,
    /// `TICKETD_SLA_SWEEP_MS`: the longest the SLA timer sleeps between two looks (default
    /// 1000 ms); it wakes at the next due instant, or earlier when tickets or policies change.
    pub sla_sweep_interval: std::time::Duration,
    /// `TICKETD_RATE_LIMIT_PER_SECOND` / `_BURST`: per-caller request rate (default 50/s, burst 200).
    pub rate_limit: RateLimit,
    /// `TICKETD_REQUEST_TIMEOUT_MS`: how long an HTTP request may run before it is answered 503
    /// with `Retry-After` (default 30000 ms; WebSockets are exempt, read-model waits add their 5 s).
    pub request_timeout: std::time::Duration,
    /// `TICKETD_READ_WAIT_MS`: how long a query with `min_position` / `min_version` waits for the
    /// read models before answering 503 (default 5000 ms, the contract's bound).
    pub read_wait: std::time::Duration,
    /// `NATS_URL`: JetStream for publishing events; absent → nothing is published.
    pub nats_url: Option<String>,
    /// `NATS_STREAM`: the stream's name (default `TICKETS`).
    pub nats_stream: String,
    /// `NATS_SUBJECT_PREFIX`: the first subject token (default `tickets`).
    pub nats_subject_prefix: String,
    /// `ALLOWED_ORIGINS`: origins allowed to open a WebSocket; empty → the server's own origin.
    pub allowed_origins: Vec<String>,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `TICKETD_POSITIONS_HOLD_LIMIT_SECS`: how long committed events may wait for a position
    /// (or an event-writing transaction stay open) before `/readyz` answers 503 (default 10).
    pub positions_hold_limit: std::time::Duration,
    /// `DEFAULT_PHONE_REGION`: the country (ISO 3166 code, e.g. `BR`) of phone numbers given
    /// without a `+` country code; none → such numbers are refused.
    pub default_phone_region: Option<phonenumber::country::Id>,
    /// `SMTP_LISTEN_ADDR`, `IMAP_URL`, `SMTP_URL` and their companions: mail in and out.
    pub email: EmailSettings,
    /// Webhook delivery: allow-lists (`WEBHOOK_ALLOW_HTTP_HOSTS`, `WEBHOOK_ALLOW_PRIVATE_HOSTS`),
    /// the retry schedule (`WEBHOOK_RETRY_SCHEDULE`), timeout, auto-disable period, concurrency.
    pub webhooks: crate::webhooks::WebhookSettings,
    /// Notification channels and rules: `TELEGRAM_API_URL`, `PUBLIC_URL`,
    /// `NOTIFY_RETRY_SCHEDULE`.
    pub notify: crate::notify::NotifySettings,
    /// `REFRESH_TTL`, `LOGIN_RATE_LIMIT`: sessions and credential rate limits.
    pub accounts: AccountSettings,
    /// `ATTACHMENT_STORE`, `ATTACHMENT_DIR`, `ATTACHMENT_MAX_BYTES`: files on comments.
    pub attachments: AttachmentSettings,
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `JWT_SECRET`: HS256 secret, used as the raw string (at least 32 bytes).
    pub secret: Option<SecretString>,
    /// `JWT_PUBLIC_KEY`: PEM of an RSA (RS256) or Ed25519 (EdDSA) public key.
    pub public_key: Option<String>,
    /// `JWKS_URL`: a JWKS document to fetch keys from (cached, refreshed on an unknown `kid`).
    pub jwks_url: Option<String>,
    /// `JWT_ISSUER` (default `ticketd`).
    pub issuer: String,
    /// `JWT_AUDIENCE` (default `ticketd-api`).
    pub audience: String,
    /// Lifetime of tokens the engine mints (login, CLI), in seconds (default one hour).
    pub token_ttl_secs: i64,
}

/// Requests per caller.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for deployments.
    Json,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}: {reason}")]
pub struct SettingsError {
    name: &'static str,
    reason: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn invalid(name: &'static str, reason: impl ToString) -> SettingsError {
    SettingsError {
        name,
        reason: reason.to_string(),
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Settings {
    /// Checks `category` against the configured list (the one rule, for commands and queries).
    pub fn check_category(&self, category: &str) -> Result<(), ValueError> {
        if self.categories.iter().any(|known| known == category) {
            Ok(())
        } else {
            Err(ValueError::NotOneOf {
                what: "category",
                names: self.categories.join(", "),
            })
        }
    }

    /// Reads the environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/ticketd".into());
        let bind_addr = var("BIND_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| invalid("BIND_ADDR", e))?;
        let secret = var("JWT_SECRET").map(SecretString::from);
        if let Some(s) = &secret {
            use secrecy::ExposeSecret;
            if s.expose_secret().len() < 32 {
                return Err(invalid("JWT_SECRET", "must be at least 32 bytes"));
            }
        }
        let auth = AuthSettings {
            secret,
            public_key: var("JWT_PUBLIC_KEY"),
            jwks_url: var("JWKS_URL"),
            issuer: var("JWT_ISSUER").unwrap_or_else(|| "ticketd".into()),
            audience: var("JWT_AUDIENCE").unwrap_or_else(|| "ticketd-api".into()),
            token_ttl_secs: var("JWT_TTL_SECONDS")
                .map(|v| v.parse().map_err(|e| invalid("JWT_TTL_SECONDS", e)))
                .transpose()?
                .unwrap_or(3600),
        };
        if auth.secret.is_none() && auth.public_key.is_none() && auth.jwks_url.is_none() {
            return Err(invalid(
                "JWT_SECRET",
                "one of JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL must be set",
            ));
        }
        let categories =
            list(&var("TICKETD_CATEGORIES").unwrap_or_else(|| DEFAULT_CATEGORIES.into()));
        if categories.is_empty() {
            return Err(invalid("TICKETD_CATEGORIES", "no category given"));
        }
        let sla = var("TICKETD_SLA")
            .map(|spec| SlaPolicy::parse(&spec).map_err(|e| invalid("TICKETD_SLA", e)))
            .transpose()?
            .unwrap_or_default();
        let sla_default_calendar = var("SLA_DEFAULT_CALENDAR")
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                uuid::Uuid::parse_str(v.trim())
                    .map_err(|_| invalid("SLA_DEFAULT_CALENDAR", "must be a calendar id (UUID)"))
            })
            .transpose()?;
        let number = |name: &'static str, default: u32| -> Result<u32, SettingsError> {
            var(name)
                .map(|v| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(name, "must be a positive integer"))
                })
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        let sla_sweep_interval =
            std::time::Duration::from_millis(number("TICKETD_SLA_SWEEP_MS", 1000)?.into());
        let rate_limit = RateLimit {
            per_second: number("TICKETD_RATE_LIMIT_PER_SECOND", 50)?,
            burst: number("TICKETD_RATE_LIMIT_BURST", 200)?,
        };
        let request_timeout = std::time::Duration::from_millis(
            number("TICKETD_REQUEST_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT_MS)?.into(),
        );
        let read_wait = std::time::Duration::from_millis(
            number("TICKETD_READ_WAIT_MS", DEFAULT_READ_WAIT_MS)?.into(),
        );
        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("'{other}' is not text or json"),
                ))
            }
        };
        Ok(Self {
            database_url,
            bind_addr,
            auth,
            source: var("TICKETD_SOURCE").unwrap_or_else(|| "ticketd".into()),
            categories,
            sla,
            sla_default_calendar,
            sla_sweep_interval,
            rate_limit,
            request_timeout,
            read_wait,
            nats_url: var("NATS_URL"),
            nats_stream: var("NATS_STREAM").unwrap_or_else(|| "TICKETS".into()),
            nats_subject_prefix: var("NATS_SUBJECT_PREFIX").unwrap_or_else(|| "tickets".into()),
            allowed_origins: var("ALLOWED_ORIGINS").map(|v| list(&v)).unwrap_or_default(),
            log_format,
            positions_hold_limit: std::time::Duration::from_secs(
                number("TICKETD_POSITIONS_HOLD_LIMIT_SECS", 10)?.into(),
            ),
            default_phone_region: match var("DEFAULT_PHONE_REGION") {
                None => None,
                Some(code) => Some(code.trim().to_uppercase().parse().map_err(|_| {
                    invalid(
                        "DEFAULT_PHONE_REGION",
                        format!("'{code}' is not a country code"),
                    )
                })?),
            },
            email: EmailSettings::from_vars(var).map_err(|(name, reason)| invalid(name, reason))?,
            webhooks: webhook_settings(&number)?,
            notify: notify_settings(bind_addr)?,
            accounts: AccountSettings::from_vars(var)
                .map_err(|(name, reason)| invalid(name, reason))?,
            attachments: AttachmentSettings::from_vars(var)
                .map_err(|(name, reason)| invalid(name, reason))?,
        })
    }

    /// Settings for a test or a tool: everything at its default, HS256 with `secret`.
    pub fn for_database(database_url: &str, secret: &str) -> Self {
        Self {
            database_url: database_url.to_string(),
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: AuthSettings {
                secret: Some(SecretString::from(secret.to_string())),
                public_key: None,
                jwks_url: None,
                issuer: "ticketd".into(),
                audience: "ticketd-api".into(),
                token_ttl_secs: 3600,
            },
            source: "ticketd".into(),
            categories: list(DEFAULT_CATEGORIES),
            sla: SlaPolicy::default(),
            sla_default_calendar: None,
            sla_sweep_interval: std::time::Duration::from_millis(200),
            rate_limit: RateLimit {
                per_second: 10_000,
                burst: 10_000,
            },
            request_timeout: std::time::Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS.into()),
            read_wait: std::time::Duration::from_millis(DEFAULT_READ_WAIT_MS.into()),
            nats_url: None,
            nats_stream: "TICKETS".into(),
            nats_subject_prefix: "tickets".into(),
            allowed_origins: Vec::new(),
            log_format: LogFormat::Text,
            positions_hold_limit: std::time::Duration::from_secs(10),
            default_phone_region: Some(phonenumber::country::Id::BR),
            email: EmailSettings::disabled(),
            webhooks: crate::webhooks::WebhookSettings::default(),
            notify: crate::notify::NotifySettings::default(),
            accounts: AccountSettings::default(),
            attachments: AttachmentSettings::temporary(),
        }
    }
}

/// The `TELEGRAM_API_URL`, `PUBLIC_URL` and `NOTIFY_RETRY_SCHEDULE` variables.
fn notify_settings(bind_addr: SocketAddr) -> Result<crate::notify::NotifySettings, SettingsError> {
    use crate::notify::NotifySettings;
    use crate::webhooks::config::parse_schedule;
    let defaults = NotifySettings::default();
    let url = |name: &'static str, value: String| -> Result<String, SettingsError> {
        match url::Url::parse(&value) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                Ok(value.trim_end_matches('/').to_string())
            }
            _ => Err(invalid(name, "must be an http or https URL")),
        }
    };
    Ok(NotifySettings {
        telegram_api_url: url(
            "TELEGRAM_API_URL",
            var("TELEGRAM_API_URL").unwrap_or(defaults.telegram_api_url),
        )?,
        public_url: url(
            "PUBLIC_URL",
            var("PUBLIC_URL").unwrap_or_else(|| format!("http://{bind_addr}")),
        )?,
        retry_schedule: var("NOTIFY_RETRY_SCHEDULE")
            .map(|v| parse_schedule(&v).map_err(|e| invalid("NOTIFY_RETRY_SCHEDULE", e)))
            .transpose()?
            .unwrap_or(defaults.retry_schedule),
        timeout: defaults.timeout,
    })
}

/// The `WEBHOOK_*` variables.
fn webhook_settings(
    number: &dyn Fn(&'static str, u32) -> Result<u32, SettingsError>,
) -> Result<crate::webhooks::WebhookSettings, SettingsError> {
    use crate::webhooks::config::{parse_schedule, WebhookSettings};
    let defaults = WebhookSettings::default();
    Ok(WebhookSettings {
        allow_http_hosts: var("WEBHOOK_ALLOW_HTTP_HOSTS")
            .map(|v| list(&v))
            .unwrap_or_default(),
        allow_private_hosts: var("WEBHOOK_ALLOW_PRIVATE_HOSTS")
            .map(|v| list(&v))
            .unwrap_or_default(),
        retry_schedule: var("WEBHOOK_RETRY_SCHEDULE")
            .map(|v| parse_schedule(&v).map_err(|e| invalid("WEBHOOK_RETRY_SCHEDULE", e)))
            .transpose()?
            .unwrap_or(defaults.retry_schedule),
        timeout: std::time::Duration::from_millis(number("WEBHOOK_TIMEOUT_MS", 10_000)?.into()),
        disable_after: std::time::Duration::from_secs(
            number("WEBHOOK_DISABLE_AFTER_SECS", 24 * 3600)?.into(),
        ),
        concurrency: number("WEBHOOK_CONCURRENCY", 4)? as usize,
    })
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind_addr", &self.bind_addr)
            .field("auth", &self.auth)
            .field("source", &self.source)
            .field("categories", &self.categories)
            .field("sla", &self.sla)
            .field("sla_default_calendar", &self.sla_default_calendar)
            .field("sla_sweep_interval", &self.sla_sweep_interval)
            .field("rate_limit", &self.rate_limit)
            .field("request_timeout", &self.request_timeout)
            .field("read_wait", &self.read_wait)
            .field("nats_url", &self.nats_url.as_deref().map(redact_url))
            .field("nats_stream", &self.nats_stream)
            .field("nats_subject_prefix", &self.nats_subject_prefix)
            .field("allowed_origins", &self.allowed_origins)
            .field("log_format", &self.log_format)
            .field("positions_hold_limit", &self.positions_hold_limit)
            .field("default_phone_region", &self.default_phone_region)
            .field("email", &self.email)
            .field("webhooks", &self.webhooks)
            .field("notify", &self.notify)
            // Not the S3 options, which may hold credentials.
            .field("attachment_store", &self.attachments.store)
            .field("attachment_dir", &self.attachments.dir)
            .field("attachment_max_bytes", &self.attachments.max_bytes)
            .finish()
    }
}

/// `url` with the password of its user info replaced, so that it can be logged.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The last `@` ends the user info: a password may itself hold an `@`.
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn debug_output_hides_the_database_and_nats_passwords() {
        let mut settings =
            Settings::for_database("postgres://app:s3cr3t@db.example:5432/ticketd", "x");
        settings.nats_url = Some("nats://bus:hunter2@nats.example:4222".into());

        let shown = format!("{settings:?}");

        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.example:5432/ticketd"),
            "{shown}"
        );
        assert!(
            shown.contains("nats://bus:***@nats.example:4222"),
            "{shown}"
        );
    }

    #[test]
    fn urls_without_a_password_are_shown_as_they_are() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres:///ticketd?host=/run/postgresql",
            "nats://127.0.0.1:4222",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url, "{url}");
        }
    }

    proptest! {
        #[test]
        fn no_password_survives_redaction(
            user in "[a-z]{1,8}",
            password in "[ -~]{1,24}",
            host in "[a-z]{1,10}",
        ) {
            // `/`, `?` and `#` end the authority; a real URL percent-encodes them in a password.
            prop_assume!(!password.contains(['/', '?', '#']));
            let url = format!("postgres://{user}:{password}@{host}:5432/db");
            let shown = redact_url(&url);
            prop_assert_eq!(shown, format!("postgres://{user}:***@{host}:5432/db"));
        }
    }
}
