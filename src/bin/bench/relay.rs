//! Relay throughput: events from the store to acknowledged in JetStream through ticketd's relay,
//! against raw pipelined JetStream publishes of the same messages.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use sqlx::PgPool;
use ticket_nats::publish::OutgoingMessage;
use ticket_projections::listen::Notifications;
use ticket_projections::CancellationToken;
use uuid::Uuid;

/// What the relay measurement found.
#[derive(Debug, Default, Serialize)]
pub struct RelayResult {
    pub events: usize,
    pub relay_events_per_s: f64,
    pub raw_publish_per_s: f64,
    pub relay_vs_raw_publish: f64,
}

async fn fresh_config(prefix_tag: &str) -> ticket_nats::Config {
    let tag = &Uuid::new_v4().simple().to_string()[..10];
    ticket_nats::Config::named(
        format!("BENCH_{prefix_tag}_{tag}"),
        format!("bench{prefix_tag}{tag}"),
    )
}

async fn delete(nats_url: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(nats_url).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(stream)
            .await;
    }
}

/// Runs both measurements over the positioned events already in `pool`.
pub async fn measure(pool: &PgPool, nats_url: &str, events: usize) -> anyhow::Result<RelayResult> {
    // Raw: the same envelopes, read first, published with the same window of acks in flight.
    let raw_config = fresh_config("raw").await;
    let client = async_nats::connect(nats_url)
        .await
        .context("connect to NATS")?;
    let js = async_nats::jetstream::new(client.clone());
    ticket_nats::ensure_stream(&js, &raw_config).await?;
    let envelopes =
        ticket_projections::stored::read_envelopes_after(pool, 0, events as i64 + 1, None)
            .await
            .context("read the generated events")?;
    let messages: Vec<OutgoingMessage> = envelopes
        .iter()
        .map(|e| OutgoingMessage::new(e, &raw_config.subject_prefix))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for m in messages {
        if acks.len() >= raw_config.max_in_flight {
            if let Some(ack) = acks.next().await {
                ack?;
            }
        }
        let ack = js
            .publish_with_headers(m.subject, m.headers, m.payload)
            .await
            .context("raw publish")?;
        acks.push(async move { ack.await.map(|_| ()).map_err(anyhow::Error::from) });
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let raw = started.elapsed();
    delete(nats_url, &raw_config.stream).await;

    // Through the relay, from the store.
    let config = fresh_config("relay").await;
    let stream = config.stream.clone();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let (notifications, _listener) = Notifications::start(pool.clone(), shutdown.clone());
    let (relay, task) = ticketd::relay::NatsRelay::start(
        nats_url,
        config,
        pool.clone(),
        &notifications,
        shutdown.clone(),
    )
    .await
    .context("start the relay")?;
    let handle = tokio::spawn(task);
    let target = envelopes.last().map(|e| e.position).unwrap_or(0);
    while relay.status().position() < target {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the relay did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let through_relay = started.elapsed();
    shutdown.cancel();
    let _ = handle.await;
    delete(nats_url, &stream).await;

    let relay_events_per_s = envelopes.len() as f64 / through_relay.as_secs_f64();
    let raw_publish_per_s = envelopes.len() as f64 / raw.as_secs_f64();
    Ok(RelayResult {
        events: envelopes.len(),
        relay_events_per_s,
        raw_publish_per_s,
        relay_vs_raw_publish: relay_events_per_s / raw_publish_per_s,
    })
}
