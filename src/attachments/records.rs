//! The attachments' metadata. Which comment lists a file is read from the event log itself
//! (`ticket.commented.data.attachments`), the one source of truth; `referenced_at` is a mark
//! that spares the janitor the look-up for files that are known to be used.

use sqlx::PgPool;
use ticket_nats::events::AttachmentRef;
use uuid::Uuid;

use cqrs_es::Aggregate;

use crate::domain::Ticket;

/// A stored file's metadata.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    pub id: Uuid,
    /// `None` for an integration's upload until an intake lists it.
    pub ticket_id: Option<Uuid>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: Uuid,
}

impl Record {
    /// As `ticket.commented` lists it.
    pub fn as_ref(&self) -> AttachmentRef {
        AttachmentRef {
            id: self.id,
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: u64::try_from(self.size).unwrap_or(0),
            sha256: self.sha256.clone(),
        }
    }
}

/// Records a file stored whole.
pub async fn insert(pool: &PgPool, r: &Record) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO attachments (id, ticket_id, filename, content_type, size, sha256, uploaded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.id)
    .bind(r.ticket_id)
    .bind(&r.filename)
    .bind(&r.content_type)
    .bind(r.size)
    .bind(&r.sha256)
    .bind(r.uploaded_by)
    .execute(pool)
    .await?;
    Ok(())
}

/// One file's metadata.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Record>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ticket_id, filename, content_type, size, sha256, uploaded_by
         FROM attachments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Whether the comment listing file `id` of `ticket` is internal; `None` while no comment
/// lists it.
pub async fn listing_comment_internal(
    pool: &PgPool,
    ticket: Uuid,
    id: Uuid,
) -> Result<Option<bool>, sqlx::Error> {
    let found: Option<Option<bool>> = sqlx::query_scalar(
        "SELECT (payload::jsonb->>'internal')::boolean FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = 'ticket.commented'
           AND payload::jsonb->'attachments' @> jsonb_build_array(jsonb_build_object('id', $3::text))
         ORDER BY sequence LIMIT 1",
    )
    .bind(Ticket::TYPE)
    .bind(ticket.to_string())
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|internal| internal.unwrap_or(false)))
}

/// The files `ids` as a new comment on `ticket` by `uploader` may list them: each uploaded by
/// them to this ticket and listed by no comment yet. `Err(id)` names the first that is not.
pub async fn claimable(
    pool: &PgPool,
    ticket: Uuid,
    uploader: Uuid,
    ids: &[Uuid],
) -> Result<Result<Vec<AttachmentRef>, Uuid>, sqlx::Error> {
    let mut refs = Vec::with_capacity(ids.len());
    for id in ids {
        let usable = match find(pool, *id).await? {
            Some(r) if r.ticket_id == Some(ticket) && r.uploaded_by == uploader => {
                listing_comment_internal(pool, ticket, *id)
                    .await?
                    .is_none()
                    .then_some(r)
            }
            _ => None,
        };
        match usable {
            Some(r) => refs.push(r.as_ref()),
            None => return Ok(Err(*id)),
        }
    }
    Ok(Ok(refs))
}

/// Gives `integration`'s uploads `ids`, on no ticket yet, to `ticket`, all or none, so that
/// each is listed once: `Err(id)` names the first that is not such an upload.
pub async fn claim_for_intake(
    pool: &PgPool,
    ticket: Uuid,
    integration: Uuid,
    ids: &[Uuid],
) -> Result<Result<Vec<AttachmentRef>, Uuid>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut refs = Vec::with_capacity(ids.len());
    for id in ids {
        let claimed: Option<Record> = sqlx::query_as(
            "UPDATE attachments SET ticket_id = $1
             WHERE id = $2 AND ticket_id IS NULL AND uploaded_by = $3
             RETURNING id, ticket_id, filename, content_type, size, sha256, uploaded_by",
        )
        .bind(ticket)
        .bind(id)
        .bind(integration)
        .fetch_optional(&mut *tx)
        .await?;
        match claimed {
            Some(r) => refs.push(r.as_ref()),
            None => return Ok(Err(*id)),
        }
    }
    tx.commit().await?;
    Ok(Ok(refs))
}

/// Hands uploads claimed for `ticket` back to their integration, when the intake that claimed
/// them recorded nothing.
pub async fn release_intake(pool: &PgPool, ticket: Uuid, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE attachments SET ticket_id = NULL
         WHERE id = ANY($1) AND ticket_id = $2 AND referenced_at IS NULL",
    )
    .bind(ids)
    .bind(ticket)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks files as listed by a comment.
pub async fn mark_referenced(pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE attachments SET referenced_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Files uploaded before `age` ago that no comment lists (checked in the event log, so a mark
/// lost between a comment and its `mark_referenced` never loses a file).
pub async fn orphans(
    pool: &PgPool,
    age: std::time::Duration,
) -> Result<Vec<(Uuid, Option<Uuid>)>, sqlx::Error> {
    let secs = age.as_secs_f64();
    sqlx::query_as(
        "SELECT a.id, a.ticket_id FROM attachments a
         WHERE a.referenced_at IS NULL
           AND a.uploaded_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (
             SELECT 1 FROM events e
             WHERE e.aggregate_type = $2 AND e.aggregate_id = a.ticket_id::text
               AND e.event_type = 'ticket.commented'
               AND e.payload::jsonb->'attachments'
                   @> jsonb_build_array(jsonb_build_object('id', a.id::text)))
         ORDER BY a.uploaded_at LIMIT 500",
    )
    .bind(secs)
    .bind(Ticket::TYPE)
    .fetch_all(pool)
    .await
}

/// Forgets a file's metadata (after its content was removed).
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM attachments WHERE id = $1 AND referenced_at IS NULL")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every file the event log lists on comments of `ticket` (or of every ticket), with the
/// ticket, in the order they were listed: what `ticketd verify --files` checks the store
/// against.
pub async fn listed(
    pool: &PgPool,
    ticket: Option<Uuid>,
) -> Result<Vec<(Uuid, AttachmentRef)>, sqlx::Error> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload::jsonb->'attachments' FROM events
         WHERE aggregate_type = $1 AND event_type = 'ticket.commented'
           AND payload::jsonb ? 'attachments'
           AND ($2::text IS NULL OR aggregate_id = $2)
         ORDER BY aggregate_id, sequence",
    )
    .bind(Ticket::TYPE)
    .bind(ticket.map(|t| t.to_string()))
    .fetch_all(pool)
    .await?;
    let mut listed = Vec::new();
    for (ticket, files) in rows {
        let Ok(ticket) = Uuid::parse_str(&ticket) else {
            continue;
        };
        let files: Vec<AttachmentRef> =
            serde_json::from_value(files).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        listed.extend(files.into_iter().map(|f| (ticket, f)));
    }
    Ok(listed)
}
