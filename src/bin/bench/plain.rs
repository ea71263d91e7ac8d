//! Plain cqrs-es: the same Ticket aggregate through `CqrsFramework` with postgres-es's event
//! store and a `GenericQuery` + `PostgresViewRepository` view — what a team writes first.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cqrs_es::persist::GenericQuery;
use cqrs_es::{EventEnvelope, View};
use postgres_es::{PostgresCqrs, PostgresViewRepository};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use ticket_nats::events::RequesterRef;
use ticket_nats::{TicketEvent, Timestamp};
use ticketd::domain::commands::{CommentOnTicket, CreateTicket, Issuer};
use ticketd::domain::{Priority, Role, Ticket, TicketCommand, TicketServices, Title};
use uuid::Uuid;

use super::{closed_loop, LoadResult};

/// postgres-es's own schema (its `db/init.sql`) plus the view's table.
const SCHEMA: &str = "
CREATE TABLE events (
    aggregate_type text NOT NULL, aggregate_id text NOT NULL,
    sequence bigint CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL,
    event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence));
CREATE TABLE snapshots (
    aggregate_type text NOT NULL, aggregate_id text NOT NULL,
    last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL, payload json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence));
CREATE TABLE ticket_summary (
    view_id text NOT NULL, version bigint CHECK (version >= 0) NOT NULL, payload json NOT NULL,
    PRIMARY KEY (view_id));
";

/// The view a first version keeps: status and comment count per ticket.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TicketSummary {
    status: String,
    comments: u64,
}

impl View<Ticket> for TicketSummary {
    fn update(&mut self, event: &EventEnvelope<Ticket>) {
        match &event.payload {
            TicketEvent::Created(_) => self.status = "open".into(),
            TicketEvent::Commented(_) => self.comments += 1,
            TicketEvent::Assigned(_) => self.status = "in_progress".into(),
            TicketEvent::Closed(_) => self.status = "closed".into(),
            _ => {}
        }
    }
}

type Framework = PostgresCqrs<Ticket>;

pub fn framework(pool: &PgPool) -> Arc<Framework> {
    let view = Arc::new(PostgresViewRepository::<TicketSummary, Ticket>::new(
        "ticket_summary",
        pool.clone(),
    ));
    let query = GenericQuery::new(view);
    Arc::new(postgres_es::postgres_cqrs(
        pool.clone(),
        vec![Box::new(query)],
        TicketServices::default(),
    ))
}

pub async fn create_schema(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(SCHEMA)
        .execute(pool)
        .await
        .context("create postgres-es's schema")?;
    Ok(())
}

fn agent() -> Issuer {
    Issuer {
        id: Uuid::nil(),
        name: "Bench Agent".into(),
        email: "agent@bench.test".into(),
        role: Role::Agent,
        stands_for: Vec::new(),
    }
}

pub async fn seed(cqrs: &Framework, tickets: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(tickets);
    for n in 0..tickets {
        let id = Uuid::now_v7();
        let command = TicketCommand::CreateTicket(CreateTicket {
            number: n as i64 + 1,
            title: Title::parse("Bench ticket").map_err(anyhow::Error::msg)?,
            description: String::new(),
            category: "other".into(),
            priority: Priority::Medium,
            channel: Default::default(),
            requester: RequesterRef {
                id: Uuid::nil(),
                name: "Bench Agent".into(),
                email: Some("agent@bench.test".into()),
            },
            integration: None,
            metadata: None,
            fields: None,
            files: None,
            by: agent(),
            at: Timestamp::now(),
        });
        cqrs.execute(&id.to_string(), command)
            .await
            .context("seed plain cqrs-es")?;
        ids.push(id);
    }
    Ok(ids)
}

/// Comments through `CqrsFramework` from `clients` tasks for `duration`.
pub async fn run(
    cqrs: Arc<Framework>,
    tickets: &[Uuid],
    clients: usize,
    duration: Duration,
) -> LoadResult {
    closed_loop(tickets, clients, duration, move |ticket| {
        let cqrs = cqrs.clone();
        async move {
            let command = TicketCommand::CommentOnTicket(CommentOnTicket {
                comment_id: Uuid::now_v7(),
                body: "plain".into(),
                internal: false,
                by: agent(),
                via: None,
                attachments: Vec::new(),
                at: Timestamp::now(),
            });
            cqrs.execute(&ticket.to_string(), command).await.is_ok()
        }
    })
    .await
}
