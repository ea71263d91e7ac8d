//! Free-text search (`q`): a case-insensitive substring of the title or of the description,
//! tested on `ticket_search`'s lowered copies of both, and how a search in creation order finds
//! its page.
//!
//! The newest matches of a common word are found by walking `ticket_search` newest first and
//! testing each ticket: a few hundred tests fill a page. A rare word would make that walk read
//! thousands of tickets for every match (a word in one ticket of 200 reads 10,000 to fill a page
//! of 50), where the trigram indexes list its matches directly and the page is the newest of
//! them. Which of the two is cheaper depends on how often the text occurs, which the planner
//! cannot tell from a `LIKE` pattern; so a search by text alone first tests the newest
//! [`PROBE`] tickets (which fills the page for a common word), and from the share of them that
//! matched chooses between walking on and reading every match through the indexes. A search
//! with another filter is left to the planner, which may read the few tickets that filter
//! selects first.

use sqlx::{PgPool, Postgres, QueryBuilder};

/// How many of the newest tickets the first step tests.
pub(super) const PROBE: i64 = 1_000;

/// Where a search in creation order reads its matches from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// The newest `n` tickets (after the cursor), tested one by one.
    Newest(i64),
    /// Every ticket newest first (after the cursor), tested one by one until the page is full.
    Walk,
    /// Matches joined as they are, the planner choosing how to read them: a search with another
    /// filter, which may select few tickets through its own index.
    Planned,
    /// Every match, listed by the trigram indexes and sorted.
    Matches,
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Appends whether `ticket_search s` matches `q`. `ILIKE` in a UTF-8 database is `lower(text)
/// LIKE lower(pattern)`, and the text is stored lowered, so this is `title ILIKE p OR
/// description ILIKE p` without lowering each ticket's text again. Two trigram indexes, one
/// per column, serve the two halves.
pub(super) fn push_search(qb: &mut QueryBuilder<'_, Postgres>, q: &str) {
    let pattern = like_pattern(q);
    qb.push("(s.lower_title LIKE lower(")
        .push_bind(pattern.clone())
        .push(") OR s.lower_description LIKE lower(")
        .push_bind(pattern)
        .push("))");
}

/// Which scan finishes the page after the probe found `found` of the page's `wanted` rows
/// among the newest [`PROBE`] of about `tickets` tickets: the one expected to test fewer
/// tickets (the walk tests `wanted / share` of them, the indexes list `share × tickets`).
pub(super) fn after_probe(found: i64, wanted: i64, tickets: i64) -> Scan {
    let walked = wanted.saturating_mul(PROBE) / found.max(1);
    let matched = found.saturating_mul(tickets.max(0)) / PROBE;
    if matched <= walked {
        Scan::Matches
    } else {
        Scan::Walk
    }
}

/// After the probe (the newest [`PROBE`] tickets, tested) found `found` of the `wanted` rows a
/// page reads: `None` when they are the page (they are the newest matches of all), else the
/// scan that finishes it.
pub(super) async fn after_probe_of(
    pool: &PgPool,
    found: usize,
    wanted: i64,
) -> Result<Option<Scan>, sqlx::Error> {
    let found = i64::try_from(found).unwrap_or(i64::MAX);
    if found >= wanted {
        return Ok(None);
    }
    // The planner's own count, kept by `ANALYZE` and autovacuum: an estimate is enough to
    // choose. Never analyzed (-1): as if small, so the indexes list the matches.
    let tickets: f64 = sqlx::query_scalar(
        "SELECT reltuples::float8 FROM pg_class WHERE oid = 'ticket_search'::regclass",
    )
    .fetch_one(pool)
    .await?;
    Ok(Some(after_probe(found, wanted, tickets as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn a_rare_text_is_read_through_the_indexes_and_a_common_one_walked() {
        // A word in one ticket of 200 (5 of the newest 1,000): 500 matches at 100,000 tickets,
        // against 10,200 tickets walked for a page of 50.
        assert_eq!(after_probe(5, 51, 100_000), Scan::Matches);
        // One ticket in 25: 4,000 matches, against 1,275 tickets walked.
        assert_eq!(after_probe(40, 51, 100_000), Scan::Walk);
        // Nothing among the newest: no walk is expected to end soon.
        assert_eq!(after_probe(0, 51, 1_000_000), Scan::Matches);
        // A table never analyzed.
        assert_eq!(after_probe(3, 51, -1), Scan::Matches);
    }
}
