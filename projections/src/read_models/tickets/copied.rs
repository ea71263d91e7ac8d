//! What a rebuild writes into its copies that they cannot hold yet: tickets' first rows and
//! new comments, sent with `COPY` ([`crate::copy_text`]) instead of upserted from JSON. At
//! 1,000,000 tickets the upserts of those rows were the largest part of the database's time in
//! a rebuild's fill (`ticket_view` 28 s, comments 11 s, `my_tickets` 9 s of statement time;
//! copied, 15, 8 and 10 s: the users' rows are narrow, and their primary key stays).

use sqlx::PgConnection;

use super::mine::COPY_MY_TICKETS;
use super::row::copy::{COPY_COMMENTS, COPY_RECENCY, COPY_ROWS};
use super::row::{CommentRow, ViewRow};
use super::writes::{write_search, Part};
use crate::copy_text::CopyText;

/// Rows of tickets the copy has no row of: their `ticket_view`, `ticket_recency`,
/// `my_tickets` and `ticket_search` rows are inserted.
#[derive(Debug, Default)]
pub(super) struct NewRows(Vec<ViewRow>);

impl NewRows {
    pub(super) fn push(&mut self, row: ViewRow) {
        self.0.push(row);
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

#[async_trait::async_trait]
impl Part for NewRows {
    fn merge(&mut self, later: Self) {
        self.0.extend(later.0);
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (mut view, mut recency, mut mine) = (CopyText::new(), CopyText::new(), CopyText::new());
        for row in &self.0 {
            row.copy_to(&mut view)?;
            row.copy_recency_to(&mut recency);
            for user_row in row.mine() {
                user_row.copy_to(&mut mine);
            }
        }
        view.send(conn, &COPY_ROWS).await?;
        recency.send(conn, COPY_RECENCY).await?;
        mine.send(conn, COPY_MY_TICKETS).await?;
        // Lowered by the database (see `write_search`): not copied.
        let search: Vec<_> = self.0.iter().map(ViewRow::search_row).collect();
        write_search(conn, &search).await
    }
}

/// Comments the copy does not hold: the fold leaves out any whose id it has sent before, as
/// the live projector's `ON CONFLICT DO NOTHING` would.
#[derive(Debug, Default)]
pub(super) struct NewComments(pub(super) Vec<CommentRow>);

#[async_trait::async_trait]
impl Part for NewComments {
    fn merge(&mut self, later: Self) {
        self.0.extend(later.0);
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut out = CopyText::new();
        for comment in &self.0 {
            comment.copy_to(&mut out)?;
        }
        out.send(conn, COPY_COMMENTS).await
    }
}
