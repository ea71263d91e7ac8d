//! The password-reset mail (CONTRACT 11): the code, after `code:`, sent through `SMTP_URL` from
//! `EMAIL_FROM` right away. A reset code is worth nothing after 15 minutes, so it does not go
//! through the event-log outbox (which is for mail that must survive a crash): a failed send is
//! logged, and the user asks again.

use std::time::Duration;

use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::settings::EmailSettings;

/// Sends reset codes.
pub struct ResetMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl ResetMailer {
    /// A mailer when `SMTP_URL` and `EMAIL_FROM` are set; `None` otherwise (no mail is sent).
    pub fn from_settings(email: &EmailSettings) -> anyhow::Result<Option<Self>> {
        let (Some(url), Some(from)) = (&email.smtp_url, &email.from) else {
            return Ok(None);
        };
        let from: Mailbox = from.parse().context("EMAIL_FROM is not a mail address")?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .context("SMTP_URL is not an SMTP URL")?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(Some(Self { transport, from }))
    }

    /// Mails `code` to `to`.
    pub async fn send(&self, to: &str, code: &str) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("the user's address")?)
            .subject("Your ticketd password reset code")
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Someone asked to reset the password of this account.\n\n\
                 code: {code}\n\n\
                 The code is valid for 15 minutes and can be used once. \
                 If it was not you, ignore this mail: your password stays as it is.\n"
            ))
            .context("cannot build the reset mail")?;
        self.transport
            .send(message)
            .await
            .context("the SMTP server refused the reset mail")?;
        Ok(())
    }
}
