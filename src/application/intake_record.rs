//! The `intake_tickets` record of an integration's `external_id`: which ticket (id, number) and
//! requester it names, and the one statement a common intake pays to find it, its requester,
//! and record a new one.

use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use super::people::Contact;
use crate::domain::Ticket;
use crate::users::{self, User};

/// What an intake finds (and, in the common case, records) before it runs the command.
pub(super) struct FirstLook {
    /// The integration is not revoked (in the snapshot the statement read and wrote in).
    pub active: bool,
    /// The ticket the `external_id` names, if recorded: (ticket id, number, requester id).
    pub mapped: Option<(Uuid, i64, Uuid)>,
    /// Whether that ticket's `ticket.created` is stored.
    pub complete: bool,
    /// The user the requester's first contact field (e-mail address, else phone number) names,
    /// following a merge.
    pub user: Option<User>,
    /// The statement tried to record the `external_id` for that user: the `external_id` was
    /// new, and the user was found with no contact to fill.
    pub attempted: bool,
    /// The number taken with the record, when it was written (none after an attempt: a
    /// concurrent intake with the same `external_id` recorded it first).
    pub recorded: Option<i64>,
}

/// Looks up the `external_id` and the requester in one statement, and when the `external_id` is
/// new and the requester a returning person with nothing to fill (the common case: no
/// transaction, no row lock, the unique key of `intake_tickets` decides a race), records it for
/// `new_id` with the next ticket number in the same statement. It also checks that the
/// integration is not revoked, and records nothing if it is: a key an instance remembers needs
/// no lookup of its own.
///
/// The record is committed without waiting for its WAL flush ([`ASYNC_COMMIT`]).
pub(super) async fn first_look(
    pool: &PgPool,
    integration: Uuid,
    external_id: Option<&str>,
    contact: &Contact,
    new_id: Uuid,
) -> Result<FirstLook, sqlx::Error> {
    let row = sqlx::query(&format!(
        "WITH active AS (
             SELECT 1 FROM integrations WHERE id = $1 AND revoked_at IS NULL),
         m AS (
             SELECT ticket_id, number, requester_id FROM intake_tickets
             WHERE integration_id = $1 AND external_id = $2),
         u AS (
             SELECT {} FROM users WHERE id = (
                 SELECT coalesce(merged_into, id) FROM users
                 WHERE ($4::text IS NOT NULL AND lower(email) = lower($4))
                    OR ($4::text IS NULL AND $5::text IS NOT NULL AND phone = $5))),
         fits AS (
             SELECT id FROM u
             WHERE $2::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM m)
               AND EXISTS (SELECT 1 FROM active)
               AND (email IS NOT NULL OR $4::text IS NULL)
               AND (phone IS NOT NULL OR $5::text IS NULL)),
         ins AS (
             INSERT INTO intake_tickets (integration_id, external_id, ticket_id, number, requester_id)
             SELECT $1, $2, $6, nextval('ticket_numbers'), id
             FROM fits, ({ASYNC_COMMIT}) AS sc WHERE sc.off IS NOT NULL
             ON CONFLICT DO NOTHING
             RETURNING number)
         SELECT m.ticket_id, m.number, m.requester_id,
                EXISTS (SELECT 1 FROM events
                        WHERE aggregate_type = $3 AND aggregate_id = m.ticket_id::text
                          AND sequence = 1) AS complete,
                EXISTS (SELECT 1 FROM fits) AS attempted,
                (SELECT number FROM ins) AS recorded,
                EXISTS (SELECT 1 FROM active) AS active,
                u.*
         FROM (SELECT 1) AS one LEFT JOIN m ON true LEFT JOIN u ON true",
        users::COLUMNS
    ))
    .bind(integration)
    .bind(external_id)
    .bind(<Ticket as cqrs_es::Aggregate>::TYPE)
    .bind(contact.email.as_deref())
    .bind(contact.phone.as_deref())
    .bind(new_id)
    .fetch_one(pool)
    .await?;
    let ticket_id: Option<Uuid> = row.try_get(0)?;
    let number: Option<i64> = row.try_get(1)?;
    let requester_id: Option<Uuid> = row.try_get(2)?;
    let mapped = match (ticket_id, number, requester_id) {
        (Some(t), Some(n), Some(r)) => Some((t, n, r)),
        _ => None,
    };
    let user_id: Option<Uuid> = row.try_get(7)?;
    let user = match user_id {
        None => None,
        Some(id) => users::from_row((
            id,
            row.try_get(8)?,
            row.try_get(9)?,
            row.try_get(10)?,
            row.try_get(11)?,
            row.try_get(12)?,
            row.try_get(13)?,
            row.try_get(14)?,
        )),
    };
    Ok(FirstLook {
        active: row.try_get(6)?,
        mapped,
        complete: row.try_get(3)?,
        user,
        attempted: row.try_get(4)?,
        recorded: row.try_get(5)?,
    })
}

/// A subquery that makes the statement's own transaction commit without waiting for its WAL
/// flush (`synchronous_commit` off for that transaction alone); its one column, `off`, is
/// referenced by the statement so that no plan leaves it out.
///
/// An `intake_tickets` record is only ever acted on through the ticket it names: the intake
/// that wrote it answers after that ticket's `ticket.created` commits, synchronously, and a
/// commit's flush covers every WAL record before it, this record's commit included. So a crash
/// can lose a record only together with a ticket never created, as if the intake never came,
/// and each intake saves a WAL flush. Whoever answers from a record someone else wrote, before
/// its ticket is stored, makes it durable first ([`make_durable`]).
const ASYNC_COMMIT: &str = "SELECT set_config('synchronous_commit', 'off', true) AS off";

/// Waits until every commit visible now is flushed to the WAL (a transaction with an id of its
/// own commits synchronously, and its flush covers the commits before it).
pub(super) async fn make_durable(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(pool)
        .await
        .map(|_| ())
}

/// The ticket an integration's `external_id` names: (ticket id, number, requester id).
pub(super) async fn mapped(
    pool: &PgPool,
    integration: Uuid,
    external_id: &str,
) -> Result<Option<(Uuid, i64, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_id, number, requester_id FROM intake_tickets
         WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(external_id)
    .fetch_optional(pool)
    .await
}

/// Records a new `external_id` for `id` and `requester` with the next ticket number (in the
/// same statement, committed as [`ASYNC_COMMIT`] says); `None` when a concurrent intake with the
/// same `external_id` recorded it.
pub(super) async fn record(
    pool: &PgPool,
    integration: Uuid,
    external_id: &str,
    id: Uuid,
    requester: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "INSERT INTO intake_tickets (integration_id, external_id, ticket_id, number, requester_id)
         SELECT $1, $2, $3, nextval('ticket_numbers'), $4
         FROM ({ASYNC_COMMIT}) AS sc WHERE sc.off IS NOT NULL
         ON CONFLICT DO NOTHING
         RETURNING number"
    ))
    .bind(integration)
    .bind(external_id)
    .bind(id)
    .bind(requester)
    .fetch_optional(pool)
    .await
}

/// Whether a ticket's `ticket.created` is stored.
pub(super) async fn ticket_exists(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events
                        WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1)",
    )
    .bind(<Ticket as cqrs_es::Aggregate>::TYPE)
    .bind(id.to_string())
    .fetch_one(pool)
    .await
}
