//! What folding a batch leaves to write, table by table, and how it is written.
//!
//! The live projector writes every part in its step's transaction ([`Writes::write`]). A
//! rebuild gives each part its own lane ([`super::bulk`]): the parts touch disjoint tables, so
//! they may be written side by side, and a part merges with the same part of the batches after
//! it, since writing the merge leaves the tables as writing each in turn would.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::mine::MyTicketsDelta;
use super::requester_chain::{self, Opened};
use super::row::{CommentRow, SearchRow, ViewRow, VIEW_COLUMNS};
use super::tag_counts::TagCounts;
use super::tally::requesters::RequesterDays;
use super::tally::Delta;
use crate::shadow::ShadowTables;

/// Writes a JSON array of rows back, inserting new tickets and replacing changed ones, and
/// their `ticket_recency` rows with them. The columns every event changes are indexed only
/// there, so that the update of a wide `ticket_view` row stays HOT (no index entry written).
static UPSERT_ROWS: LazyLock<String> = LazyLock::new(|| {
    let columns = VIEW_COLUMNS.join(", ");
    let updates = VIEW_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH written AS (
             INSERT INTO ticket_view ({columns})
             SELECT {columns} FROM jsonb_populate_recordset(NULL::ticket_view, $1)
             ON CONFLICT (ticket_id) DO UPDATE SET {updates}
             RETURNING ticket_id, updated_at, last_position
         )
         INSERT INTO ticket_recency (ticket_id, updated_at, last_position)
         SELECT ticket_id, updated_at, last_position FROM written
         ON CONFLICT (ticket_id) DO UPDATE SET updated_at = EXCLUDED.updated_at,
                                               last_position = EXCLUDED.last_position"
    )
});

/// Writes the searchable text of tickets whose title or description is new or changed,
/// lowered by the database as `ILIKE` would lower it (see [`super::list`]'s search).
const UPSERT_SEARCH: &str =
    "INSERT INTO ticket_search (ticket_id, lower_title, lower_description, created_at)
     SELECT ticket_id, lower(title), lower(description), created_at
     FROM jsonb_to_recordset($1)
         AS r(ticket_id uuid, title text, description text, created_at timestamptz)
     ON CONFLICT (ticket_id) DO UPDATE SET lower_title = EXCLUDED.lower_title,
                                           lower_description = EXCLUDED.lower_description";

const INSERT_COMMENTS: &str =
    "INSERT INTO ticket_comments (comment_id, ticket_id, author_id, author_name, author_role,
                                  body, internal, created_at, position, attachments)
     SELECT comment_id, ticket_id, author_id, author_name, author_role, body, internal,
            created_at, position, attachments
     FROM jsonb_populate_recordset(NULL::ticket_comments, $1)
     ON CONFLICT (comment_id) DO NOTHING";

/// Everything a batch writes.
#[derive(Debug, Default)]
pub(super) struct Writes {
    /// `ticket_view`, `ticket_recency`, `ticket_search`.
    pub(super) rows: RowWrites,
    /// `ticket_comments`.
    pub(super) comments: CommentWrites,
    /// The statistics' tables (see [`super::tally`]).
    pub(super) stats: StatWrites,
    /// `my_tickets`, `my_counts`, `ticket_tag_counts`.
    pub(super) mine: MineWrites,
    /// `requester_tickets`, `requester_gaps`.
    pub(super) chain: ChainWrites,
}

impl Writes {
    /// Writes every part in `conn`'s transaction; gives back the rows, as written.
    pub(super) async fn write(
        self,
        conn: &mut PgConnection,
    ) -> Result<HashMap<Uuid, ViewRow>, sqlx::Error> {
        self.stats.write(conn).await?;
        self.mine.write(conn).await?;
        self.chain.write(conn).await?;
        self.rows.write_rows(conn).await?;
        self.comments.write(conn).await?;
        Ok(self.rows.rows)
    }
}

/// One part of [`Writes`]: written on its own, merged with the same part of later batches.
#[async_trait::async_trait]
pub(super) trait Part: Default + Send + Sized + 'static {
    /// Takes in the same part of a later batch.
    fn merge(&mut self, later: Self);

    /// Takes out what only adds to the tables (counts and sums, nothing read back before the
    /// end): a rebuild merges it over every batch and writes it once, at its end.
    fn take_sums(&mut self) -> Self {
        Self::default()
    }

    /// Writes the part in `conn`'s transaction.
    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error>;

    /// Writes the sums a rebuild took over all its batches ([`Part::take_sums`]), at its end,
    /// into copies that hold none of them yet.
    async fn write_sums(self, tables: &ShadowTables) -> Result<(), sqlx::Error> {
        let mut tx = tables.begin().await?;
        self.write(&mut tx).await?;
        tx.commit().await
    }
}

/// Changed tickets' rows as they end, and which of them have new text to search.
#[derive(Debug, Default)]
pub(super) struct RowWrites {
    pub(super) rows: HashMap<Uuid, ViewRow>,
    pub(super) new_text: HashSet<Uuid>,
}

impl RowWrites {
    async fn write_rows(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<&ViewRow> = self.rows.values().collect();
        sqlx::query(&UPSERT_ROWS)
            .bind(Json(&rows))
            .execute(&mut *conn)
            .await?;
        let search: Vec<SearchRow<'_>> = self
            .new_text
            .iter()
            .filter_map(|id| self.rows.get(id))
            .map(ViewRow::search_row)
            .collect();
        write_search(conn, &search).await
    }
}

/// Writes tickets' searchable text, new or changed.
pub(super) async fn write_search(
    conn: &mut PgConnection,
    search: &[SearchRow<'_>],
) -> Result<(), sqlx::Error> {
    if !search.is_empty() {
        sqlx::query(UPSERT_SEARCH)
            .bind(Json(search))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Part for RowWrites {
    fn merge(&mut self, later: Self) {
        self.rows.extend(later.rows);
        self.new_text.extend(later.new_text);
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.write_rows(conn).await
    }
}

/// New comments.
#[derive(Debug, Default)]
pub(super) struct CommentWrites(pub(super) Vec<CommentRow>);

impl CommentWrites {
    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.0.is_empty() {
            sqlx::query(INSERT_COMMENTS)
                .bind(Json(&self.0))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// The statistics' change: all of it in `delta` as a batch is folded, the per-requester
/// counts apart once taken as sums.
#[derive(Debug, Default)]
pub(super) struct StatWrites {
    pub(super) delta: Delta,
    requesters: RequesterDays,
}

#[async_trait::async_trait]
impl Part for StatWrites {
    fn merge(&mut self, later: Self) {
        self.delta.merge(later.delta);
        self.requesters.merge(later.requesters);
    }

    fn take_sums(&mut self) -> Self {
        let mut sums = std::mem::take(self);
        sums.delta.take_requesters(&mut sums.requesters);
        sums
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.delta.write(conn).await?;
        self.requesters.write(conn).await
    }

    /// The per-requester counts on a connection of their own, beside the rest: they write
    /// other tables (and other `ticket_totals` rows), and each took about 10 s at 1,000,000
    /// tickets, one after the other at the end of a rebuild.
    async fn write_sums(self, tables: &ShadowTables) -> Result<(), sqlx::Error> {
        let delta = async {
            let mut tx = tables.begin().await?;
            self.delta.write_new(&mut tx).await?;
            tx.commit().await
        };
        let requesters = async {
            let mut tx = tables.begin().await?;
            self.requesters.write(&mut tx).await?;
            tx.commit().await
        };
        tokio::try_join!(delta, requesters).map(drop)
    }
}

/// Users' rows and counts, and the tags' counts.
#[derive(Debug, Default)]
pub(super) struct MineWrites {
    pub(super) mine: MyTicketsDelta,
    pub(super) tags: TagCounts,
}

#[async_trait::async_trait]
impl Part for MineWrites {
    fn merge(&mut self, later: Self) {
        self.mine.merge(later.mine);
        self.tags.merge(later.tags);
    }

    fn take_sums(&mut self) -> Self {
        Self {
            mine: self.mine.take_counts(),
            tags: std::mem::take(&mut self.tags),
        }
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.mine.write(conn).await?;
        self.tags.write(conn).await
    }
}

/// Tickets opened, for their requesters' chains (a function of the set of tickets, whatever
/// the order they are recorded in).
#[derive(Debug, Default)]
pub(super) struct ChainWrites(pub(super) Vec<Opened>);

#[async_trait::async_trait]
impl Part for ChainWrites {
    fn merge(&mut self, later: Self) {
        self.0.extend(later.0);
    }

    /// All of it: a requester's chain is a function of the set of their tickets, so a rebuild
    /// records every ticket once, at its end, without looking up a chain before.
    fn take_sums(&mut self) -> Self {
        std::mem::take(self)
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        requester_chain::record(conn, &self.0).await
    }

    async fn write_sums(self, tables: &ShadowTables) -> Result<(), sqlx::Error> {
        let mut tx = tables.begin().await?;
        requester_chain::record_new(&mut tx, &self.0).await?;
        tx.commit().await
    }
}
