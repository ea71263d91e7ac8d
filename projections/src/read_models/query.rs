//! What every read-model query shares: who is asking, and one snapshot for a whole answer.

use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

/// Who is asking: what a query may show depends on it (CONTRACT 2.1). The engine's read policy
/// says who reads everything; what that means for tickets and internal comments is written
/// here once, and every query (and the engine's own checks) asks these methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The caller's user id.
    pub user_id: Uuid,
    /// Agents, admins and auditors read every ticket and internal comments; requesters only
    /// their own tickets, without internal comments.
    pub reads_everything: bool,
}

impl Viewer {
    /// The one requester whose tickets the viewer may read (itself, for a requester); `None`
    /// when it may read every ticket.
    pub fn only_requester(&self) -> Option<Uuid> {
        (!self.reads_everything).then_some(self.user_id)
    }

    /// May the viewer read internal comments, and the events and activity recording them?
    pub fn reads_internal(&self) -> bool {
        self.reads_everything
    }

    /// May the viewer read the ticket whose requester is `requester` (`None`: no readable
    /// requester)? A requester reading a ticket of a user merged into them is not decided
    /// here: the directory says (`requested_by`, and the engine's own check).
    pub fn may_read_ticket(&self, requester: Option<Uuid>) -> bool {
        self.only_requester()
            .is_none_or(|only| requester == Some(only))
    }

    /// May the viewer read a comment (or the event recording it) that is `internal` or not?
    pub fn may_read_comment(&self, internal: bool) -> bool {
        self.reads_internal() || !internal
    }
}

/// A user merged into another is the same person (CONTRACT 7): their tickets are the kept
/// user's. Both read through the directory's `merged_into`, which the merge itself keeps (and
/// points at the kept user directly, so one level suffices); no ticket row is rewritten, and a
/// rebuild of the read models reads the same directory.
///
/// The SQL condition: ticket row `v`'s requester is the person `param` (a placeholder such as
/// `$3`) names, or a user merged into them.
pub(crate) fn requested_by(param: &str) -> String {
    format!(
        "v.requester_id = ANY(ARRAY(SELECT {param}::uuid
                                    UNION ALL SELECT u.id FROM users u WHERE u.merged_into = {param}))"
    )
}

/// Appends [`requested_by`] for `person`.
pub(crate) fn push_requested_by(qb: &mut QueryBuilder<'_, Postgres>, person: Uuid) {
    qb.push("v.requester_id = ANY(ARRAY(SELECT ")
        .push_bind(person)
        .push("::uuid UNION ALL SELECT u.id FROM users u WHERE u.merged_into = ")
        .push_bind(person)
        .push("))");
}

/// A read-only transaction on one snapshot, for an answer built from several statements.
pub(crate) async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
