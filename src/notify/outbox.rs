//! The notifications outbox: rows queued by the rule processor (with its checkpoint, so each
//! is queued once), sent by one leader among the instances, retried with backoff (a service's
//! own wait honoured) until sent or failed. A sent notification is marked so in the row, and a
//! marked one is never sent again; only a crash between the service's answer and the mark can
//! repeat one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rand::Rng;
use sqlx::{PgPool, Row};
use ticket_nats::error::chain;
use ticket_projections::connection::lead;
use ticket_projections::listen::sleep_or_cancel;
use ticket_projections::CancellationToken;
use tokio::sync::Notify;

use super::config::NotifySettings;
use super::send::{Notice, Outcome, Sender};

/// Advisory lock key of the notifier (ASCII "tktdntf1").
pub const NOTIFY_LOCK: i64 = 0x746b_7464_6e74_6631;
/// Counter: notification attempts by `kind` and `outcome` (`sent`, `retrying`, `failed`).
pub const METRIC_ATTEMPTS: &str = "ticketd_notifications_total";

/// Notifications sent at once.
const BATCH: i64 = 16;
/// The longest the loop sleeps without looking for due notifications.
const POLL: Duration = Duration::from_secs(1);

/// The notifier.
pub struct Notifier {
    pool: PgPool,
    sender: Sender,
    settings: NotifySettings,
    /// Rung by the rule processor when it queued notifications.
    queued: Arc<Notify>,
}

struct Due {
    id: i64,
    attempts: i32,
    notice: Notice,
}

impl Notifier {
    /// A notifier over `pool`, woken by `queued`.
    pub fn new(
        pool: PgPool,
        sender: Sender,
        settings: NotifySettings,
        queued: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            sender,
            settings,
            queued,
        })
    }

    /// Takes the lead when free and sends until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let leading = tokio::select! {
                () = stop.cancelled() => return,
                leading = lead(&self.pool, NOTIFY_LOCK) => leading,
            };
            match leading {
                Ok(Some(mut conn)) => {
                    tracing::info!("sending notifications (leader)");
                    let result = self.lead(&mut conn, &stop).await;
                    let _ = sqlx::Connection::close(conn).await;
                    match result {
                        Ok(()) => return,
                        Err(error) => {
                            tracing::warn!(error = %chain(&error), "notifier stepped down")
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(error = %chain(&error), "notifier cannot reach the database")
                }
            }
            if sleep_or_cancel(POLL, &stop).await {
                return;
            }
        }
    }

    async fn lead(
        &self,
        lock: &mut sqlx::PgConnection,
        stop: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        loop {
            sqlx::query("SELECT 1").execute(&mut *lock).await?;
            let due = self.due().await?;
            let full = due.len() as i64 == BATCH;
            let attempts = due
                .iter()
                .map(|d| async move { (d, self.sender.send(&d.notice).await) });
            for (due, outcome) in join_all(attempts).await {
                self.record(due, outcome).await?;
            }
            if full {
                continue;
            }
            let wait = self.next_wait().await?;
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = self.queued.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn due(&self) -> Result<Vec<Due>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT n.id, n.attempts, n.subject, n.text, n.recipients, c.kind, c.config, c.secret
             FROM notifications n JOIN notification_channels c ON c.id = n.channel_id
             WHERE n.status = 'pending' AND n.next_attempt_at <= now()
             ORDER BY n.next_attempt_at, n.id LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Due {
                    id: row.try_get("id")?,
                    attempts: row.try_get("attempts")?,
                    notice: Notice {
                        kind: row.try_get("kind")?,
                        config: row.try_get("config")?,
                        secret: row.try_get("secret")?,
                        subject: row.try_get("subject")?,
                        text: row.try_get("text")?,
                        recipients: row.try_get("recipients")?,
                    },
                })
            })
            .collect()
    }

    async fn next_wait(&self) -> Result<Duration, sqlx::Error> {
        let next: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next
            .map(|at| (at - chrono::Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(POLL)
            .min(POLL))
    }

    async fn record(&self, due: &Due, outcome: Outcome) -> Result<(), sqlx::Error> {
        let kind = due.notice.kind.clone();
        let (status, error, retry_in) = match outcome {
            Outcome::Sent => ("sent", None, None),
            Outcome::Retry { error, after } => match self.retry_delay(due.attempts, after) {
                Some(wait) => ("pending", Some(error), Some(wait)),
                None => ("failed", Some(error), None),
            },
            Outcome::Failed { error } => ("failed", Some(error), None),
        };
        let outcome = if status == "pending" {
            "retrying"
        } else {
            status
        };
        metrics::counter!(METRIC_ATTEMPTS, "kind" => kind.clone(), "outcome" => outcome)
            .increment(1);
        if let Some(error) = &error {
            tracing::info!(notification_id = due.id, %kind, %error, ?retry_in, "notification not sent");
        }
        sqlx::query(
            "UPDATE notifications SET status = $2, attempts = attempts + 1, last_error = $3,
                    next_attempt_at = now() + make_interval(secs => coalesce($4, 0)),
                    sent_at = CASE WHEN $2 = 'sent' THEN now() END
             WHERE id = $1",
        )
        .bind(due.id)
        .bind(status)
        .bind(error)
        .bind(retry_in.map(|d| d.as_secs_f64()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pause before the retry after `attempts` earlier attempts and this failed one: the
    /// service's own wait when it gave one (it knows its limits), else the schedule's (with up
    /// to 25 % jitter); `None` once the schedule is spent.
    fn retry_delay(&self, attempts: i32, asked: Option<Duration>) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?;
        let base = *self.settings.retry_schedule.get(index)?;
        let scheduled = base.mul_f64(rand::rng().random_range(1.0..1.25));
        Some(asked.unwrap_or(scheduled))
    }
}
