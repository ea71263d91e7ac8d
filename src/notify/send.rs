//! Sending one notification: a Telegram `sendMessage`, a Slack incoming-webhook post, or a
//! mail. Each answer is judged as the service documents it: Telegram's `{"ok":false,
//! "error_code":429,"parameters":{"retry_after":N}}` and Slack's `429` with `Retry-After` say
//! when to try again; other 4xx answers are final; 5xx and network failures are retried.
//!
//! Secrets stay out of every error text and log: the bot token is part of the Telegram URL,
//! and the Slack URL is itself the secret, so request errors are reported without their URL.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use ticket_nats::error::chain;

use super::config::NotifySettings;
use crate::webhooks::send::read_some;
use crate::webhooks::target::{self, CheckedResolver};
use crate::webhooks::WebhookSettings;

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The service took it.
    Sent,
    /// Try again; not before `after` when the service said so.
    Retry {
        /// What went wrong.
        error: String,
        /// The service's own wait (Telegram `retry_after`, Slack `Retry-After`).
        after: Option<Duration>,
    },
    /// It will never be taken (a bad token, an unknown chat, a refused address).
    Failed {
        /// Why.
        error: String,
    },
}

/// A notification to send, with what its channel needs.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `email`, `telegram` or `slack`.
    pub kind: String,
    /// The channel's public configuration.
    pub config: Value,
    /// The bot token or the webhook URL.
    pub secret: Option<String>,
    /// The mail's subject.
    pub subject: String,
    /// The text.
    pub text: String,
    /// The mail's recipients.
    pub recipients: Vec<String>,
}

/// The mail transport and sender address, when `SMTP_URL` and `EMAIL_FROM` are set.
#[derive(Clone)]
pub struct Mailer {
    /// Where mail goes.
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Who it is from.
    pub from: Mailbox,
}

/// Sends notifications; one per engine.
#[derive(Clone)]
pub struct Sender {
    /// For the Bot API the operator configured.
    telegram: reqwest::Client,
    /// For Slack URLs admins enter: resolved through the webhook SSRF policy.
    slack: reqwest::Client,
    mailer: Option<Mailer>,
    settings: Arc<NotifySettings>,
    webhooks: Arc<WebhookSettings>,
}

impl Sender {
    /// A sender with the engine's settings.
    pub fn new(
        settings: &NotifySettings,
        webhooks: &WebhookSettings,
        mailer: Option<Mailer>,
    ) -> Result<Self, reqwest::Error> {
        let agent = concat!("ticketd-notify/", env!("CARGO_PKG_VERSION"));
        let telegram = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(settings.timeout)
            .user_agent(agent)
            .build()?;
        let slack = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver::new(webhooks)))
            .redirect(Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .user_agent(agent)
            .build()?;
        Ok(Self {
            telegram,
            slack,
            mailer,
            settings: Arc::new(settings.clone()),
            webhooks: Arc::new(webhooks.clone()),
        })
    }

    /// Makes one attempt.
    pub async fn send(&self, message: &Notice) -> Outcome {
        match message.kind.as_str() {
            "telegram" => self.telegram(message).await,
            "slack" => self.slack(message).await,
            "email" => self.mail(message).await,
            other => Outcome::Failed {
                error: format!("unknown channel kind '{other}'"),
            },
        }
    }

    async fn telegram(&self, message: &Notice) -> Outcome {
        let Some(token) = &message.secret else {
            return Outcome::Failed {
                error: "the channel has no bot token".into(),
            };
        };
        let url = format!(
            "{}/bot{token}/sendMessage",
            self.settings.telegram_api_url.trim_end_matches('/')
        );
        let body = json!({
            "chat_id": message.config.get("chat_id").cloned().unwrap_or(Value::Null),
            "text": message.text,
        });
        let response = match self.telegram.post(url).json(&body).send().await {
            Ok(response) => response,
            Err(error) => return request_failed(error),
        };
        let status = response.status();
        let text = read_some(response).await;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() && answer.get("ok") == Some(&Value::Bool(true)) {
            return Outcome::Sent;
        }
        let description = answer
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or(text.as_str());
        let error = format!("Telegram answered HTTP {}: {description}", status.as_u16());
        let retry_after = answer
            .pointer("/parameters/retry_after")
            .and_then(Value::as_u64)
            .map(Duration::from_secs);
        judge(status.as_u16(), error, retry_after)
    }

    async fn slack(&self, message: &Notice) -> Outcome {
        let Some(url) = &message.secret else {
            return Outcome::Failed {
                error: "the channel has no webhook URL".into(),
            };
        };
        // Checked again at every attempt, as for webhooks: the allow-lists may have changed.
        let url = match target::parse(url, &self.webhooks)
            .and_then(|url| target::check_literal(&url, &self.webhooks).map(|()| url))
        {
            Ok(url) => url,
            Err(error) => {
                return Outcome::Failed {
                    error: format!("the webhook URL {error}"),
                }
            }
        };
        let response = match self
            .slack
            .post(url)
            .json(&json!({ "text": message.text }))
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => return request_failed(error),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = read_some(response).await;
        if status.is_success() {
            return Outcome::Sent;
        }
        let error = format!("Slack answered HTTP {}: {text}", status.as_u16());
        judge(status.as_u16(), error, retry_after)
    }

    async fn mail(&self, message: &Notice) -> Outcome {
        let Some(mailer) = &self.mailer else {
            return Outcome::Failed {
                error: "mail is not configured (SMTP_URL and EMAIL_FROM)".into(),
            };
        };
        let mut builder = Message::builder()
            .from(mailer.from.clone())
            .subject(message.subject.clone());
        let mut any = false;
        for recipient in &message.recipients {
            match recipient.parse::<Mailbox>() {
                Ok(mailbox) => {
                    builder = builder.to(mailbox);
                    any = true;
                }
                Err(_) => tracing::warn!(%recipient, "a notification recipient is not an address"),
            }
        }
        if !any {
            return Outcome::Failed {
                error: "no recipient with an e-mail address".into(),
            };
        }
        let mail = match builder
            .header(ContentType::TEXT_PLAIN)
            .body(message.text.clone())
        {
            Ok(mail) => mail,
            Err(error) => {
                return Outcome::Failed {
                    error: format!("the mail cannot be built: {error}"),
                }
            }
        };
        match mailer.transport.send(mail).await {
            Ok(_) => Outcome::Sent,
            Err(error) if error.is_permanent() => Outcome::Failed {
                error: format!("the SMTP server refused the mail: {error}"),
            },
            Err(error) => Outcome::Retry {
                error: format!("cannot send the mail: {error}"),
                after: None,
            },
        }
    }
}

/// A status's verdict: 429 and 5xx are retried (429 after the service's wait), other 4xx are
/// final.
fn judge(status: u16, error: String, retry_after: Option<Duration>) -> Outcome {
    match status {
        429 => Outcome::Retry {
            error,
            after: retry_after,
        },
        400..=499 => Outcome::Failed { error },
        _ => Outcome::Retry { error, after: None },
    }
}

/// A request that got no answer; its URL (which holds the secret) is left out of the text.
fn request_failed(error: reqwest::Error) -> Outcome {
    let error = error.without_url();
    let text = if error.is_timeout() {
        "no answer in time".to_string()
    } else {
        chain(&error)
    };
    Outcome::Retry {
        error: text,
        after: None,
    }
}
