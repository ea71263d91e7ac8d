//! `GET /tickets/{id}`: one ticket as a caller may see it, with its comments.

use std::sync::LazyLock;

use chrono::Utc;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::dto::*;
use super::row::{CommentRow, ViewRow, VIEW_COLUMNS};
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
    let Some(found) = found else {
        return Ok(None);
    };
    let mut view = found.row.into_view(found.comments.0, Utc::now());
    hide_others_tickets(pool, &mut view, viewer).await?;
    hide_fields(pool, &mut view, viewer, None).await?;
    Ok(Some(view))
}

/// Leaves out of a requester's view the custom fields not visible to requesters, by the
/// definitions in force at `at` (now when `None`); a value whose field had no definition then
/// is left out too.
pub async fn hide_fields(
    pool: &PgPool,
    view: &mut TicketView,
    viewer: Viewer,
    at: Option<chrono::DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    if viewer.only_requester().is_none() || view.fields.is_empty() {
        return Ok(());
    }
    let visible: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM (SELECT DISTINCT ON (key) key, visible_to_requester
                          FROM field_definitions
                          WHERE $1::timestamptz IS NULL OR recorded_at <= $1
                          ORDER BY key, version DESC) d
         WHERE visible_to_requester",
    )
    .bind(at)
    .fetch_all(pool)
    .await?;
    view.fields.retain(|k, _| visible.contains(k));
    Ok(())
}

/// Leaves out of a requester's view the links to (and the merge into) tickets that are not
/// theirs: existence of another's ticket is never revealed, not even by its id.
pub async fn hide_others_tickets(
    pool: &PgPool,
    view: &mut TicketView,
    viewer: Viewer,
) -> Result<(), sqlx::Error> {
    let Some(requester) = viewer.only_requester() else {
        return Ok(());
    };
    let named: Vec<Uuid> = view
        .links
        .iter()
        .map(|l| l.ticket_id)
        .chain(view.merged_into)
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let theirs: Vec<Uuid> = sqlx::query_scalar(
        "SELECT ticket_id FROM ticket_view WHERE ticket_id = ANY($1) AND requester_id = $2",
    )
    .bind(&named)
    .bind(requester)
    .fetch_all(pool)
    .await?;
    view.links.retain(|l| theirs.contains(&l.ticket_id));
    view.merged_into = view.merged_into.filter(|id| theirs.contains(id));
    Ok(())
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
