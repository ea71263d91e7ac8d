//! The mail channels' section of the settings (CONTRACT 7): each channel runs only when its
//! variable is set, and the engine runs as before without any of them.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::{invalid, list, var, SettingsError};

/// Default of `EMAIL_MAX_BYTES`: 25 MiB, what common mail servers accept.
pub const DEFAULT_MAX_BYTES: usize = 25 * 1024 * 1024;

/// Mail in and out.
#[derive(Clone, Default)]
pub struct EmailSettings {
    /// `SMTP_LISTEN_ADDR`: where the engine's SMTP listener accepts inbound mail relayed to it
    /// (e.g. `127.0.0.1:2525`); absent → no listener.
    pub listen_addr: Option<SocketAddr>,
    /// `INBOUND_EMAIL_ADDRESSES`: the addresses the listener accepts mail for (comma separated,
    /// compared without case); any other recipient is refused with 550.
    pub inbound_addresses: Vec<String>,
    /// `EMAIL_MAX_BYTES`: the largest inbound mail (default 25 MiB); a larger one is refused
    /// with 552 (SMTP) or recorded as ignored (IMAP).
    pub max_bytes: usize,
    /// `IMAP_URL`: a mailbox to poll, `imaps://user:pass@host/INBOX` (`imap://` without TLS);
    /// absent → no polling.
    pub imap_url: Option<SecretString>,
    /// `IMAP_POLL_MS`: the pause between two polls (default 10000).
    pub imap_poll: Duration,
    /// `SMTP_URL`: where mail out goes, `smtp://host:25` (`?tls=required` for STARTTLS),
    /// `smtps://user:pass@host:465`; absent → no mail is sent.
    pub smtp_url: Option<SecretString>,
    /// `EMAIL_FROM`: the sender of mail out, e.g. `Helpdesk <support@example.com>` (required
    /// with `SMTP_URL`). Mail from this address is never ticketed.
    pub from: Option<String>,
}

impl EmailSettings {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        let listen_addr = var("SMTP_LISTEN_ADDR")
            .map(|v| v.parse().map_err(|e| invalid("SMTP_LISTEN_ADDR", e)))
            .transpose()?;
        let inbound_addresses: Vec<String> = var("INBOUND_EMAIL_ADDRESSES")
            .map(|v| list(&v).into_iter().map(|a| a.to_lowercase()).collect())
            .unwrap_or_default();
        if listen_addr.is_some() && inbound_addresses.is_empty() {
            return Err(invalid(
                "INBOUND_EMAIL_ADDRESSES",
                "the SMTP listener needs at least one address to accept mail for",
            ));
        }
        let positive = |name: &'static str, default: usize| -> Result<usize, SettingsError> {
            var(name)
                .map(|v| {
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(name, "must be a positive integer"))
                })
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        let smtp_url = var("SMTP_URL").map(SecretString::from);
        let from = var("EMAIL_FROM");
        if smtp_url.is_some() && from.is_none() {
            return Err(invalid("EMAIL_FROM", "SMTP_URL needs a sender address"));
        }
        Ok(Self {
            listen_addr,
            inbound_addresses,
            max_bytes: positive("EMAIL_MAX_BYTES", DEFAULT_MAX_BYTES)?,
            imap_url: var("IMAP_URL").map(SecretString::from),
            imap_poll: Duration::from_millis(positive("IMAP_POLL_MS", 10_000)? as u64),
            smtp_url,
            from,
        })
    }

    /// Nothing configured: the engine runs without mail.
    pub fn disabled() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            imap_poll: Duration::from_secs(10),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("listen_addr", &self.listen_addr)
            .field("inbound_addresses", &self.inbound_addresses)
            .field("max_bytes", &self.max_bytes)
            .field("imap_url", &self.imap_url.as_ref().map(|_| "***"))
            .field("imap_poll", &self.imap_poll)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}
