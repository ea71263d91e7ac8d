//! Notification and rule settings: where Telegram is, the engine's public address for links,
//! the retry schedule of failed notifications.

use std::time::Duration;

/// The public Bot API.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// How notifications are sent (CONTRACT 8). Tests point Telegram at a local server and shorten
/// the schedule.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// `TELEGRAM_API_URL`: the Bot API base; `sendMessage` is `<base>/bot<token>/sendMessage`.
    pub telegram_api_url: String,
    /// `PUBLIC_URL`: where people reach the web app; `{{ticket.url}}` is
    /// `<PUBLIC_URL>/#/tickets/<id>`.
    pub public_url: String,
    /// The pause before each retry of a failed notification (a 429's own wait is used when
    /// longer); one that failed `1 + retry_schedule.len()` times is `failed`.
    pub retry_schedule: Vec<Duration>,
    /// How long Telegram or Slack has to answer.
    pub timeout: Duration,
}

/// 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h: about 16 h of retries.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,30s,2m,10m,30m,1h,2h,4h,8h";

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            telegram_api_url: DEFAULT_TELEGRAM_API_URL.into(),
            public_url: "http://localhost:8080".into(),
            retry_schedule: crate::webhooks::config::parse_schedule(DEFAULT_RETRY_SCHEDULE)
                .unwrap_or_default(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl NotifySettings {
    /// The link to ticket `id` in the web app.
    pub fn ticket_url(&self, id: &str) -> String {
        format!("{}/#/tickets/{id}", self.public_url.trim_end_matches('/'))
    }
}
