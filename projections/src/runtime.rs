//! The projection runtime: each read model applies batches of events in position order, with
//! its checkpoint moved in the same transaction (exactly once).

use sqlx::PgConnection;

use crate::stored::StoredEvent;

/// A read model fed from the event store.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// A stable name, e.g. `ticket_view`; keys its checkpoint.
    fn name(&self) -> &'static str;

    /// The tables this read model owns (rebuilt aside, then swapped in).
    fn tables(&self) -> &'static [&'static str];

    /// Applies a batch of events, in position order, inside the runner's transaction. SQL must
    /// use unqualified table names: a rebuild points `search_path` at a shadow schema.
    async fn apply(&self, conn: &mut PgConnection, batch: &[StoredEvent]) -> Result<(), sqlx::Error>;
}
