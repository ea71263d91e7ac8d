//! Reading the stream downstream: a durable pull consumer that yields typed envelopes.

use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, AckKind};
use futures::{Stream, StreamExt};

use crate::config::Config;
use crate::envelope::Envelope;
use crate::error::Error;

/// One event delivered to a consumer. Acknowledge it once handled, or JetStream delivers it
/// again after the consumer's ack wait (30 s by default).
#[derive(Debug)]
pub struct Delivery {
    /// The event.
    pub envelope: Envelope,
    message: jetstream::Message,
}

impl Delivery {
    /// The raw JetStream message (subject, headers, stream sequence via `info()`).
    pub fn message(&self) -> &jetstream::Message {
        &self.message
    }

    /// Tells JetStream the event is handled; it will not be delivered again.
    pub async fn ack(&self) -> Result<(), Error> {
        self.message
            .ack()
            .await
            .map_err(|e| Error::nats(format!("cannot acknowledge event {}", self.envelope.id), e))
    }

    /// Asks for the event again, after `delay` if given (e.g. a downstream database was down).
    pub async fn retry_later(&self, delay: Option<Duration>) -> Result<(), Error> {
        self.message
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|e| Error::nats(format!("cannot return event {}", self.envelope.id), e))
    }
}

/// The events a consumer receives, in stream order.
pub type Deliveries = Pin<Box<dyn Stream<Item = Result<Delivery, Error>> + Send>>;

/// Follows `filter_subject` (see [`crate::subject`]) on the configured stream through the durable
/// pull consumer `durable_name`, created if absent, with explicit acknowledgement.
///
/// A durable consumer remembers what it has acknowledged: a restarted service resumes where it
/// stopped, and a new one starts at the beginning of the stream. An existing consumer is used as
/// it is (its filter is not changed). A message whose body is not an envelope is terminated
/// (never delivered again) and reported as an error item; the stream goes on after it.
///
/// ```no_run
/// # async fn example() -> Result<(), ticket_nats::Error> {
/// use futures::StreamExt;
/// use ticket_nats::{subject, Config};
///
/// let config = Config::default();
/// let client = ticket_nats::connect("nats://127.0.0.1:4222", "billing").await?;
/// let jetstream = ticket_nats::jetstream(client, &config);
/// let mut events = ticket_nats::subscribe(
///     &jetstream,
///     &config,
///     "billing",
///     subject::kind(&config.subject_prefix, "rated"),
/// )
/// .await?;
/// while let Some(delivery) = events.next().await {
///     let delivery = delivery?;
///     println!("{} {}", delivery.envelope.subject, delivery.envelope.data);
///     delivery.ack().await?;
/// }
/// # Ok(())
/// # }
/// ```
pub async fn subscribe(
    context: &jetstream::Context,
    config: &Config,
    durable_name: &str,
    filter_subject: impl Into<String>,
) -> Result<Deliveries, Error> {
    subscribe_with(
        context,
        config,
        pull::Config {
            durable_name: Some(durable_name.to_string()),
            filter_subject: filter_subject.into(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ..pull::Config::default()
        },
    )
    .await
}

/// [`subscribe`] with a consumer configuration of your own (e.g. a shorter `ack_wait`, a start
/// position, several filter subjects). Give it a `durable_name` to make it durable.
pub async fn subscribe_with(
    context: &jetstream::Context,
    config: &Config,
    consumer: pull::Config,
) -> Result<Deliveries, Error> {
    let durable_name = consumer
        .durable_name
        .clone()
        .or_else(|| consumer.name.clone())
        .unwrap_or_default();
    let stream = context
        .get_stream(&config.stream)
        .await
        .map_err(|e| Error::nats(format!("cannot read stream {}", config.stream), e))?;
    let consumer: jetstream::consumer::PullConsumer = if durable_name.is_empty() {
        stream.create_consumer(consumer).await
    } else {
        stream.get_or_create_consumer(&durable_name, consumer).await
    }
    .map_err(|e| Error::nats(format!("cannot create consumer {durable_name:?}"), e))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| Error::nats(format!("cannot follow consumer {durable_name:?}"), e))?;
    let name = durable_name;
    Ok(Box::pin(messages.then(move |message| {
        let name = name.clone();
        async move {
            let message = message
                .map_err(|e| Error::nats(format!("cannot receive from consumer {name:?}"), e))?;
            match serde_json::from_slice::<Envelope>(&message.payload) {
                Ok(envelope) => Ok(Delivery { envelope, message }),
                Err(e) => {
                    let subject = message.subject.to_string();
                    // Redelivering a body that cannot be read would only fail again.
                    let _ = message.ack_with(AckKind::Term).await;
                    Err(Error::Json {
                        what: format!("message on {subject} is not a ticket event (terminated)"),
                        source: e,
                    })
                }
            }
        }
    })))
}
