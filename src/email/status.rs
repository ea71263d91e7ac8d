//! The mail channels' states as `/readyz` reports them: each configured channel (SMTP listener,
//! IMAP poller, mail out) says whether it works, what it did and its last error. A channel that
//! fails is reported, never a reason for 503: the API serves without mail.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use ticket_nats::Timestamp;

/// One channel's state, shared between its loop and `/readyz`; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ChannelStatus {
    inner: Arc<Mutex<Report>>,
}

/// What `/readyz` shows of a channel.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `starting`, `up` (working) or `failing` (its last attempt failed; it retries).
    pub state: &'static str,
    /// Where it listens or what it polls (without credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Mails applied (in) or sent (out).
    pub done: u64,
    /// Mails refused (SMTP: unknown recipient, too large).
    pub refused: u64,
    /// The last failure, while failing or since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
}

impl ChannelStatus {
    /// A channel at `address`, starting.
    pub fn new(address: impl Into<String>) -> Self {
        let status = Self::default();
        {
            let mut report = status.lock();
            report.state = "starting";
            report.address = Some(address.into());
        }
        status
    }

    fn lock(&self) -> MutexGuard<'_, Report> {
        // Nothing can be left half-written by a panic holding it: recover the value.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// It works.
    pub fn up(&self) {
        self.lock().state = "up";
    }

    /// It applied or sent a mail.
    pub fn accepted(&self) {
        let mut report = self.lock();
        report.state = "up";
        report.done += 1;
    }

    /// It refused a mail.
    pub fn refused(&self) {
        self.lock().refused += 1;
    }

    /// Its last attempt failed.
    pub fn failed(&self, error: String) {
        let mut report = self.lock();
        report.state = "failing";
        report.last_error = Some(error);
        report.last_error_at = Some(Timestamp::now());
    }

    /// A copy for a report.
    pub fn report(&self) -> Report {
        self.lock().clone()
    }
}

/// The channels this instance runs; `None` for one not configured.
#[derive(Debug, Clone, Default)]
pub struct EmailChannels {
    /// The SMTP listener (`SMTP_LISTEN_ADDR`).
    pub smtp_listener: Option<ChannelStatus>,
    /// The IMAP poller (`IMAP_URL`).
    pub imap: Option<ChannelStatus>,
    /// Mail out (`SMTP_URL`).
    pub outbound: Option<ChannelStatus>,
}
