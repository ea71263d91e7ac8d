//! One delivery attempt: a signed `POST` of the envelope, judged by its status within the
//! timeout. Redirects are not followed (a 3xx is a failure: following one could lead inside the
//! network), at most [`BODY_READ_MAX`] bytes of an answer are read, and names resolve through
//! the SSRF policy's [`CheckedResolver`].

use std::sync::Arc;

use reqwest::redirect::Policy;
use reqwest::Url;
use secrecy::SecretString;
use ticket_nats::error::chain;

use super::config::WebhookSettings;
use super::queue::Attempt;
use super::signature;
use super::target::{self, CheckedResolver};

/// The most of a receiver's answer that is read (kept, shortened, in the delivery's error).
pub const BODY_READ_MAX: usize = 4096;
/// The most of an answer's text kept in a delivery's error.
const ERROR_TEXT_MAX: usize = 200;

/// Makes delivery attempts; one per engine, shared by every endpoint's worker.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    settings: Arc<WebhookSettings>,
}

impl Sender {
    /// A sender with the engine's webhook settings.
    pub fn new(settings: &WebhookSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver::new(settings)))
            .redirect(Policy::none())
            // A proxy from the environment would resolve and connect on its own, unchecked.
            .no_proxy()
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency)
            .user_agent(concat!("ticketd-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            settings: Arc::new(settings.clone()),
        })
    }

    /// Posts `body` (the envelope of event `event_id`) to `url`, signed with `secret`.
    pub async fn send(
        &self,
        url: &str,
        secret: &SecretString,
        event_id: &str,
        body: Vec<u8>,
    ) -> Attempt {
        let failed = |error: String| Attempt {
            status: None,
            error: Some(error),
        };
        // Checked again at every attempt: the policy or the allow-lists may have changed.
        let url = match target::parse(url, &self.settings)
            .and_then(|url| target::check_literal(&url, &self.settings).map(|()| url))
        {
            Ok(url) => url,
            Err(error) => return failed(format!("url {error}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match signature::sign(secret, event_id, timestamp, &body) {
            Ok(signature) => signature,
            Err(error) => return failed(format!("the endpoint's secret is unreadable: {error}")),
        };
        let attempt = self.post(url, event_id, timestamp, signature, body);
        match tokio::time::timeout(self.settings.timeout, attempt).await {
            Ok(attempt) => attempt,
            Err(_) => self.timed_out(),
        }
    }

    fn timed_out(&self) -> Attempt {
        Attempt {
            status: None,
            error: Some(format!(
                "no answer within {} ms",
                self.settings.timeout.as_millis()
            )),
        }
    }

    async fn post(
        &self,
        url: Url,
        event_id: &str,
        timestamp: i64,
        signature: String,
        body: Vec<u8>,
    ) -> Attempt {
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return self.timed_out(),
            Err(error) => {
                return Attempt {
                    status: None,
                    error: Some(chain(&error)),
                }
            }
        };
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = read_some(response).await;
        let error = if status.is_success() {
            None
        } else if status.is_redirection() {
            Some(format!(
                "HTTP {} (redirects are not followed; location: {})",
                status.as_u16(),
                location.as_deref().unwrap_or("none")
            ))
        } else {
            Some(format!("HTTP {}: {}", status.as_u16(), text))
        };
        Attempt {
            status: Some(status.as_u16()),
            error,
        }
    }
}

/// The start of an answer's body as text: at most [`BODY_READ_MAX`] bytes are read, whatever
/// the receiver sends (the rest is never downloaded: the connection is dropped).
pub(crate) async fn read_some(mut response: reqwest::Response) -> String {
    let mut read = Vec::new();
    while read.len() < BODY_READ_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            _ => break,
        }
    }
    read.truncate(BODY_READ_MAX);
    let text = String::from_utf8_lossy(&read);
    let text = text.trim();
    match text.char_indices().nth(ERROR_TEXT_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
