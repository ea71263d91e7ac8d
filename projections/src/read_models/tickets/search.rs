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
//! [`PROBES`] tickets (which fills the page for a common word), and from the share of them that
//! matched chooses between walking on and reading every match through the indexes. A share of
//! a few matches says little: the newest tickets may be of another kind than the rest (a wave
//! of 700 tickets on one incident, or a bench's own), and at 1,000,000 tickets a phrase none of
//! the newest 1,000 held was in 61,133 others, read through the indexes in 411 ms. So a probe
//! that found fewer than [`RELIABLE`] is followed by a larger one before choosing. A search
//! with another filter is left to the planner, which may read the few tickets that filter
//! selects first.

use sqlx::{PgPool, Postgres, QueryBuilder};

/// How many of the newest tickets each probe tests, in turn.
pub(super) const PROBES: [i64; 2] = [1_000, 4_000];

/// How many matches make a probe's share worth choosing by (its relative error is about
/// `1 / sqrt(n)`, a third here).
const RELIABLE: i64 = 8;

/// What a match read through the indexes costs against a ticket walked: the indexes' trigrams
/// list candidates that the table's rows must then confirm, and the matches are sorted. At
/// 1,000,000 tickets a walk tested about a ticket per microsecond (5,825 in 5.2 ms); the
/// indexes read 1.9 µs per match for a word (9,304 in 18 ms) and 6.7 µs for a phrase of common
/// words (61,133 in 411 ms, 371,361 candidates turned down).
const MATCH_COST: i64 = 4;

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

/// Which scan finishes the page after a probe of the newest `probed` tickets found `found` of
/// the page's `wanted` rows among about `tickets` tickets: the one expected to cost less (the
/// walk tests `wanted / share` tickets, the indexes read `share × tickets` matches, each
/// [`MATCH_COST`] times a ticket walked).
pub(super) fn after_probe(found: i64, wanted: i64, probed: i64, tickets: i64) -> Scan {
    let walked = wanted.saturating_mul(probed) / found.max(1);
    let matched = found.saturating_mul(tickets.max(0)) / probed.max(1);
    if matched.saturating_mul(MATCH_COST) <= walked {
        Scan::Matches
    } else {
        Scan::Walk
    }
}

/// The probe that follows one of the newest `probed` tickets that found too few matches
/// (`found`) to tell how often the text occurs, if one is left.
fn larger_probe(found: i64, probed: i64) -> Option<i64> {
    PROBES
        .iter()
        .copied()
        .find(|n| *n > probed)
        .filter(|_| found < RELIABLE)
}

/// What follows a probe of the newest `probed` tickets that found `found` of the `wanted` rows
/// a page reads: `None` when they are the page (they are the newest matches of all), a larger
/// probe when too few matched to tell how often the text occurs and one is left, else the scan
/// that finishes the page.
pub(super) async fn after_probe_of(
    pool: &PgPool,
    found: usize,
    wanted: i64,
    probed: i64,
) -> Result<Option<Scan>, sqlx::Error> {
    let found = i64::try_from(found).unwrap_or(i64::MAX);
    if found >= wanted {
        return Ok(None);
    }
    if let Some(larger) = larger_probe(found, probed) {
        return Ok(Some(Scan::Newest(larger)));
    }
    // The planner's own count, kept by `ANALYZE` and autovacuum: an estimate is enough to
    // choose. Never analyzed (-1): as if small, so the indexes list the matches.
    let tickets: f64 = sqlx::query_scalar(
        "SELECT reltuples::float8 FROM pg_class WHERE oid = 'ticket_search'::regclass",
    )
    .fetch_one(pool)
    .await?;
    Ok(Some(after_probe(found, wanted, probed, tickets as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn a_probe_that_found_few_is_followed_by_a_larger_one_once() {
        assert_eq!(larger_probe(0, PROBES[0]), Some(PROBES[1]));
        assert_eq!(larger_probe(RELIABLE - 1, PROBES[0]), Some(PROBES[1]));
        assert_eq!(larger_probe(RELIABLE, PROBES[0]), None);
        assert_eq!(larger_probe(0, PROBES[1]), None);
    }

    #[test]
    fn a_rare_text_is_read_through_the_indexes_and_a_common_one_walked() {
        // A word in one ticket of 1,000 (1 of the newest 1,000): 100 matches at 100,000
        // tickets, against 51,000 tickets walked for a page of 50.
        assert_eq!(after_probe(1, 51, 1_000, 100_000), Scan::Matches);
        // One ticket in 200: 500 matches (2,000 tickets' worth) against 10,200 walked.
        assert_eq!(after_probe(5, 51, 1_000, 100_000), Scan::Matches);
        // One ticket in 25: 4,000 matches, against 1,275 tickets walked.
        assert_eq!(after_probe(40, 51, 1_000, 100_000), Scan::Walk);
        // Nothing among the newest: no walk is expected to end soon.
        assert_eq!(after_probe(0, 51, 4_000, 1_000_000), Scan::Matches);
        // A table never analyzed.
        assert_eq!(after_probe(3, 51, 1_000, -1), Scan::Matches);
        // One ticket in 150 at 1,000,000 (27 of the newest 4,000): 6,750 matches, against
        // 7,555 tickets walked.
        assert_eq!(after_probe(27, 51, 4_000, 1_000_000), Scan::Walk);
    }
}
