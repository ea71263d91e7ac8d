//! After a fault: is every acknowledged command's event in the store, the `/events` feed and
//! the NATS stream, once?

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::Value;
use sqlx::PgPool;

/// What the store, the feed and the stream say about the acknowledged commands.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The store's head.
    pub head: i64,
    /// Acknowledged events missing from the store, the feed or the stream (each counted once).
    pub lost: u64,
    /// Of those: missing from the store.
    pub lost_store: u64,
    /// Missing from the feed.
    pub lost_feed: u64,
    /// Missing from the stream.
    pub lost_nats: u64,
    /// Commands applied more than once (the same request body stored twice).
    pub applied_twice: u64,
    /// Events the feed shows twice, or positions it skips.
    pub feed_disorder: u64,
    /// Extra copies in the stream (count per message id, above one).
    pub nats_duplicates: u64,
}

/// Waits until every stored event has a position and the relay has put all of them in the
/// stream; the head.
pub async fn settle(pool: &PgPool, wait: Duration) -> anyhow::Result<i64> {
    let deadline = Instant::now() + wait;
    loop {
        let row: Result<(i64, i64, Option<i64>), _> = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE position IS NULL), coalesce(max(position), 0),
                    (SELECT max(position) FROM relay_checkpoints)
             FROM events",
        )
        .fetch_one(pool)
        .await;
        if let Ok((unpositioned, head, relayed)) = row {
            if unpositioned == 0 && relayed.unwrap_or(0) >= head {
                return Ok(head);
            }
        }
        if Instant::now() > deadline {
            bail!("the store did not settle within {wait:?} (unpositioned events or relay behind): {row:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the acknowledged `acked` event ids against the store, the feed (read through `base`
/// with an admin token) and the stream.
pub async fn verify(
    pool: &PgPool,
    http: &reqwest::Client,
    base: &str,
    admin_token: &str,
    nats_url: &str,
    stream: &str,
    acked: &HashSet<String>,
) -> anyhow::Result<Verdict> {
    let head = settle(pool, Duration::from_secs(120)).await?;
    let mut verdict = Verdict {
        head,
        ..Verdict::default()
    };

    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT aggregate_id || ':' || sequence FROM events")
            .fetch_all(pool)
            .await
            .context("read the store")?;
    let stored: HashSet<String> = stored.into_iter().map(|(id,)| id).collect();
    let (twice,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (
             SELECT payload->>'body' FROM events
             WHERE event_type = 'ticket.commented' AND payload->>'body' LIKE 'chaos %'
             GROUP BY 1 HAVING count(*) > 1) repeated",
    )
    .fetch_one(pool)
    .await
    .context("look for commands applied twice")?;
    verdict.applied_twice = twice as u64;

    let mut feed = HashSet::new();
    let mut after = 0i64;
    loop {
        let page: Value = http
            .get(format!("{base}/api/v1/events?after={after}&limit=1000"))
            .bearer_auth(admin_token)
            .send()
            .await
            .context("read the feed")?
            .error_for_status()
            .context("read the feed")?
            .json()
            .await
            .context("read the feed")?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            let position = event["position"].as_i64().unwrap_or(0);
            if position != after + 1 {
                verdict.feed_disorder += 1;
            }
            after = position.max(after);
            if let Some(id) = event["id"].as_str() {
                if !feed.insert(id.to_string()) {
                    verdict.feed_disorder += 1;
                }
            }
        }
        if events.is_empty() {
            break;
        }
    }

    let copies = stream_copies(nats_url, stream).await?;
    verdict.nats_duplicates = copies.values().map(|n| n.saturating_sub(1)).sum();

    for id in acked {
        let in_store = stored.contains(id);
        let in_feed = feed.contains(id);
        let in_nats = copies.contains_key(id);
        verdict.lost_store += u64::from(!in_store);
        verdict.lost_feed += u64::from(!in_feed);
        verdict.lost_nats += u64::from(!in_nats);
        verdict.lost += u64::from(!(in_store && in_feed && in_nats));
    }
    Ok(verdict)
}

/// Every message of the stream: how many carry each `Nats-Msg-Id`.
async fn stream_copies(nats_url: &str, stream: &str) -> anyhow::Result<HashMap<String, u64>> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    let client = async_nats::connect(nats_url)
        .await
        .context("connect to NATS")?;
    let js = async_nats::jetstream::new(client);
    let mut handle = js.get_stream(stream).await.context("find the stream")?;
    let total = handle.info().await.context("stream info")?.state.messages;
    let consumer = handle
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .context("create a consumer")?;
    let mut messages = consumer.messages().await.context("read the stream")?;
    let mut copies: HashMap<String, u64> = HashMap::new();
    let mut read = 0u64;
    while read < total {
        let message = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .context("the stream stopped delivering")?
            .context("the stream ended")?
            .map_err(|e| anyhow::anyhow!("read a message: {e}"))?;
        read += 1;
        let id = message
            .headers
            .as_ref()
            .and_then(ticket_nats::publish::message_id)
            .unwrap_or_default()
            .to_string();
        *copies.entry(id).or_default() += 1;
    }
    Ok(copies)
}
