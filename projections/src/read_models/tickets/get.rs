//! `GET /tickets/{id}`: one ticket as a caller may see it, with its comments.

use std::sync::LazyLock;

use chrono::Utc;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::dto::*;
use super::projector::{CommentRow, ViewRow, VIEW_COLUMNS};
use crate::read_models::query::{requested_by, Viewer};

#[derive(sqlx::FromRow)]
struct ViewWithComments {
    #[sqlx(flatten)]
    row: ViewRow,
    comments: Json<Vec<CommentRow>>,
}

static SELECT_VIEW: LazyLock<String> = LazyLock::new(|| {
    // One statement, so that the row and its comments come from one snapshot.
    format!(
        "SELECT {},
                COALESCE((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.position)
                          FROM ticket_comments c
                          WHERE c.ticket_id = v.ticket_id AND ($2 OR NOT c.internal)),
                         '[]'::jsonb) AS comments
         FROM ticket_view v
         WHERE v.ticket_id = $1 AND ($3::uuid IS NULL OR {})",
        VIEW_COLUMNS.map(|c| format!("v.{c}")).join(", "),
        requested_by("$3")
    )
});

/// The ticket as `viewer` may see it: `None` when it does not exist or is not theirs to read;
/// requesters get no internal comments.
pub async fn get(
    pool: &PgPool,
    id: Uuid,
    viewer: Viewer,
) -> Result<Option<TicketView>, sqlx::Error> {
    let found = sqlx::query_as::<_, ViewWithComments>(&SELECT_VIEW)
        .bind(id)
        .bind(viewer.reads_internal())
        .bind(viewer.only_requester())
        .fetch_optional(pool)
        .await?;
    Ok(found.map(|f| f.row.into_view(f.comments.0, Utc::now())))
}

/// The version of a ticket the view has applied, whoever may read it (`None`: not there yet).
pub async fn version(pool: &PgPool, id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM ticket_view WHERE ticket_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The ticket with short number `number`, once the view has it (mail names tickets `[#42]`).
pub async fn id_by_number(pool: &PgPool, number: i64) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT ticket_id FROM ticket_view WHERE number = $1")
        .bind(number)
        .fetch_optional(pool)
        .await
}
