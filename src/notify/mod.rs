//! Notification channels (CONTRACT 8): e-mail, Telegram and Slack, the targets of the rules'
//! `notify` actions.
//!
//! - [`config`]: `TELEGRAM_API_URL`, `PUBLIC_URL`, the retry schedule.
//! - [`channel`]: a channel's configuration and its secret, read and checked.
//! - [`store`]: channels as the API manages them.
//! - [`send`]: one attempt, judged as each service documents its answers.
//! - [`outbox`]: the queued notifications, sent and retried by one leader.

pub mod channel;
pub mod config;
pub mod outbox;
pub mod send;
pub mod store;

pub use config::NotifySettings;
