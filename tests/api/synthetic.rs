//! Tickets made from sealed events at chosen times and applied by the ticket view projection
//! itself, batch by batch, in a database of their own: for read models that need more tickets,
//! or older ones, than a test can open through the API.

use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{RequesterRef, SlaDue, TicketCreated};
use ticket_nats::{Channel, Envelope, Priority, TicketEvent, GENESIS_HASH};
use ticket_projections::StoredEvent;
use uuid::Uuid;

use crate::helpers::read_models;
use crate::webhook_restarts::Database;

/// One ticket to open.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) id: Uuid,
    pub(crate) requester: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) title: String,
    pub(crate) description: String,
}

impl Opened {
    pub(crate) fn new(n: u128, requester: Uuid, created_at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::from_u128(0x5e00_0000_0000_0000_0000_0000_0000_0000 | n),
            requester,
            created_at,
            title: format!("Ticket {n}"),
            description: "Something is wrong.".into(),
        }
    }
}

/// A migrated database whose read models only the test writes.
pub(crate) struct Desk {
    _database: Database,
    pub(crate) pool: PgPool,
    position: i64,
}

impl Desk {
    pub(crate) async fn new() -> Self {
        let database = Database::create().await;
        // Patient: the batches are large and the machine may be busy with other tests.
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(60))
            .connect(&database.url)
            .await
            .expect("connect to the test database");
        Self {
            _database: database,
            pool,
            position: 0,
        }
    }

    /// Opens `tickets` in one batch of the projection, in the order given.
    pub(crate) async fn open(&mut self, tickets: &[Opened]) {
        let actor = Actor::system();
        let batch: Vec<StoredEvent> = tickets
            .iter()
            .map(|t| {
                self.position += 1;
                let event = TicketEvent::Created(TicketCreated {
                    number: self.position,
                    title: t.title.clone(),
                    description: t.description.clone(),
                    category: "other".into(),
                    priority: Priority::Medium,
                    channel: Channel::Web,
                    requester: RequesterRef {
                        id: t.requester,
                        name: format!("Requester {}", t.requester.as_u128() & 0xffff),
                        email: None,
                    },
                    sla: SlaDue {
                        first_response_due: (t.created_at + Duration::hours(4)).into(),
                        resolution_due: (t.created_at + Duration::days(3)).into(),
                    },
                    integration: None,
                    metadata: None,
                    fields: None,
                });
                let mut envelope = Envelope::seal(
                    EnvelopeHeader {
                        source: "ticketd",
                        ticket_id: t.id,
                        seq: 1,
                        time: t.created_at.into(),
                        actor: &actor,
                        correlation_id: "synthetic",
                    },
                    &event,
                    GENESIS_HASH,
                );
                envelope.position = self.position;
                StoredEvent {
                    position: self.position,
                    envelope,
                    event,
                }
            })
            .collect();
        let projections = read_models();
        let view = projections
            .iter()
            .find(|p| p.name() == ticket_projections::read_models::tickets::NAME)
            .expect("the ticket view projection");
        let mut tx = self.pool.begin().await.expect("begin");
        view.apply(&mut tx, &batch).await.expect("apply");
        tx.commit().await.expect("commit");
    }
}
