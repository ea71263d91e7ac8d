//! A downstream service that follows closed tickets: prints each ticket's id and resolution.
//!
//! It reads `tickets.v1.*.closed` through a durable pull consumer (`closed-tickets` by default)
//! with explicit acknowledgement, so a restart resumes after the last ticket it acknowledged,
//! and a crash before the acknowledgement means the event comes again (handle events
//! idempotently: here, printing twice is harmless).
//!
//! ```sh
//! # against the engine's defaults (stream TICKETS, prefix tickets):
//! cargo run -p ticket-nats --example closed_tickets
//! # or elsewhere, with another consumer name:
//! NATS_URL=nats://127.0.0.1:4222 NATS_STREAM=TICKETS NATS_SUBJECT_PREFIX=tickets \
//!   cargo run -p ticket-nats --example closed_tickets -- my-consumer
//! ```
//!
//! Stop it with Ctrl-C.

use anyhow::Context;
use futures::StreamExt;
use ticket_nats::events::TicketEvent;
use ticket_nats::{subject, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Same names as the engine's environment (CONTRACT 6); the rest of `Config` keeps its defaults.
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = Config::default();
    if let Some(stream) = env("NATS_STREAM") {
        config.stream = stream;
    }
    if let Some(prefix) = env("NATS_SUBJECT_PREFIX") {
        config.subject_prefix = prefix;
    }
    let url = env("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let durable = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "closed-tickets".into());

    // Connecting never blocks on a server that is down; subscribing needs it (and the stream).
    let client = ticket_nats::connect(&url, "closed-tickets-example").await?;
    let jetstream = ticket_nats::jetstream(client, &config);
    let filter = subject::kind(&config.subject_prefix, "closed");
    let mut deliveries = ticket_nats::subscribe(&jetstream, &config, &durable, filter.as_str())
        .await
        .with_context(|| {
            format!(
                "cannot follow {filter} on stream {} at {url}",
                config.stream
            )
        })?;
    eprintln!("following {filter} on {} as {durable:?}", config.stream);

    loop {
        let delivery = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            next = deliveries.next() => match next {
                Some(delivery) => delivery,
                None => break,
            },
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            // A message that is not an envelope has been terminated by the helper; go on.
            Err(error) => {
                eprintln!("skipped: {}", ticket_nats::error::chain(&error));
                continue;
            }
        };
        let envelope = &delivery.envelope;
        match envelope.event() {
            Ok(TicketEvent::Closed(closed)) => println!(
                "ticket {} closed (seq {}, position {}) by {}: {}",
                envelope.subject,
                envelope.seq,
                envelope.position,
                envelope.actorname,
                closed
                    .resolution
                    .as_deref()
                    .unwrap_or("(no resolution given)")
            ),
            // The filter only lets `closed` through; a newer event shape this build cannot read
            // is acknowledged and skipped rather than redelivered forever.
            Ok(other) => eprintln!("unexpected {} on {filter}", other.event_type()),
            Err(error) => eprintln!("cannot read event {}: {error}", envelope.id),
        }
        delivery.ack().await?;
    }
    Ok(())
}
