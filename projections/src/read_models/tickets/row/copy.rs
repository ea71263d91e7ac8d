//! A ticket's row and its comments' rows as `COPY` text, for a rebuild's inserts into its
//! empty copies ([`crate::copy_text`]).

use std::sync::LazyLock;

use super::{CommentRow, ViewRow, VIEW_COLUMNS};
use crate::copy_text::CopyText;

/// Copies rows written by [`ViewRow::copy_to`].
pub(crate) static COPY_ROWS: LazyLock<String> =
    LazyLock::new(|| format!("COPY ticket_view ({}) FROM STDIN", VIEW_COLUMNS.join(", ")));

/// Copies rows written by [`ViewRow::copy_recency_to`].
pub(crate) const COPY_RECENCY: &str =
    "COPY ticket_recency (ticket_id, updated_at, last_position) FROM STDIN";

/// Copies rows written by [`CommentRow::copy_to`].
pub(crate) const COPY_COMMENTS: &str =
    "COPY ticket_comments (comment_id, ticket_id, author_id, author_name, author_role, body,
                           internal, created_at, position, attachments) FROM STDIN";

impl ViewRow {
    /// Adds the row's `ticket_view` columns, in the order of [`VIEW_COLUMNS`].
    pub(crate) fn copy_to(&self, out: &mut CopyText) -> Result<(), sqlx::Error> {
        out.plain(self.ticket_id);
        out.plain(self.number);
        out.text(&self.title);
        out.text(&self.description);
        out.text(&self.category);
        out.plain(self.priority.as_str());
        out.plain(self.channel.as_str());
        out.plain(self.status.as_str());
        out.plain(self.requester_id);
        out.text(&self.requester_name);
        out.opt_plain(self.assignee_id);
        out.opt_text(self.assignee_name.as_deref());
        out.time(self.created_at);
        out.time(self.updated_at);
        out.opt_time(self.first_response_at);
        out.opt_time(self.closed_at);
        out.opt_text(self.resolution.as_deref());
        out.opt_plain(self.rating_score);
        out.opt_text(self.rating_comment.as_deref());
        out.opt_time(self.rated_at);
        out.time(self.first_response_due);
        out.time(self.resolution_due);
        out.bool(self.first_response_breach_recorded);
        out.bool(self.resolution_breach_recorded);
        out.plain(self.version);
        out.plain(self.last_position);
        match &self.metadata {
            Some(metadata) => out.json(&metadata.0)?,
            None => out.null(),
        }
        self.actors.copy_to(out);
        out.opt_plain(self.team_id);
        out.opt_text(self.team_name.as_deref());
        out.opt_time(self.pending_since);
        out.opt_time(self.pending_until);
        out.plain(self.paused_seconds);
        out.bool(self.first_response_warning_recorded);
        out.bool(self.resolution_warning_recorded);
        out.text_array(&self.tags);
        out.json(&self.links.0)?;
        out.opt_plain(self.merged_into);
        out.json(&self.fields.0)?;
        out.text_array(&self.field_values);
        out.json(&self.pauses.0)?;
        out.opt_plain(self.first_response_business_ms);
        out.opt_plain(self.resolution_business_ms);
        out.opt_time(self.next_response_since);
        out.bool(self.next_response_warning_recorded);
        out.bool(self.next_response_breach_recorded);
        out.end_row();
        Ok(())
    }

    /// Adds the row's `ticket_recency` columns.
    pub(crate) fn copy_recency_to(&self, out: &mut CopyText) {
        out.plain(self.ticket_id);
        out.time(self.updated_at);
        out.plain(self.last_position);
        out.end_row();
    }
}

impl CommentRow {
    /// Adds the comment's `ticket_comments` columns, in the order of [`COPY_COMMENTS`].
    pub(crate) fn copy_to(&self, out: &mut CopyText) -> Result<(), sqlx::Error> {
        out.plain(self.comment_id);
        out.plain(self.ticket_id);
        out.plain(self.author_id);
        out.text(&self.author_name);
        out.text(&self.author_role);
        out.text(&self.body);
        out.bool(self.internal);
        out.time(self.created_at);
        out.plain(self.position);
        out.json(&self.attachments)?;
        out.end_row();
        Ok(())
    }
}
