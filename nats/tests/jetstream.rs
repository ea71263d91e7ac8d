//! The transport against the real nats-server (`NATS_URL`, default nats://127.0.0.1:4222).
//! Each test uses its own stream and subject prefix and deletes its stream at the end.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{TicketClosed, TicketEvent, TicketReopened};
use ticket_nats::relay::Source;
use ticket_nats::{subject, Config, Envelope, Relay, GENESIS_HASH};
use uuid::Uuid;

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A stream of the test's own, deleted when the test ends (also when it fails).
struct TestStream {
    config: Config,
    jetstream: jetstream::Context,
}

impl TestStream {
    async fn new() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let config = Config::named(format!("T_{id}"), format!("t{id}"));
        let client = async_nats::connect(nats_url())
            .await
            .expect("nats-server on NATS_URL");
        Self {
            jetstream: ticket_nats::jetstream(client, &config),
            config,
        }
    }

    /// Every message of the stream, in stream order.
    async fn messages(&self) -> Vec<async_nats::jetstream::Message> {
        let stream = self
            .jetstream
            .get_stream(&self.config.stream)
            .await
            .unwrap();
        let consumer: jetstream::consumer::PullConsumer = stream
            .create_consumer(jetstream::consumer::pull::Config::default())
            .await
            .unwrap();
        let count = stream.get_info().await.unwrap().state.messages as usize;
        let mut messages = consumer
            .fetch()
            .max_messages(count.max(1))
            .messages()
            .await
            .unwrap();
        let mut all = Vec::new();
        while all.len() < count {
            let Some(message) = tokio::time::timeout(Duration::from_secs(5), messages.next())
                .await
                .expect("messages arrive")
            else {
                break;
            };
            all.push(message.unwrap());
        }
        all
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let name = self.config.stream.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let _ = jetstream::new(client).delete_stream(&name).await;
                }
            });
        })
        .join();
    }
}

/// `n` sealed events over a few tickets, positions 1..=n.
fn events(n: usize) -> Vec<Envelope> {
    let actor = Actor::system();
    let tickets: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut last: HashMap<Uuid, (i64, String)> = HashMap::new();
    (0..n)
        .map(|i| {
            let ticket = tickets[i % tickets.len()];
            let (seq, prevhash) = last
                .get(&ticket)
                .cloned()
                .unwrap_or((0, GENESIS_HASH.to_string()));
            let event = if seq % 2 == 0 {
                TicketEvent::Closed(TicketClosed {
                    resolution: Some(format!("fixed {i}")),
                })
            } else {
                TicketEvent::Reopened(TicketReopened { reason: None })
            };
            let mut envelope = Envelope::seal(
                EnvelopeHeader {
                    source: "ticketd",
                    ticket_id: ticket,
                    seq: seq + 1,
                    time: ticket_nats::Timestamp::now(),
                    actor: &actor,
                    correlation_id: "test",
                },
                &event,
                &prevhash,
            );
            envelope.position = i as i64 + 1;
            last.insert(ticket, (seq + 1, envelope.hash.clone()));
            envelope
        })
        .collect()
}

/// An in-memory event store.
struct MemorySource {
    events: Vec<Envelope>,
    checkpoint: i64,
    saves: Vec<i64>,
}

impl Source for MemorySource {
    type Error = Infallible;

    async fn checkpoint(&mut self) -> Result<i64, Infallible> {
        Ok(self.checkpoint)
    }

    async fn read_after(&mut self, after: i64, limit: usize) -> Result<Vec<Envelope>, Infallible> {
        Ok(self
            .events
            .iter()
            .filter(|e| e.position > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn save_checkpoint(&mut self, position: i64) -> Result<(), Infallible> {
        self.checkpoint = position;
        self.saves.push(position);
        Ok(())
    }

    async fn wait_for_events(&mut self, timeout: Duration) -> Result<(), Infallible> {
        tokio::time::sleep(timeout.min(Duration::from_millis(20))).await;
        Ok(())
    }
}

/// Runs `relay` over `source` until its checkpoint reaches `target`.
async fn relay_until(relay: &Relay, source: &mut MemorySource, target: i64) {
    let status = relay.status();
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            result = relay.run(source) => panic!("the relay stopped: {result:?}"),
            () = async {
                while status.position() < target {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            } => {}
        }
    })
    .await
    .expect("the relay catches up");
}

#[tokio::test]
async fn ensure_stream_creates_the_stream_once_as_the_contract_says() {
    // Arrange
    let test = TestStream::new().await;

    // Act
    let first = ticket_nats::ensure_stream(&test.jetstream, &test.config)
        .await
        .unwrap();
    let second = ticket_nats::ensure_stream(&test.jetstream, &test.config)
        .await
        .unwrap();

    // Assert
    assert_eq!(first.config.name, test.config.stream);
    assert_eq!(
        first.config.subjects,
        [subject::all(&test.config.subject_prefix)]
    );
    assert_eq!(first.config.storage, jetstream::stream::StorageType::File);
    assert!(first.config.duplicate_window >= Duration::from_secs(120));
    assert_eq!(
        second.created, first.created,
        "the second call reuses the stream"
    );
}

#[tokio::test]
async fn a_batch_lands_once_in_order_with_its_headers_and_repeats_are_dropped() {
    // Arrange
    let test = TestStream::new().await;
    ticket_nats::ensure_stream(&test.jetstream, &test.config)
        .await
        .unwrap();
    let relay = Relay::new(
        test.jetstream.clone(),
        Config {
            max_in_flight: 16,
            ..test.config.clone()
        },
    );
    let batch = events(100);

    // Act
    let first = relay.publish_batch(&batch).await;
    let again = relay.publish_batch(&batch[..50]).await;

    // Assert
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(
        (first.acknowledged, first.duplicates, first.position),
        (100, 0, Some(100))
    );
    assert!(again.error.is_none());
    assert_eq!(
        (again.acknowledged, again.duplicates),
        (50, 50),
        "repeats are dropped"
    );
    let messages = test.messages().await;
    assert_eq!(messages.len(), 100);
    for (message, envelope) in messages.iter().zip(&batch) {
        assert_eq!(
            message.subject.as_str(),
            envelope.subject_under(&test.config.subject_prefix)
        );
        let headers = message.headers.as_ref().expect("headers");
        assert_eq!(
            ticket_nats::publish::message_id(headers),
            Some(envelope.id.as_str())
        );
        assert_eq!(
            headers.get("Content-Type").map(|v| v.as_str()),
            Some("application/cloudevents+json")
        );
        let body: Envelope = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(&body, envelope);
    }
}

#[tokio::test]
async fn the_relay_publishes_everything_and_a_replay_from_an_old_checkpoint_adds_nothing() {
    // Arrange
    let test = TestStream::new().await;
    let mut source = MemorySource {
        events: events(1000),
        checkpoint: 0,
        saves: Vec::new(),
    };
    let relay = Relay::new(
        test.jetstream.clone(),
        Config {
            max_in_flight: 128,
            ..test.config.clone()
        },
    );

    // Act: relay everything, then "crash" back to an old checkpoint and relay again.
    relay_until(&relay, &mut source, 1000).await;
    source.checkpoint = 300;
    let restarted = Relay::new(test.jetstream.clone(), relay_config(&test.config));
    relay_until(&restarted, &mut source, 1000).await;

    // Assert
    assert!(
        source.saves.windows(2).all(|w| w[0] < w[1] || w[1] < 1000),
        "{:?}",
        source.saves
    );
    assert_eq!(restarted.status().duplicates(), 700);
    let messages = test.messages().await;
    let ids: Vec<String> = messages
        .iter()
        .map(|m| serde_json::from_slice::<Envelope>(&m.payload).unwrap().id)
        .collect();
    let expected: Vec<String> = source.events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, expected, "every event once, in position order");
}

fn relay_config(config: &Config) -> Config {
    Config {
        max_in_flight: 64,
        ..config.clone()
    }
}

#[tokio::test]
async fn a_durable_consumer_follows_one_kind_and_resumes_after_its_last_ack() {
    // Arrange
    let test = TestStream::new().await;
    ticket_nats::ensure_stream(&test.jetstream, &test.config)
        .await
        .unwrap();
    let batch = events(12);
    let relay = Relay::new(test.jetstream.clone(), test.config.clone());
    assert!(relay.publish_batch(&batch).await.error.is_none());
    let closed: Vec<&Envelope> = batch
        .iter()
        .filter(|e| e.event_type == "ticket.closed")
        .collect();
    let filter = subject::kind(&test.config.subject_prefix, "closed");

    // Act: handle two, stop, start again.
    // A short ack wait: what the stopped subscription had received but not acknowledged comes
    // back after it. One unacknowledged message at a time: otherwise the server may hand the
    // new subscription later events while one the stopped one held waits out its ack wait, and
    // they would arrive out of order (seen under load).
    let consumer = || jetstream::consumer::pull::Config {
        durable_name: Some("audit".into()),
        filter_subject: filter.clone(),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(1),
        max_ack_pending: 1,
        ..Default::default()
    };
    let mut first = ticket_nats::subscribe_with(&test.jetstream, &test.config, consumer())
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let delivery = first.next().await.unwrap().unwrap();
        delivery.ack().await.unwrap();
        seen.push(delivery.envelope);
    }
    drop(first);
    let mut second = ticket_nats::subscribe_with(&test.jetstream, &test.config, consumer())
        .await
        .unwrap();
    // JetStream delivers at least once: an acknowledgement that reaches the server after the
    // ack wait (a loaded machine) brings the event again, marked as a redelivery. A consumer
    // knows a repeat by its id; what must hold is the order and that nothing is missing.
    let mut repeats = Vec::new();
    while seen.len() < closed.len() {
        let delivery = tokio::time::timeout(Duration::from_secs(5), second.next())
            .await
            .expect("the rest arrives")
            .unwrap()
            .unwrap();
        delivery.ack().await.unwrap();
        let delivered = delivery.message().info().unwrap().delivered;
        if seen.last().map(|last: &Envelope| &last.id) == Some(&delivery.envelope.id) {
            repeats.push((delivery.envelope.id, delivered));
        } else {
            seen.push(delivery.envelope);
        }
    }

    // Assert
    let seen: Vec<&Envelope> = seen.iter().collect();
    assert_eq!(
        seen, closed,
        "each closed event, in order, across the restart"
    );
    assert!(
        repeats.iter().all(|(_, delivered)| *delivered > 1),
        "an event comes again only as a redelivery: {repeats:?}"
    );
}

#[tokio::test]
async fn a_stream_made_for_tickets_only_gets_the_users_and_fields_subjects_added() {
    // Arrange: a stream as an engine before user streams made it (`<x>.tickets.>` only).
    let mut stream = TestStream::new().await;
    stream.config.subject_prefix = format!("{}.tickets", stream.config.subject_prefix);
    let prefix = stream.config.subject_prefix.clone();
    let mut old = ticket_nats::stream::stream_config(&stream.config);
    old.subjects = vec![subject::all(&prefix)];
    stream.jetstream.create_stream(old).await.unwrap();

    // Act
    let info = ticket_nats::ensure_stream(&stream.jetstream, &stream.config)
        .await
        .unwrap();

    // Assert
    let users = subject::all(&subject::users_prefix(&prefix));
    let fields = subject::all(&subject::fields_prefix(&prefix));
    assert_eq!(info.config.subjects, [subject::all(&prefix), users, fields]);
}
