//! `relay_bench`: NATS relay throughput on its own (`ticketd-bench` runs it too, among its
//! other measurements). Run it in release mode:
//!
//! ```sh
//! cargo run --release --bin relay_bench                     # 100,000 events
//! cargo run --release --bin relay_bench -- --events 20000 --in-flight 256
//! ```
//!
//! It creates a database and JetStream streams of its own (dropped and deleted at the end),
//! stores N sealed, positioned events directly with SQL, and measures:
//! - the relay: events per second from the store to acknowledged in JetStream, through the real
//!   relay (`ticketd::relay`: reads `events` by position, publishes with acknowledgements in
//!   flight, checkpoints on acknowledgement);
//! - raw JetStream: the same messages, serialized beforehand, published with the same number of
//!   acknowledgements in flight and no database: the ceiling the relay can approach.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use cqrs_es::Aggregate;
use futures::stream::{FuturesUnordered, StreamExt};
use sqlx::{Connection, PgConnection, PgPool};
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{
    AuthorRef, RequesterRef, SlaDue, TicketClosed, TicketCommented, TicketCreated, EVENT_VERSION,
};
use ticket_nats::publish::{send, OutgoingMessage};
use ticket_nats::{Envelope, TicketEvent, Timestamp, GENESIS_HASH};
use ticket_projections::CancellationToken;
use ticketd::domain::Ticket;
use ticketd::relay::NatsRelay;
use uuid::Uuid;

/// NATS relay throughput: store → acknowledged in JetStream, against raw pipelined publishes.
#[derive(Debug, Parser)]
#[command(name = "relay_bench")]
struct Args {
    /// Events to relay.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per ticket (a ticket is created, then commented, then closed).
    #[arg(long, default_value_t = 10)]
    per_ticket: usize,
    /// Publishes in flight (the relay's `max_in_flight`, and the raw publisher's window).
    #[arg(long, default_value_t = ticket_nats::Config::default().max_in_flight)]
    in_flight: usize,
    /// Times to run both measurements (the figures of each round are printed).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// A Postgres server URL; the bench creates (and drops) a database of its own there.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// NATS with JetStream; the bench creates (and deletes) streams of its own there.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let id = Uuid::new_v4().simple().to_string();
    let db_name = format!("ticketd_relay_bench_{id}");
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .context("cannot connect to Postgres (BENCH_DATABASE_URL)")?;
    sqlx::query(&format!(r#"CREATE DATABASE "{db_name}""#))
        .execute(&mut admin)
        .await
        .context("cannot create the bench database")?;
    let url = with_database(&args.database_url, &db_name);
    let client = ticket_nats::connect(&args.nats_url, "relay_bench").await?;
    let mut streams = Vec::new();

    let outcome = run(&args, &url, &id, client.clone(), &mut streams).await;

    // Clean up whatever happened.
    let jetstream = async_nats::jetstream::new(client);
    for stream in &streams {
        let _ = jetstream.delete_stream(stream).await;
    }
    let _ = sqlx::query(&format!(
        r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#
    ))
    .execute(&mut admin)
    .await;
    outcome
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if !base[..i].ends_with('/') => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn run(
    args: &Args,
    url: &str,
    id: &str,
    client: async_nats::Client,
    streams: &mut Vec<String>,
) -> anyhow::Result<()> {
    let pool = ticketd::startup::connect(url).await?;
    ticketd::startup::migrate(&pool).await?;
    let n = args.events;
    println!("storing {n} sealed, positioned events …");
    let started = Instant::now();
    let envelopes = generate(n, args.per_ticket.max(3));
    store(&pool, &envelopes).await?;
    let bytes: usize = envelopes
        .iter()
        .map(|e| serde_json::to_vec(e).map(|v| v.len()).unwrap_or(0))
        .sum();
    println!(
        "  {:.2?}; {} bytes per envelope on average; {} publishes in flight",
        started.elapsed(),
        bytes / n.max(1),
        args.in_flight
    );
    for round in 1..=args.rounds.max(1) {
        let relay_stream = format!("BENCH_RELAY_{id}_{round}");
        let raw_stream = format!("BENCH_RAW_{id}_{round}");
        streams.push(relay_stream.clone());
        streams.push(raw_stream.clone());
        let relay_time = through_relay(args, &pool, &client, &relay_stream).await?;
        let raw_time = raw_publishes(args, &envelopes, &client, &raw_stream).await?;
        let rate = |time: Duration| n as f64 / time.as_secs_f64();
        println!("round {round}: {n} events");
        println!(
            "  relay (store -> acknowledged in JetStream): {relay_time:>10.2?}  {:>9.0} events/s",
            rate(relay_time)
        );
        println!(
            "  raw pipelined JetStream publishes:          {raw_time:>10.2?}  {:>9.0} events/s",
            rate(raw_time)
        );
        println!("  relay / raw: {:.2}", rate(relay_time) / rate(raw_time));
        // Each round's streams go as soon as they are measured: the store is the disk's.
        let jetstream = async_nats::jetstream::new(client.clone());
        for stream in [&relay_stream, &raw_stream] {
            let _ = jetstream.delete_stream(stream).await;
        }
    }
    pool.close().await;
    Ok(())
}

/// Time for the real relay to get every stored event acknowledged, from a fresh checkpoint.
async fn through_relay(
    args: &Args,
    pool: &PgPool,
    client: &async_nats::Client,
    stream: &str,
) -> anyhow::Result<Duration> {
    let config = ticket_nats::Config {
        max_in_flight: args.in_flight,
        ..ticket_nats::Config::named(stream, format!("b{}", stream.to_lowercase()))
    };
    // The stream exists before the clock starts, as it does for a running engine.
    let jetstream = ticket_nats::jetstream(client.clone(), &config);
    ticket_nats::ensure_stream(&jetstream, &config).await?;
    let shutdown = CancellationToken::new();
    let (relay, task) = NatsRelay::start(&args.nats_url, config, pool.clone(), shutdown.clone())
        .await
        .context("cannot start the relay")?;
    let target = args.events as i64;
    let started = Instant::now();
    let running = tokio::spawn(task);
    while relay.status().position() < target {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the relay did not finish within 10 minutes ({} of {target})",
            relay.status().position()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    let _ = running.await;
    let stored = message_count(&jetstream, stream).await?;
    anyhow::ensure!(
        stored == target as u64,
        "the relay's stream holds {stored} messages, not {target}"
    );
    Ok(elapsed)
}

/// Time to publish the same messages, serialized beforehand, with the same window.
async fn raw_publishes(
    args: &Args,
    envelopes: &[Envelope],
    client: &async_nats::Client,
    stream: &str,
) -> anyhow::Result<Duration> {
    let config = ticket_nats::Config {
        max_in_flight: args.in_flight,
        ..ticket_nats::Config::named(stream, format!("b{}", stream.to_lowercase()))
    };
    let jetstream = ticket_nats::jetstream(client.clone(), &config);
    ticket_nats::ensure_stream(&jetstream, &config).await?;
    let messages = envelopes
        .iter()
        .map(|e| OutgoingMessage::new(e, &config.subject_prefix))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for message in messages {
        if in_flight.len() >= args.in_flight {
            if let Some(ack) = in_flight.next().await {
                ack?;
            }
        }
        in_flight.push(std::future::IntoFuture::into_future(
            send(&jetstream, message).await?,
        ));
    }
    while let Some(ack) = in_flight.next().await {
        ack?;
    }
    let elapsed = started.elapsed();
    let stored = message_count(&jetstream, stream).await?;
    anyhow::ensure!(
        stored == envelopes.len() as u64,
        "the raw stream holds {stored} messages, not {}",
        envelopes.len()
    );
    Ok(elapsed)
}

async fn message_count(
    jetstream: &async_nats::jetstream::Context,
    stream: &str,
) -> anyhow::Result<u64> {
    let mut stream = jetstream.get_stream(stream).await?;
    Ok(stream.info().await?.state.messages)
}

/// `n` events over tickets of `per_ticket` events each (created, comments, closed), sealed on
/// their hash chains, positions 1..=n in ticket-interleaved order.
fn generate(n: usize, per_ticket: usize) -> Vec<Envelope> {
    let tickets = n.div_ceil(per_ticket).max(1);
    let ids: Vec<Uuid> = (0..tickets).map(|_| Uuid::now_v7()).collect();
    let agent = Actor {
        id: Uuid::now_v7().to_string(),
        name: "Agnes Agent".into(),
        role: "agent".into(),
    };
    let now = Timestamp::now();
    let mut chains: HashMap<Uuid, (i64, String)> = HashMap::new();
    (0..n)
        .map(|i| {
            let ticket = ids[i % tickets];
            let (seq, prevhash) = chains
                .get(&ticket)
                .cloned()
                .unwrap_or((0, GENESIS_HASH.to_string()));
            let seq = seq + 1;
            let event = match seq {
                1 => TicketEvent::Created(TicketCreated {
                    number: (i % tickets) as i64 + 1,
                    title: format!("Benchmark ticket {i}"),
                    description: "The printer on floor 3 blinks orange and jams on every page."
                        .into(),
                    category: "printer".into(),
                    priority: "medium".into(),
                    channel: "web".into(),
                    requester: RequesterRef {
                        id: Uuid::now_v7(),
                        name: "Rita Requester".into(),
                        email: "rita@example.com".into(),
                    },
                    sla: SlaDue {
                        first_response_due: now.plus(chrono::TimeDelta::hours(4)),
                        resolution_due: now.plus(chrono::TimeDelta::hours(24)),
                    },
                }),
                s if s as usize == per_ticket => TicketEvent::Closed(TicketClosed {
                    resolution: Some("Replaced the fuser unit".into()),
                }),
                _ => TicketEvent::Commented(TicketCommented {
                    comment_id: Uuid::now_v7(),
                    author: AuthorRef {
                        id: Uuid::now_v7(),
                        name: "Agnes Agent".into(),
                        role: "agent".into(),
                    },
                    body: "Looked at it; ordering a new fuser unit, back tomorrow.".into(),
                    internal: i % 3 == 0,
                }),
            };
            let mut envelope = Envelope::seal(
                EnvelopeHeader {
                    source: "ticketd",
                    ticket_id: ticket,
                    seq,
                    time: now,
                    actor: &agent,
                    correlation_id: "bench",
                },
                &event,
                &prevhash,
            );
            envelope.position = i as i64 + 1;
            chains.insert(ticket, (seq, envelope.hash.clone()));
            envelope
        })
        .collect()
}

/// Inserts the envelopes as the store writes them (the `metadata` members of the store's
/// `stored_metadata`), positions included, 10,000 rows per statement.
async fn store(pool: &PgPool, envelopes: &[Envelope]) -> anyhow::Result<()> {
    for chunk in envelopes.chunks(10_000) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut sequences = Vec::with_capacity(chunk.len());
        let mut types = Vec::with_capacity(chunk.len());
        let mut payloads = Vec::with_capacity(chunk.len());
        let mut metas = Vec::with_capacity(chunk.len());
        let mut positions = Vec::with_capacity(chunk.len());
        for e in chunk {
            ids.push(e.subject.clone());
            sequences.push(e.seq);
            types.push(e.event_type.clone());
            payloads.push(e.data.to_string());
            metas.push(
                serde_json::json!({
                    "specversion": e.specversion,
                    "source": e.source,
                    "time": e.time,
                    "datacontenttype": e.datacontenttype,
                    "actorid": e.actorid,
                    "actorname": e.actorname,
                    "actorrole": e.actorrole,
                    "correlationid": e.correlationid,
                    "hash": e.hash,
                    "prevhash": e.prevhash,
                })
                .to_string(),
            );
            positions.push(e.position);
        }
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, position)
             SELECT $1, a, s, t, $2, p::json, m::json, pos
             FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
                  AS x(a, s, t, p, m, pos)",
        )
        .bind(Ticket::TYPE)
        .bind(EVENT_VERSION)
        .bind(&ids)
        .bind(&sequences)
        .bind(&types)
        .bind(&payloads)
        .bind(&metas)
        .bind(&positions)
        .execute(pool)
        .await
        .context("cannot store the bench events")?;
    }
    Ok(())
}
