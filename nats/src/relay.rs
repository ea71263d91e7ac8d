//! The outbox relay: copies events from a store to the stream, in position order, exactly once
//! in the stream.
//!
//! The store is the outbox. The relay reads the events after its checkpoint, publishes them
//! with many acknowledgements in flight, and moves its checkpoint only over the longest prefix
//! JetStream has acknowledged. A crash between publishing and checkpointing republishes some
//! events on restart; their `Nats-Msg-Id` makes JetStream drop them within the duplicate window.
//! On a NATS error it backs off (50 ms doubling to [`Config::max_backoff`]) and resumes from its
//! checkpoint.
//!
//! This module knows nothing of Postgres: the store is a [`Source`]. ticketd implements it over
//! its `events` table; a test, or another service with its own outbox, can implement it over
//! anything.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::publish::PublishAck;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::envelope::Envelope;
use crate::error::{chain, BoxError, Error};
use crate::publish::{send, OutgoingMessage};
use crate::stream::ensure_stream;

/// The first pause after a NATS error; it doubles up to `Config::max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Where the relay reads events and keeps its checkpoint.
///
/// Positions are the store's dense global order; the checkpoint is the position of the last
/// event known to be in the stream (0 before the first).
pub trait Source: Send {
    /// The source's error; a source error stops [`Relay::run`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// The saved checkpoint.
    fn checkpoint(&mut self) -> impl Future<Output = Result<i64, Self::Error>> + Send;

    /// Up to `limit` events with a position after `after`, in position order, each with its
    /// `position` filled in.
    fn read_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Envelope>, Self::Error>> + Send;

    /// Saves that every event up to `position` is in the stream.
    fn save_checkpoint(
        &mut self,
        position: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Returns when new events may have arrived (a notification), or after `timeout`.
    fn wait_for_events(
        &mut self,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What the relay is doing, shared with whoever reports on it (readiness, metrics).
#[derive(Debug, Default)]
pub struct RelayStatus {
    position: AtomicI64,
    published: AtomicU64,
    duplicates: AtomicU64,
    failing: AtomicBool,
}

impl RelayStatus {
    /// The relay's checkpoint: every event up to it is in the stream.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Relaxed)
    }

    /// Events acknowledged by JetStream since the relay started (duplicates included).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Acknowledged events that the stream already held (repeats after a restart).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// True while the last attempt to publish failed (the relay is backing off).
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

/// What happened to one batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// How many events from the start of the batch JetStream acknowledged without a gap.
    pub acknowledged: usize,
    /// How many of those the stream already held.
    pub duplicates: usize,
    /// The position of the last acknowledged event of that prefix.
    pub position: Option<i64>,
    /// The first failure, which ended the prefix.
    pub error: Option<Error>,
}

/// Publishes events from a [`Source`] to the stream; see the module documentation.
#[derive(Debug, Clone)]
pub struct Relay {
    context: jetstream::Context,
    config: Config,
    status: Arc<RelayStatus>,
}

impl Relay {
    /// A relay publishing through `context` as `config` says.
    ///
    /// ```no_run
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use ticket_nats::relay::Source;
    /// use ticket_nats::{Config, Envelope, Relay};
    ///
    /// /// An outbox in memory (ticketd's is its `events` table).
    /// struct Outbox {
    ///     events: Vec<Envelope>,
    ///     checkpoint: i64,
    /// }
    ///
    /// impl Source for Outbox {
    ///     type Error = Infallible;
    ///     async fn checkpoint(&mut self) -> Result<i64, Infallible> {
    ///         Ok(self.checkpoint)
    ///     }
    ///     async fn read_after(&mut self, after: i64, limit: usize) -> Result<Vec<Envelope>, Infallible> {
    ///         Ok(self.events.iter().filter(|e| e.position > after).take(limit).cloned().collect())
    ///     }
    ///     async fn save_checkpoint(&mut self, position: i64) -> Result<(), Infallible> {
    ///         self.checkpoint = position;
    ///         Ok(())
    ///     }
    ///     async fn wait_for_events(&mut self, timeout: Duration) -> Result<(), Infallible> {
    ///         tokio::time::sleep(timeout).await;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # async fn run() -> Result<(), ticket_nats::Error> {
    /// let config = Config::default();
    /// let client = ticket_nats::connect("nats://127.0.0.1:4222", "outbox").await?;
    /// let relay = Relay::new(ticket_nats::jetstream(client, &config), config);
    /// let mut outbox = Outbox { events: Vec::new(), checkpoint: 0 };
    /// // Runs until the source fails; NATS errors only make it back off and retry.
    /// relay.run(&mut outbox).await
    /// # }
    /// ```
    pub fn new(context: jetstream::Context, config: Config) -> Self {
        Self {
            context,
            config,
            status: Arc::new(RelayStatus::default()),
        }
    }

    /// The relay's status, updated as it works.
    pub fn status(&self) -> Arc<RelayStatus> {
        self.status.clone()
    }

    /// Publishes `batch` (in position order) keeping up to `max_in_flight` acknowledgements
    /// outstanding, and reports the longest acknowledged prefix.
    ///
    /// Publishes are sent without waiting; acknowledgements are awaited oldest first, and once
    /// one fails nothing more is sent: the events after it are published again by the next
    /// attempt (and dropped as duplicates where the failed attempt had reached the stream).
    pub async fn publish_batch(&self, batch: &[Envelope]) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut in_flight = FuturesOrdered::new();
        let mut send_error = None;
        for envelope in batch {
            if in_flight.len() >= self.config.max_in_flight {
                if let Some((position, ack)) = in_flight.next().await {
                    if !record_ack(&mut outcome, position, ack) {
                        return outcome;
                    }
                }
            }
            let sent = match OutgoingMessage::new(envelope, &self.config.subject_prefix) {
                Ok(message) => send(&self.context, message).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(ack) => in_flight.push_back(acknowledgement(envelope, ack)),
                Err(e) => {
                    send_error = Some(e);
                    break;
                }
            }
        }
        while let Some((position, ack)) = in_flight.next().await {
            if !record_ack(&mut outcome, position, ack) {
                return outcome;
            }
        }
        outcome.error = send_error;
        outcome
    }

    /// Relays events from `source` until `source` fails (its error is returned) or the future
    /// is dropped. NATS errors never end it: it backs off and resumes from the checkpoint.
    ///
    /// Dropping the future at any point is safe: the checkpoint only ever covers acknowledged
    /// events, and whatever was sent beyond it is sent again and deduplicated.
    pub async fn run<S: Source>(&self, source: &mut S) -> Result<(), Error> {
        let mut checkpoint = source
            .checkpoint()
            .await
            .map_err(source_error::<S>("read the checkpoint"))?;
        self.status.position.store(checkpoint, Ordering::Relaxed);
        let mut stream_ready = false;
        let mut backoff = Backoff::new(FIRST_BACKOFF, self.config.max_backoff);
        loop {
            if !stream_ready {
                match ensure_stream(&self.context, &self.config).await {
                    Ok(_) => stream_ready = true,
                    Err(e) => {
                        self.failed(&e, &mut backoff).await;
                        continue;
                    }
                }
            }
            match self.pump(source, &mut checkpoint).await? {
                None => {
                    backoff.reset();
                    self.status.failing.store(false, Ordering::Relaxed);
                    source
                        .wait_for_events(self.config.poll_interval)
                        .await
                        .map_err(source_error::<S>("wait for events"))?;
                }
                Some(e) => {
                    self.failed(&e, &mut backoff).await;
                    // The stream may have been deleted or the server replaced: check again.
                    stream_ready = false;
                    checkpoint = source
                        .checkpoint()
                        .await
                        .map_err(source_error::<S>("read the checkpoint"))?;
                }
            }
        }
    }

    /// Publishes everything after `checkpoint` until the source has no more, and returns the
    /// NATS error that stopped it early, if any.
    ///
    /// The window of unacknowledged publishes stays full across reads, and the next batch is
    /// read while the current one is being published (the source works on the read while this
    /// process serializes and sends). After each batch the acknowledgements that have arrived
    /// are taken in order, and the checkpoint moves to the end of the acknowledged prefix. At the
    /// end every acknowledgement is awaited, so the checkpoint covers all that was read.
    async fn pump<S: Source>(
        &self,
        source: &mut S,
        checkpoint: &mut i64,
    ) -> Result<Option<Error>, Error> {
        let limit = self.config.max_in_flight;
        let mut in_flight = FuturesOrdered::new();
        let mut prefix = BatchOutcome::default();
        let mut failure = None;
        let mut batch = source
            .read_after(*checkpoint, limit)
            .await
            .map_err(source_error::<S>("read events"))?;
        while let (Some(first), Some(last)) = (
            batch.first().map(|e| e.position),
            batch.last().map(|e| e.position),
        ) {
            tracing::debug!(first, last, in_flight = in_flight.len(), "relaying");
            let publish = async {
                for envelope in &batch {
                    while in_flight.len() >= limit {
                        let Some((position, ack)) = in_flight.next().await else {
                            break;
                        };
                        if !record_ack(&mut prefix, position, ack) {
                            return prefix.error.take();
                        }
                    }
                    let sent = match OutgoingMessage::new(envelope, &self.config.subject_prefix) {
                        Ok(message) => send(&self.context, message).await,
                        Err(e) => Err(e),
                    };
                    match sent {
                        Ok(ack) => in_flight.push_back(acknowledgement(envelope, ack)),
                        Err(e) => return Some(e),
                    }
                }
                None
            };
            let (next, published) = if batch.len() >= limit {
                let (next, published) = tokio::join!(source.read_after(last, limit), publish);
                (Some(next), published)
            } else {
                (None, publish.await)
            };
            if published.is_some() {
                failure = published;
                break;
            }
            // Take what has been acknowledged so far, without waiting.
            while let Some(Some((position, ack))) = in_flight.next().now_or_never() {
                if !record_ack(&mut prefix, position, ack) {
                    failure = prefix.error.take();
                    break;
                }
            }
            if failure.is_some() {
                break;
            }
            self.save(source, checkpoint, &mut prefix).await?;
            match next {
                Some(next) => batch = next.map_err(source_error::<S>("read events"))?,
                None => break,
            }
        }
        if failure.is_none() {
            while let Some((position, ack)) = in_flight.next().await {
                if !record_ack(&mut prefix, position, ack) {
                    failure = prefix.error.take();
                    break;
                }
            }
        }
        // On a failure the publishes still in flight are abandoned: the next attempt sends
        // them again from the checkpoint, and the stream drops those that did arrive.
        self.save(source, checkpoint, &mut prefix).await?;
        Ok(failure)
    }

    /// Moves the checkpoint to the end of the acknowledged prefix, if it grew.
    async fn save<S: Source>(
        &self,
        source: &mut S,
        checkpoint: &mut i64,
        prefix: &mut BatchOutcome,
    ) -> Result<(), Error> {
        let Some(position) = prefix.position.filter(|p| *p > *checkpoint) else {
            return Ok(());
        };
        source
            .save_checkpoint(position)
            .await
            .map_err(source_error::<S>("save the checkpoint"))?;
        *checkpoint = position;
        self.status.position.store(position, Ordering::Relaxed);
        self.status
            .published
            .fetch_add(prefix.acknowledged as u64, Ordering::Relaxed);
        self.status
            .duplicates
            .fetch_add(prefix.duplicates as u64, Ordering::Relaxed);
        prefix.acknowledged = 0;
        prefix.duplicates = 0;
        Ok(())
    }

    async fn failed(&self, error: &Error, backoff: &mut Backoff) {
        let pause = backoff.next_pause();
        self.status.failing.store(true, Ordering::Relaxed);
        tracing::warn!(
            error = %chain(error),
            retry_in = ?pause,
            "cannot relay events to NATS; retrying from the checkpoint"
        );
        tokio::time::sleep(pause).await;
    }
}

/// Wraps a source error with what the relay was doing.
fn source_error<S: Source>(what: &'static str) -> impl FnOnce(S::Error) -> Error {
    move |e| Error::Source {
        what,
        source: Box::new(e) as BoxError,
    }
}

/// The acknowledgement of one event, with its position.
fn acknowledgement(
    envelope: &Envelope,
    ack: PublishAckFuture,
) -> impl Future<Output = (i64, Result<PublishAck, Error>)> + Send + 'static {
    let id = envelope.id.clone();
    let position = envelope.position;
    async move {
        let ack = ack
            .await
            .map_err(|e| Error::nats(format!("no acknowledgement for event {id}"), e));
        (position, ack)
    }
}

/// Adds one acknowledgement to the prefix; false when it failed and the prefix ends.
fn record_ack(outcome: &mut BatchOutcome, position: i64, ack: Result<PublishAck, Error>) -> bool {
    match ack {
        Ok(ack) => {
            outcome.acknowledged += 1;
            outcome.duplicates += usize::from(ack.duplicate);
            outcome.position = Some(position);
            true
        }
        Err(e) => {
            outcome.error = Some(e);
            false
        }
    }
}
