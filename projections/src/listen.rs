//! A Postgres `LISTEN` loop that survives lost connections.
//!
//! The listener runs in its own task and reports to a callback, so that the loops it wakes never
//! drop a half-read `recv` future inside a `select!`. A notification can be lost while the
//! connection is down, so the callback also hears `Wake::Reconnected`: consumers then catch up
//! as if notified (their poll fallback covers the time the database is unreachable).

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// What the listener saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A notification with this payload.
    Notified(String),
    /// The connection was (re)established; notifications may have been missed before it.
    Reconnected,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens on `channel` until `shutdown`, calling `on_wake` for every notification and after
/// every (re)connection.
pub async fn listen(
    pool: PgPool,
    channel: &'static str,
    shutdown: CancellationToken,
    mut on_wake: impl FnMut(Wake) + Send,
) {
    let mut backoff = MIN_BACKOFF;
    'connect: loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = shutdown.cancelled() => return,
            result = connected => match result {
                Ok(listener) => listener,
                Err(error) => {
                    if matches!(error, sqlx::Error::PoolClosed) {
                        return;
                    }
                    tracing::warn!(%error, channel, retry_in_ms = backoff.as_millis() as u64,
                        "cannot listen for notifications; polling meanwhile");
                    if sleep_or_cancel(backoff, &shutdown).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue 'connect;
                }
            },
        };
        tracing::debug!(channel, "listening");
        on_wake(Wake::Reconnected);
        backoff = MIN_BACKOFF;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => {
                    on_wake(Wake::Notified(notification.payload().to_string()));
                    // Hand over whatever else already arrived without waiting again.
                    while let Some(more) = listener.next_buffered() {
                        on_wake(Wake::Notified(more.payload().to_string()));
                    }
                }
                // The connection dropped and was re-established: something may have been missed.
                Ok(None) => {
                    tracing::info!(channel, "listener reconnected");
                    on_wake(Wake::Reconnected);
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, channel, "listener failed; reconnecting");
                    if sleep_or_cancel(backoff, &shutdown).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue 'connect;
                }
            }
        }
    }
}

/// Sleeps for `duration`; true when `shutdown` fired first.
pub async fn sleep_or_cancel(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}
