//! What every handler shares.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::Authenticator;
use crate::command_service::CommandService;
use crate::settings::Settings;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// The write side.
    pub commands: Arc<CommandService>,
    /// The read side: projectors' positions, `wait_for` for read-your-writes.
    pub projections: Arc<ticket_projections::Runner>,
    /// WebSocket fan-out: the instance's live feed and its connections.
    pub hub: crate::hub::Hub,
    /// The NATS connection and relay; `None` without `NATS_URL` (nothing is published).
    pub nats: Option<Arc<crate::relay::NatsRelay>>,
    /// The supervised background tasks, as `/readyz` reports them.
    pub tasks: crate::supervisor::Tasks,
    /// The general rate limiter (its size is reported and bounded).
    pub limiter: super::limiter::Limiter,
    /// The mail channels' states (each `None` when not configured).
    pub email: crate::email::EmailChannels,
    /// The webhook deliverer (whether this instance leads, for `/readyz`).
    pub webhooks: Arc<crate::webhooks::Deliverer>,
    /// Login, refresh and reset: their budgets, the reset mailer.
    pub credentials: super::credentials::Credentials,
    /// The attachments' store.
    pub attachments: crate::attachments::Attachments,
    /// Board and statistics answers, computed once per position for every caller.
    pub answers: super::shared_answers::SharedAnswers,
    /// Integration keys this instance verified lately.
    pub integration_keys: crate::integrations::KeyCache,
}
