//! The mail channels' section of the settings (CONTRACT 7): each channel runs only when its
//! variable is set, and the engine runs as before without any of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

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
    /// `IMAP_CA_FILE`: PEM certificates of authorities trusted for an `imaps://` server besides
    /// the public ones (a private mail server's own authority); never a way to skip checking.
    pub imap_ca_file: Option<PathBuf>,
    /// `SMTP_URL`: where mail out goes, `smtp://host:25` (`?tls=required` for STARTTLS),
    /// `smtps://user:pass@host:465`; absent → no mail is sent.
    pub smtp_url: Option<SecretString>,
    /// `EMAIL_FROM`: the sender of mail out, e.g. `Helpdesk <support@example.com>` (required
    /// with `SMTP_URL`). Mail from this address is never ticketed.
    pub from: Option<String>,
}

impl EmailSettings {
    /// Reads the variables through `var` (the environment's non-empty values); an unusable
    /// value is named with the reason.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, (&'static str, String)> {
        let invalid =
            |name: &'static str, reason: &dyn std::fmt::Display| (name, reason.to_string());
        let listen_addr = var("SMTP_LISTEN_ADDR")
            .map(|v| v.parse().map_err(|e| invalid("SMTP_LISTEN_ADDR", &e)))
            .transpose()?;
        let inbound_addresses: Vec<String> = var("INBOUND_EMAIL_ADDRESSES")
            .map(|v| {
                v.split(',')
                    .map(|a| a.trim().to_lowercase())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if listen_addr.is_some() && inbound_addresses.is_empty() {
            return Err(invalid(
                "INBOUND_EMAIL_ADDRESSES",
                &"the SMTP listener needs at least one address to accept mail for",
            ));
        }
        let positive = |name: &'static str, default: usize| {
            var(name)
                .map(|v| {
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(name, &"must be a positive integer"))
                })
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        let smtp_url = var("SMTP_URL").map(SecretString::from);
        let from = var("EMAIL_FROM");
        if smtp_url.is_some() && from.is_none() {
            return Err(invalid("EMAIL_FROM", &"SMTP_URL needs a sender address"));
        }
        Ok(Self {
            listen_addr,
            inbound_addresses,
            max_bytes: positive("EMAIL_MAX_BYTES", DEFAULT_MAX_BYTES)?,
            imap_url: var("IMAP_URL").map(SecretString::from),
            imap_poll: Duration::from_millis(positive("IMAP_POLL_MS", 10_000)? as u64),
            imap_ca_file: var("IMAP_CA_FILE").map(PathBuf::from),
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
            .field("imap_ca_file", &self.imap_ca_file)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<EmailSettings, (&'static str, String)> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EmailSettings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn without_any_variable_no_channel_runs() {
        let s = read(&[]).unwrap();
        assert!(s.listen_addr.is_none() && s.imap_url.is_none() && s.smtp_url.is_none());
        assert_eq!(s.max_bytes, DEFAULT_MAX_BYTES);
    }

    #[test]
    fn channels_are_read_with_their_companions() {
        let s = read(&[
            ("SMTP_LISTEN_ADDR", "127.0.0.1:2525"),
            (
                "INBOUND_EMAIL_ADDRESSES",
                " Support@Example.com, help@example.com ",
            ),
            ("SMTP_URL", "smtp://127.0.0.1:25"),
            ("EMAIL_FROM", "Helpdesk <support@example.com>"),
            ("EMAIL_MAX_BYTES", "1000"),
            ("IMAP_POLL_MS", "250"),
        ])
        .unwrap();
        assert_eq!(
            s.inbound_addresses,
            ["support@example.com", "help@example.com"]
        );
        assert_eq!(s.max_bytes, 1000);
        assert_eq!(s.imap_poll, Duration::from_millis(250));
        assert!(
            !format!("{s:?}").contains("smtp://"),
            "the URL's credentials stay hidden"
        );
    }

    #[test]
    fn a_channel_missing_its_companion_is_named() {
        let listener = read(&[("SMTP_LISTEN_ADDR", "127.0.0.1:2525")]);
        assert_eq!(listener.unwrap_err().0, "INBOUND_EMAIL_ADDRESSES");
        let out = read(&[("SMTP_URL", "smtp://127.0.0.1:25")]);
        assert_eq!(out.unwrap_err().0, "EMAIL_FROM");
        let bad = read(&[("EMAIL_MAX_BYTES", "0")]);
        assert_eq!(bad.unwrap_err().0, "EMAIL_MAX_BYTES");
    }
}
