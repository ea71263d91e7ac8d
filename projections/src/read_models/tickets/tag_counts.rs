//! `ticket_tag_counts`: how many tickets carry each tag (`GET /tags`), kept from
//! `ticket.tagged` in the ticket view projection's transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use ticket_nats::events::TicketTagged;

/// What a batch changes in the counts: +1 per ticket a tag was added to, −1 per ticket it was
/// removed from. An event is counted once because the projection applies it once (replayed
/// events are skipped by version before they get here).
#[derive(Debug, Default)]
pub(super) struct TagCounts(BTreeMap<String, i64>);

impl TagCounts {
    pub(super) fn add(&mut self, e: &TicketTagged) {
        for tag in &e.added {
            *self.0.entry(tag.clone()).or_default() += 1;
        }
        for tag in &e.removed {
            *self.0.entry(tag.clone()).or_default() -= 1;
        }
    }

    /// Adds `later`'s changes (of the batches after this one's).
    pub(super) fn merge(&mut self, later: TagCounts) {
        for (tag, delta) in later.0 {
            *self.0.entry(tag).or_default() += delta;
        }
    }

    /// Adds the batch's changes and drops the tags no ticket carries any more.
    pub(super) async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (tags, deltas): (Vec<String>, Vec<i64>) =
            self.0.into_iter().filter(|(_, d)| *d != 0).unzip();
        if tags.is_empty() {
            return Ok(());
        }
        // Three statements, so that each sees the one before: a row that would reach zero is
        // deleted, the others move by their delta, and tags new to every ticket get a row. A
        // negative delta never meets a missing row (a tag is removed only from a ticket that
        // carried it), so the CHECK (count > 0) holds at every step.
        for statement in [
            "DELETE FROM ticket_tag_counts c
             USING UNNEST($1::text[], $2::bigint[]) AS d(tag, delta)
             WHERE c.tag = d.tag AND c.count + d.delta <= 0",
            "UPDATE ticket_tag_counts c SET count = c.count + d.delta
             FROM UNNEST($1::text[], $2::bigint[]) AS d(tag, delta)
             WHERE c.tag = d.tag",
            "INSERT INTO ticket_tag_counts (tag, count)
             SELECT d.tag, d.delta FROM UNNEST($1::text[], $2::bigint[]) AS d(tag, delta)
             WHERE d.delta > 0
             ON CONFLICT (tag) DO NOTHING",
        ] {
            sqlx::query(statement)
                .bind(&tags)
                .bind(&deltas)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// One entry of `GET /tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct TagCount {
    /// The tag.
    pub tag: String,
    /// How many tickets carry it.
    pub count: i64,
}

/// Every tag in use, most used first (then by name).
pub async fn tag_counts(pool: &PgPool) -> Result<Vec<TagCount>, sqlx::Error> {
    sqlx::query_as("SELECT tag, count FROM ticket_tag_counts ORDER BY count DESC, tag")
        .fetch_all(pool)
        .await
}
