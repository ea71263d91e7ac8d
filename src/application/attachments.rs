//! Files on comments: storing an upload for a ticket, and commenting with stored files.

use bytes::Bytes;
use futures::Stream;
use sqlx::PgPool;
use uuid::Uuid;

use super::tickets::{self, Issued};
use crate::attachments::records::{self, Record};
use crate::attachments::upload::UploadError;
use crate::attachments::{names, Attachments};
use crate::command_service::{CommandError, CommandService, Outcome};

/// What the sender declared about a file.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// The part's file name.
    pub filename: Option<String>,
    /// The part's media type.
    pub content_type: Option<String>,
}

/// Streams a file into the store for `ticket` (`None`: an integration's, for an intake to list)
/// and records it; nothing stays stored when it fails.
pub async fn store<E: std::fmt::Display>(
    pool: &PgPool,
    attachments: &Attachments,
    ticket: Option<Uuid>,
    uploader: Uuid,
    declared: Declared,
    body: impl Stream<Item = Result<Bytes, E>>,
) -> Result<Record, UploadError> {
    let id = Uuid::now_v7();
    let stored = attachments.receive(id, body).await?;
    let record = Record {
        id,
        ticket_id: ticket,
        filename: names::safe_filename(declared.filename.as_deref()),
        content_type: names::safe_content_type(declared.content_type.as_deref()),
        size: i64::try_from(stored.size).unwrap_or(i64::MAX),
        sha256: stored.sha256,
        uploaded_by: uploader,
    };
    if let Err(e) = records::insert(pool, &record).await {
        if let Err(removal) = attachments.remove(id).await {
            tracing::warn!(attachment_id = %id, error = %removal, "unrecorded file left for the store");
        }
        return Err(UploadError::Store(
            anyhow::Error::new(e).context("cannot record the attachment"),
        ));
    }
    tracing::info!(attachment_id = %id, ticket_id = ?ticket, size = record.size, "attachment stored");
    Ok(record)
}

/// Why a comment with files was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum CommentFilesError {
    /// This file is not the caller's upload to this ticket, or a comment lists it already.
    #[error("attachment {0} is not an unused upload of yours to this ticket")]
    NotUsable(Uuid),
    /// The comment itself was refused.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Comments with the files `ids` (each the issuer's unused upload to this ticket).
#[allow(clippy::too_many_arguments)]
pub async fn comment_with_files(
    service: &CommandService,
    pool: &PgPool,
    issued: Issued<'_>,
    ticket: Uuid,
    body: String,
    internal: bool,
    ids: &[Uuid],
) -> Result<Outcome, CommentFilesError> {
    // A retry of a comment already recorded gets its answer again, though its files are
    // listed by then.
    if let Some(idempotency) = &issued.ctx.idempotency {
        if let Some(outcome) = service.replayed(issued.by.id, idempotency).await? {
            return Ok(outcome);
        }
    }
    let refs = match records::claimable(pool, ticket, issued.by.id, ids)
        .await
        .map_err(|e| {
            CommandError::Internal(anyhow::Error::new(e).context("cannot look attachments up"))
        })? {
        Ok(refs) => refs,
        Err(id) => return Err(CommentFilesError::NotUsable(id)),
    };
    let outcome = tickets::comment_with(service, issued, ticket, body, internal, refs).await?;
    // Only a shortcut for the janitor, which checks the event log before removing anything.
    if let Err(e) = records::mark_referenced(pool, ids).await {
        tracing::warn!(ticket_id = %ticket, error = %e, "cannot mark attachments as listed");
    }
    Ok(outcome)
}
