//! Mail in at volume: messages sent over SMTP to an engine process's listener, timed until every
//! one is visible in the read model as a ticket or a comment, each exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use sqlx::PgPool;

use super::engine::Engine;

const SUPPORT: &str = "support@bench.test";
/// Every this many messages of a sender, one answers the sender's previous mail.
const REPLY_EVERY: usize = 5;

/// What the mail run measured.
#[derive(Debug, Default, Clone, Serialize)]
pub struct EmailResult {
    pub messages: usize,
    pub tickets: i64,
    pub comments: i64,
    /// From the first send to the last 250.
    pub smtp_seconds: f64,
    /// From the first send until every message is in the read model.
    pub visible_seconds: f64,
    pub messages_per_s: f64,
}

/// Sends `messages` mails from `clients` senders at once (each sender's every fifth mail a
/// reply to its previous one) and waits until the read model holds them all.
pub async fn run(
    database_url: &str,
    pool: &PgPool,
    messages: usize,
    clients: usize,
) -> anyhow::Result<EmailResult> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let engine = Engine::start_with(
        database_url,
        None,
        &[
            ("SMTP_LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ("INBOUND_EMAIL_ADDRESSES", SUPPORT.into()),
            ("EMAIL_FROM", format!("Bench desk <{SUPPORT}>")),
        ],
    )
    .await?;
    let transport = Arc::new(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .pool_config(PoolConfig::new().max_size(clients as u32))
            .timeout(Some(Duration::from_secs(60)))
            .build(),
    );
    let started = Instant::now();
    let mut senders = Vec::new();
    let mut replies = 0;
    for client in 0..clients {
        let share: Vec<usize> = (client..messages).step_by(clients).collect();
        replies += share
            .iter()
            .enumerate()
            .filter(|(i, _)| i % REPLY_EVERY == REPLY_EVERY - 1)
            .count();
        let transport = transport.clone();
        senders.push(tokio::spawn(async move {
            let from = format!("sender{client}@client.test");
            let envelope = Envelope::new(Some(from.parse()?), vec![SUPPORT.parse()?])?;
            let mut previous = String::new();
            for (i, n) in share.into_iter().enumerate() {
                let id = format!("bench{n}.{}@client.test", uuid::Uuid::new_v4().simple());
                let threading = if i % REPLY_EVERY == REPLY_EVERY - 1 {
                    format!("In-Reply-To: <{previous}>\r\n")
                } else {
                    String::new()
                };
                let raw = format!(
                    "From: Sender {client} <{from}>\r\nTo: {SUPPORT}\r\nSubject: Bench mail {n}\r\nMessage-ID: <{id}>\r\n{threading}\r\nMessage {n} of the benchmark.\r\n"
                );
                transport.send_raw(&envelope, raw.as_bytes()).await?;
                previous = id;
            }
            anyhow::Ok(())
        }));
    }
    for sender in senders {
        sender.await.context("a sender panicked")??;
    }
    let smtp_seconds = started.elapsed().as_secs_f64();
    let (want_tickets, want_comments) = ((messages - replies) as i64, replies as i64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (tickets, comments) = loop {
        let (tickets, comments): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM ticket_view), (SELECT count(*) FROM ticket_comments)",
        )
        .fetch_one(pool)
        .await?;
        if (tickets >= want_tickets && comments >= want_comments) || Instant::now() > deadline {
            break (tickets, comments);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let visible_seconds = started.elapsed().as_secs_f64();
    engine.stop().await;
    anyhow::ensure!(
        (tickets, comments) == (want_tickets, want_comments),
        "the read model holds {tickets} tickets and {comments} comments, expected {want_tickets} and {want_comments}"
    );
    Ok(EmailResult {
        messages,
        tickets,
        comments,
        smtp_seconds,
        visible_seconds,
        messages_per_s: messages as f64 / visible_seconds,
    })
}
