//! The swapped-in tables' indexes take the names the live tables' had.
//!
//! `LIKE … INCLUDING ALL` gives a copy's indexes generated names
//! (`ticket_view_created_at_idx` for `ticket_view_open_created`). Kept after the swap, they
//! would break the next migration that names an index (`DROP INDEX ticket_view_open_created`
//! fails on a rebuilt database, and the engine does not start), and they would change with
//! every rebuild of a database whose indexes had been renamed by hand.

use sqlx::PgConnection;

/// The definition of the index whose `pg_class` row is `$index`, without its name or table: two
/// tables' indexes are the same index when these are equal.
macro_rules! unnamed {
    ($index:literal) => {
        concat!(
            "regexp_replace(pg_get_indexdef(",
            $index,
            ".oid), '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ ', 'CREATE \\1INDEX ON ')"
        )
    };
}

/// Each index of a table: its name and its definition without its name or table.
const INDEXES: &str = concat!(
    "SELECT i.relname::text, ",
    unnamed!("i"),
    " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = format('public.%I', $1::text)::regclass
      ORDER BY i.relname"
);

/// The secondary (not unique) indexes of the copy `$1.$2`: name, definition, and the size of
/// the live table's index of the same definition (0 for none).
pub(super) const DEFERRED_INDEXES: &str = concat!(
    "SELECT i.relname::text, pg_get_indexdef(i.oid),
            coalesce((SELECT max(pg_relation_size(l.oid))
                      FROM pg_index lx JOIN pg_class l ON l.oid = lx.indexrelid
                      WHERE lx.indrelid = format('public.%I', $2::text)::regclass
                        AND ",
    unnamed!("l"),
    " = ",
    unnamed!("i"),
    "), 0)
     FROM pg_index x
     JOIN pg_class i ON i.oid = x.indexrelid
     JOIN pg_class t ON t.oid = x.indrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = $1 AND t.relname = $2 AND NOT x.indisunique"
);

/// The indexes of `public.table`: (name, definition without name or table).
pub(super) async fn indexes(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(INDEXES).bind(table).fetch_all(conn).await
}

/// Renames the indexes of `public.table` to the names of `live`'s of the same definition
/// (what [`indexes`] read of the table it replaced, dropped since).
pub(super) async fn keep(
    conn: &mut PgConnection,
    table: &str,
    live: &[(String, String)],
) -> Result<(), sqlx::Error> {
    let copy = indexes(&mut *conn, table).await?;
    let renames = pairs(live, &copy);
    // Through names of their own first: a copy's generated name may be one that another of its
    // indexes is to take.
    for (i, (from, _)) in renames.iter().enumerate() {
        rename(&mut *conn, from, &format!("rebuilt_index_{i}")).await?;
    }
    for (i, (_, to)) in renames.iter().enumerate() {
        rename(&mut *conn, &format!("rebuilt_index_{i}"), to).await?;
    }
    Ok(())
}

/// (the copy's name, the live one's) of every index whose names differ, matched by definition.
fn pairs(live: &[(String, String)], copy: &[(String, String)]) -> Vec<(String, String)> {
    let mut unmatched: Vec<&(String, String)> = live.iter().collect();
    let mut renames = Vec::new();
    for (name, definition) in copy {
        if let Some(at) = unmatched.iter().position(|(_, d)| d == definition) {
            let (live_name, _) = unmatched.remove(at);
            if live_name != name {
                renames.push((name.clone(), live_name.clone()));
            }
        }
    }
    renames
}

async fn rename(conn: &mut PgConnection, from: &str, to: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("ALTER INDEX public.\"{from}\" RENAME TO \"{to}\""))
        .execute(conn)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, definition: &str) -> (String, String) {
        (name.to_string(), definition.to_string())
    }

    #[test]
    fn indexes_are_matched_by_definition_and_renamed_only_when_their_names_differ() {
        let live = [
            index("t_pkey", "CREATE UNIQUE INDEX ON USING btree (id)"),
            index(
                "t_open",
                "CREATE INDEX ON USING btree (at) WHERE (done IS NULL)",
            ),
            index("t_at", "CREATE INDEX ON USING btree (at)"),
        ];
        let copy = [
            index("t_at_idx", "CREATE INDEX ON USING btree (at)"),
            index(
                "t_at_idx1",
                "CREATE INDEX ON USING btree (at) WHERE (done IS NULL)",
            ),
            index("t_pkey", "CREATE UNIQUE INDEX ON USING btree (id)"),
            index("t_new_idx", "CREATE INDEX ON USING btree (new)"),
        ];

        assert_eq!(
            pairs(&live, &copy),
            [
                ("t_at_idx".to_string(), "t_at".to_string()),
                ("t_at_idx1".to_string(), "t_open".to_string()),
            ]
        );
    }
}
