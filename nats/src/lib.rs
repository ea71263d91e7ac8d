//! # ticket-nats: the public ticketd event contract
//!
//! Downstream Rust services depend on this crate alone to read ticketd's stream: it holds the
//! typed events, their CloudEvents envelope, the subject names, and the JetStream transport
//! (the relay the engine publishes with, and a subscribe helper for consumers). It does not
//! depend on a database.
//!
//! # What is on the stream
//!
//! ticketd copies every committed event, in position order, to the JetStream stream `TICKETS`
//! (file storage, subjects `tickets.>`, duplicate window of at least two minutes; names set by
//! [`Config`]). Each event is one message:
//!
//! - subject `tickets.v1.<ticket_id>.<kind>`, kind one of `created`, `commented`, `assigned`,
//!   `updated`, `closed`, `reopened`, `rated`, `sla_breached`, `tagged`, `linked`, `unlinked`, `merged`,
//!   `merged_from` ([`subject`]); so
//!   `tickets.v1.<id>.>` follows one ticket and `tickets.v1.*.closed` one kind;
//! - headers `Nats-Msg-Id: <event id>` and `Content-Type: application/cloudevents+json`;
//! - body: the [`Envelope`] as JSON, whose `type` and `data` read as a [`TicketEvent`].
//!
//! `asyncapi.yaml` at the root of this crate describes the same in AsyncAPI 3.0 for other
//! languages; a test keeps it in step with these types.
//!
//! Postgres is the source of truth and NATS carries copies. The stream holds each event once
//! (repeats after an engine restart are dropped by `Nats-Msg-Id`), but JetStream delivers *at
//! least* once to a consumer: make handlers idempotent, e.g. by remembering the last `position`
//! or `seq` per ticket handled. Internal comments are published too (`data.internal`).
//!
//! # Reading the stream from a downstream service
//!
//! ```no_run
//! use futures::StreamExt;
//! use ticket_nats::events::TicketEvent;
//! use ticket_nats::{subject, Config};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // Stream and prefix as the engine is configured (NATS_STREAM, NATS_SUBJECT_PREFIX).
//! let config = Config::default();
//! // Connects in the background and reconnects forever; never blocks on a server that is down.
//! let client = ticket_nats::connect("nats://127.0.0.1:4222", "crm-sync").await?;
//! let jetstream = ticket_nats::jetstream(client, &config);
//!
//! // A durable consumer: a restarted service resumes after its last acknowledged event.
//! let mut deliveries = ticket_nats::subscribe(
//!     &jetstream,
//!     &config,
//!     "crm-sync",
//!     subject::kind(&config.subject_prefix, "created"),
//! )
//! .await?;
//! while let Some(delivery) = deliveries.next().await {
//!     let delivery = delivery?;
//!     if let Ok(TicketEvent::Created(created)) = delivery.envelope.event() {
//!         println!("#{} {} for {}", created.number, created.title, created.requester.email.unwrap_or_default());
//!     }
//!     delivery.ack().await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `examples/closed_tickets.rs` is a complete consumer (`cargo run -p ticket-nats --example
//! closed_tickets`).
//!
//! # Publishing (what the engine does)
//!
//! [`Relay`] reads events from a [`relay::Source`] (ticketd's event store) after its checkpoint,
//! publishes them with up to [`Config::max_in_flight`] acknowledgements outstanding, and moves
//! the checkpoint over the acknowledged prefix only. [`ensure_stream`] creates the stream when it
//! is absent; [`publish()`] sends a single envelope.
//!
//! # Layout
//! - [`events`]: the typed events ([`TicketEvent`]) and their data.
//! - [`user_events`]: the user streams' events ([`UserEvent`]), on `users.v1.<user_id>.<kind>`.
//! - [`field_events`]: the custom field streams' events ([`FieldEvent`]), on
//!   `fields.v1.<field_id>.<kind>`.
//! - [`envelope`]: the CloudEvents envelope ([`Envelope`]) and its hash chain.
//! - [`time`]: millisecond RFC 3339 timestamps.
//! - [`subject`]: subject names.
//! - [`config`]: [`Config`]; [`error`]: [`Error`].
//! - [`stream`]: connecting ([`connect`]) and the stream ([`ensure_stream`]).
//! - [`publish`](mod@publish): envelopes as messages, publishing one.
//! - [`relay`]: the outbox relay ([`Relay`]).
//! - [`backoff`]: the doubling, capped pause of every retry loop.
//! - [`values`]: priorities, channels and statuses, with their wire names.
//! - [`subscribe`](mod@subscribe): the downstream side ([`subscribe()`]).
#![warn(missing_docs)]

pub mod backoff;
mod canonical;
pub mod config;
pub mod envelope;
pub mod error;
pub mod events;
pub mod field_events;
pub mod publish;
pub mod relay;
pub mod stream;
pub mod subject;
pub mod subscribe;
pub mod time;
pub mod user_events;
pub mod values;

pub use config::Config;
pub use envelope::{Actor, Envelope, EnvelopeHeader, GENESIS_HASH};
pub use error::Error;
pub use events::TicketEvent;
pub use field_events::FieldEvent;
pub use publish::{publish, CONTENT_TYPE};
pub use relay::{Relay, RelayStatus};
pub use stream::{connect, ensure_stream, jetstream};
pub use subscribe::{subscribe, subscribe_with, Delivery};
pub use time::Timestamp;
pub use user_events::UserEvent;
pub use values::{Channel, Priority, Status, UnknownName};
