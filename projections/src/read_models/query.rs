//! What every read-model query shares: who is asking, and one snapshot for a whole answer.

use std::collections::HashMap;

use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use tokio::sync::{Semaphore, SemaphorePermit};
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

/// The users merged into some people, read before a statement that names those people as
/// requesters: a person nobody was merged into is then one equality, which the planner reads
/// in a page's order through `(requester_id, created_at, ticket_id)` (a requester with 1,422
/// tickets at 1,000,000: 51 index entries instead of 1,422 rows read and sorted). A person not
/// read here is named through [`requested_by`]'s subquery.
#[derive(Debug, Default)]
pub(crate) struct MergedInto(HashMap<Uuid, Vec<Uuid>>);

impl MergedInto {
    /// The users merged into each of `people`.
    pub(crate) async fn read(pool: &PgPool, people: &[Uuid]) -> Result<Self, sqlx::Error> {
        let mut merged: HashMap<Uuid, Vec<Uuid>> =
            people.iter().map(|person| (*person, Vec::new())).collect();
        if people.is_empty() {
            return Ok(Self(merged));
        }
        let rows: Vec<(Uuid, Uuid)> =
            sqlx::query_as("SELECT merged_into, id FROM users WHERE merged_into = ANY($1)")
                .bind(people)
                .fetch_all(pool)
                .await?;
        for (into, id) in rows {
            merged.entry(into).or_default().push(id);
        }
        Ok(Self(merged))
    }

    /// Appends whether ticket row `v`'s requester is `person` or a user merged into them.
    pub(crate) fn push_requested_by(&self, qb: &mut QueryBuilder<'_, Postgres>, person: Uuid) {
        match self.0.get(&person).map(Vec::as_slice) {
            Some([]) => {
                qb.push("v.requester_id = ").push_bind(person);
            }
            Some(merged) => {
                let ids: Vec<Uuid> = std::iter::once(person)
                    .chain(merged.iter().copied())
                    .collect();
                qb.push("v.requester_id = ANY(").push_bind(ids).push(")");
            }
            None => {
                qb.push("v.requester_id = ANY(ARRAY(SELECT ")
                    .push_bind(person)
                    .push("::uuid UNION ALL SELECT u.id FROM users u WHERE u.merged_into = ")
                    .push_bind(person)
                    .push("))");
            }
        }
    }
}

/// How a read-only transaction on one snapshot begins.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A read-only transaction on one snapshot, for an answer built from several statements.
pub(crate) async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(BEGIN_SNAPSHOT).await
}

/// How many connections answers read side by side may hold beside their first, all together:
/// without a bound, as many answers as the pool has connections could each hold one and wait
/// for the others until the pool's timeout.
static BESIDE: Semaphore = Semaphore::const_new(8);

/// What [`snapshots`] gives: the permit for the connections beside the first, and the
/// transactions.
pub(crate) type Snapshots<const N: usize> = (
    SemaphorePermit<'static>,
    [Transaction<'static, Postgres>; N],
);

/// `N` read-only transactions on one snapshot, each on a connection of its own, for an answer
/// whose independent statements run side by side: the first exports its snapshot
/// (`pg_export_snapshot`), the others begin on it in the same round trip as their `BEGIN`. The
/// permit is for the connections beside the first ([`BESIDE`]): hold it as long as them.
pub(crate) async fn snapshots<const N: usize>(pool: &PgPool) -> Result<Snapshots<N>, sqlx::Error> {
    let beside = u32::try_from(N.saturating_sub(1)).unwrap_or(u32::MAX);
    let permit = BESIDE
        .acquire_many(beside)
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?;
    let (first, id) = exported(pool).await?;
    let others = futures::future::try_join_all((1..N).map(|_| imported(pool, &id)));
    let mut all = Vec::with_capacity(N);
    all.push(first);
    all.extend(others.await?);
    let all = all
        .try_into()
        .map_err(|_| sqlx::Error::Protocol("snapshots: a transaction missing".into()))?;
    Ok((permit, all))
}

/// A snapshot transaction and the id of its snapshot, exported for others to begin on.
async fn exported(pool: &PgPool) -> Result<(Transaction<'static, Postgres>, String), sqlx::Error> {
    let mut tx = snapshot(pool).await?;
    let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *tx)
        .await?;
    // Spelled into the statement (`SET TRANSACTION SNAPSHOT` takes no parameter): an id is
    // hexadecimal digits and dashes, e.g. `00000003-0000001B-1`.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(sqlx::Error::Protocol(format!(
            "pg_export_snapshot gave {id:?}"
        )));
    }
    Ok((tx, id))
}

/// A read-only transaction on the exported snapshot `id`, begun in one round trip.
async fn imported(pool: &PgPool, id: &str) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(format!("{BEGIN_SNAPSHOT}; SET TRANSACTION SNAPSHOT '{id}'"))
        .await
}

/// What a task reading beside the caller gave; its panic goes on in the caller.
pub(crate) async fn joined<T>(task: tokio::task::JoinHandle<T>) -> Result<T, sqlx::Error> {
    match task.await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: only when the runtime shuts down.
        Err(e) => Err(sqlx::Error::Io(std::io::Error::other(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_nobody_was_merged_into_is_one_equality() {
        let (alone, kept, duplicate, unread) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let merged = MergedInto(HashMap::from([(alone, vec![]), (kept, vec![duplicate])]));
        let sql = |person| {
            let mut qb = QueryBuilder::<Postgres>::new("");
            merged.push_requested_by(&mut qb, person);
            qb.sql().to_string()
        };
        assert_eq!(sql(alone), "v.requester_id = $1");
        assert_eq!(sql(kept), "v.requester_id = ANY($1)");
        assert!(
            sql(unread).contains("u.merged_into = $2"),
            "{}",
            sql(unread)
        );
    }

    /// A transaction begun on an exported snapshot sees what the exporting one sees, not what
    /// committed in between; [`snapshots`] makes its transactions so. Reads no table: the
    /// snapshots themselves are compared, on the server's own database.
    #[tokio::test]
    async fn side_by_side_transactions_share_one_snapshot() {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL for the tests");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("connect");
        let current = "SELECT pg_current_snapshot()::text";
        let (mut first, id) = exported(&pool).await.expect("an exported snapshot");
        // A transaction that commits after the export: it moves any snapshot taken later.
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&pool)
            .await
            .expect("a committed transaction");
        let mut second = imported(&pool, &id).await.expect("an imported snapshot");
        let seen: String = sqlx::query_scalar(current)
            .fetch_one(&mut *first)
            .await
            .expect("the first's");
        let seen_beside: String = sqlx::query_scalar(current)
            .fetch_one(&mut *second)
            .await
            .expect("the second's");
        let later: String = sqlx::query_scalar(current)
            .fetch_one(&pool)
            .await
            .expect("a later one");
        assert_eq!(seen, seen_beside);
        assert_ne!(seen, later);
        first.commit().await.expect("commit");
        second.commit().await.expect("commit");

        let (_permit, txs) = snapshots::<3>(&pool).await.expect("three transactions");
        for tx in txs {
            tx.commit().await.expect("commit");
        }
    }
}
