//! Links and merges: each is two commands, one per ticket, so that each ticket's history stays
//! its own hash chain. The side the caller named runs with the request's conditions
//! (`If-Match`, Idempotency-Key); the other side without them.
//!
//! The two sides are two transactions. A link's inverse is idempotent (the same link again is
//! a no-op), so repeating a request whose second half failed completes it. A merge writes the
//! target's side first, after checking the source, so that a refused merge (into a closed,
//! merged or unknown ticket) changes nothing; only a source closed by someone else between
//! the two writes leaves a `ticket.merged_from` without its `ticket.merged`, which is logged.

use sqlx::PgPool;
use ticket_nats::events::LinkKind;
use uuid::Uuid;

use super::tickets::{issue, Issued};
use crate::command_service::{now, CommandContext, CommandError, CommandService, Outcome};
use crate::domain::commands::{LinkTicket, MergeFrom, MergeTicket, UnlinkTicket};
use crate::domain::{Issuer, TicketCommand, TicketError};
use crate::views;

/// The conditions of the second side: the request's correlation only.
fn other_side(issued: &Issued<'_>) -> CommandContext {
    CommandContext {
        correlation_id: issued.ctx.correlation_id.clone(),
        expected_version: None,
        idempotency: None,
    }
}

/// `NotFound` unless `other` exists and `by` may read it: a ticket the caller cannot see is
/// answered as one that does not exist.
async fn require_visible(pool: &PgPool, by: &Issuer, other: Uuid) -> Result<(), CommandError> {
    let requester = views::ticket_requester(pool, other)
        .await
        .map_err(|e| CommandError::Internal(anyhow::Error::new(e)))?;
    match requester {
        Some(requester) if by.role.reads_everything() || requester == Some(by.id) => Ok(()),
        _ => Err(TicketError::NotFound.into()),
    }
}

/// Links `ticket` to `other` as `kind`; `other` records the inverse kind.
pub async fn link(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    kind: LinkKind,
    other: Uuid,
) -> Result<Outcome, CommandError> {
    require_visible(service.pool(), issued.by, other).await?;
    let outcome = issue(service, issued, ticket, |by| {
        TicketCommand::LinkTicket(LinkTicket {
            kind,
            other,
            by,
            at: now(),
        })
    })
    .await?;
    let ctx = other_side(&issued);
    let inverse = LinkTicket {
        kind: kind.inverse(),
        other: ticket,
        by: issued.by.clone(),
        at: now(),
    };
    service
        .execute(other, TicketCommand::LinkTicket(inverse), &ctx)
        .await?;
    Ok(outcome)
}

/// Removes the link between `ticket` and `other` on both.
pub async fn unlink(
    service: &CommandService,
    issued: Issued<'_>,
    ticket: Uuid,
    other: Uuid,
) -> Result<Outcome, CommandError> {
    require_visible(service.pool(), issued.by, other).await?;
    let outcome = issue(service, issued, ticket, |by| {
        TicketCommand::UnlinkTicket(UnlinkTicket {
            other,
            by,
            at: now(),
        })
    })
    .await?;
    let ctx = other_side(&issued);
    let inverse = UnlinkTicket {
        other: ticket,
        by: issued.by.clone(),
        at: now(),
    };
    service
        .execute(other, TicketCommand::UnlinkTicket(inverse), &ctx)
        .await?;
    Ok(outcome)
}

/// Merges `source` into `into`: the target records `ticket.merged_from` and the source's
/// comments as one internal note, then the source records `ticket.merged` and is closed.
pub async fn merge(
    service: &CommandService,
    issued: Issued<'_>,
    source: Uuid,
    into: Uuid,
) -> Result<Outcome, CommandError> {
    if let Some(idempotency) = &issued.ctx.idempotency {
        if let Some(outcome) = service.replayed(issued.by.id, idempotency).await? {
            return Ok(outcome);
        }
    }
    let current = service.current(source).await?;
    if !current.created || !current.can_read(issued.by) {
        return Err(TicketError::NotFound.into());
    }
    current.require_mergeable(issued.by, "merged")?;
    if source == into {
        return Err(TicketError::Conflict("a ticket cannot be merged into itself".into()).into());
    }
    require_visible(service.pool(), issued.by, into).await?;
    let target = service.current(into).await?;
    let note = note_of(service.pool(), source, current.number).await?;
    let ctx = other_side(&issued);
    let merged_from = MergeFrom {
        source,
        source_number: current.number,
        note_id: Uuid::now_v7(),
        note,
        by: issued.by.clone(),
        at: now(),
    };
    service
        .execute(into, TicketCommand::MergeFrom(merged_from), &ctx)
        .await?;
    let merged = issue(service, issued, source, |by| {
        TicketCommand::MergeTicket(MergeTicket {
            into,
            into_number: target.number,
            by,
            at: now(),
        })
    })
    .await;
    if let Err(error) = &merged {
        tracing::error!(%source, %into, %error,
            "the target recorded the merge but the source refused it; merge again or unlink by hand");
    }
    merged
}

/// The source's comments, internal ones included (the note is internal), as one text.
async fn note_of(pool: &PgPool, source: Uuid, number: i64) -> Result<String, CommandError> {
    let rows: Vec<(serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT payload, metadata FROM events
         WHERE aggregate_type = 'ticket' AND aggregate_id = $1 AND event_type = 'ticket.commented'
         ORDER BY sequence",
    )
    .bind(source.to_string())
    .fetch_all(pool)
    .await
    .map_err(|e| CommandError::Internal(anyhow::Error::new(e)))?;
    let mut note = format!("Merged from #{number}.");
    if rows.is_empty() {
        note.push_str(" It had no comments.");
    }
    for (payload, metadata) in rows {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let internal = payload["internal"].as_bool().unwrap_or(false);
        note.push_str(&format!(
            "\n\n{} {} ({}){}:\n{}",
            text(&metadata["time"]),
            text(&payload["author"]["name"]),
            text(&payload["author"]["role"]),
            if internal { ", internal" } else { "" },
            text(&payload["body"]),
        ));
    }
    Ok(note)
}
