//! E-mail in and out (CONTRACT 7): the SMTP listener and the IMAP poller turn mail into tickets
//! and comments through the application layer, and mail out follows the event log to write to
//! requesters. Each channel runs only when configured (`SMTP_LISTEN_ADDR`, `IMAP_URL`,
//! `SMTP_URL`), and `/readyz` reports each one's state.
//!
//! - [`message`]: reading a mail (MIME, HTML to text, loops, bad input).
//! - [`inbound`]: what a mail does: a ticket, a comment, or a recorded refusal; once per Message-ID.
//! - [`requester`]: the sender as a user of the directory.
//! - [`smtp_listener`], [`imap`]: the two ways mail comes in.
//! - [`outbound`]: mail out from the event log, through an outbox.
//! - [`reset_mail`]: password-reset codes, sent at once.
//! - [`status`]: the channels' states for `/readyz`.

pub mod imap;
pub mod inbound;
pub mod message;
pub mod outbound;
pub mod requester;
pub mod reset_mail;
pub mod smtp_listener;
pub mod status;

use std::sync::Arc;

use anyhow::Context;
use lettre::message::Mailbox;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::command_service::CommandService;
use crate::settings::Settings;

pub use status::EmailChannels;

/// The configured mail channels, built and bound, not yet running.
pub struct Mail {
    /// Shared by the listener and the poller.
    pub inbox: Arc<inbound::Inbox>,
    /// The bound SMTP listener and what it accepts.
    pub listener: Option<(Arc<TcpListener>, Arc<smtp_listener::ListenerConfig>)>,
    /// The IMAP poller.
    pub poller: Option<Arc<imap::Poller>>,
    /// Mail out.
    pub outbound: Option<Arc<outbound::Outbound>>,
    /// Their states.
    pub channels: EmailChannels,
}

impl Mail {
    /// Checks the mail settings and binds the listener; a malformed URL or address is an error.
    pub async fn build(
        settings: &Settings,
        pool: PgPool,
        commands: Arc<CommandService>,
    ) -> anyhow::Result<Self> {
        let email = &settings.email;
        let from: Option<Mailbox> = email
            .from
            .as_deref()
            .map(|f| f.parse().context("EMAIL_FROM is not a mail address"))
            .transpose()?;
        let mut own = email.inbound_addresses.clone();
        own.extend(from.as_ref().map(|f| f.email.to_string()));
        // Mail opens tickets in `other` where it is configured (no one chose a category).
        let category = settings
            .categories
            .iter()
            .find(|c| c.as_str() == "other")
            .or(settings.categories.first())
            .cloned()
            .unwrap_or_else(|| "other".into());
        let files = crate::attachments::Attachments::open(&settings.attachments)
            .context("cannot open the attachment store for mail in")?;
        let inbox = Arc::new(
            inbound::Inbox::new(
                pool,
                commands.clone(),
                own,
                category,
                settings.source.clone(),
            )
            .with_files(files),
        );
        let mut channels = EmailChannels::default();
        let listener = match email.listen_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for SMTP on {addr}"))?;
                let bound = listener.local_addr()?;
                channels.smtp_listener = Some(status::ChannelStatus::new(bound.to_string()));
                let config = smtp_listener::ListenerConfig {
                    recipients: email.inbound_addresses.clone(),
                    max_bytes: email.max_bytes,
                    hostname: from
                        .as_ref()
                        .map(|f| f.email.domain().to_string())
                        .unwrap_or_else(|| "ticketd".into()),
                };
                Some((Arc::new(listener), Arc::new(config)))
            }
            None => None,
        };
        let poller = match &email.imap_url {
            Some(url) => {
                let target = imap::ImapTarget::parse(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("IMAP_URL: {e}"))?;
                let tls = if target.tls {
                    Some(imap::tls_config(email.imap_ca_file.as_deref())?)
                } else {
                    None
                };
                let status = status::ChannelStatus::new(target.display());
                channels.imap = Some(status.clone());
                Some(Arc::new(imap::Poller {
                    target,
                    tls,
                    interval: email.imap_poll,
                    max_bytes: email.max_bytes,
                    inbox: inbox.clone(),
                    status,
                }))
            }
            None => None,
        };
        let outbound = match (&email.smtp_url, from) {
            (Some(url), Some(from)) => {
                let status = status::ChannelStatus::new(from.to_string());
                channels.outbound = Some(status.clone());
                Some(Arc::new(outbound::Outbound::new(
                    url.expose_secret(),
                    from,
                    commands,
                    status,
                )?))
            }
            _ => None,
        };
        Ok(Self {
            inbox,
            listener,
            poller,
            outbound,
            channels,
        })
    }

    /// The listener's port, when there is one (tests bind port 0).
    pub fn smtp_port(&self) -> Option<u16> {
        self.listener
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port())
    }
}

/// The `email` section of `/readyz`: each channel's state, `disabled` when not configured; mail
/// out adds its backlog (mails queued and unsent, and events it has yet to look at).
pub async fn report(channels: &EmailChannels, pool: &PgPool) -> Value {
    let show = |status: &Option<status::ChannelStatus>| match status {
        Some(s) => json!(s.report()),
        None => json!({"state": "disabled"}),
    };
    let mut outbound = show(&channels.outbound);
    if channels.outbound.is_some() {
        outbound["backlog"] = match outbound::backlog(pool).await {
            Ok((unsent, events)) => json!({"unsent": unsent, "events_to_read": events}),
            Err(_) => Value::Null,
        };
    }
    json!({
        "smtp_listener": show(&channels.smtp_listener),
        "imap": show(&channels.imap),
        "outbound": outbound,
    })
}
