//! Rows in the text format of `COPY … FROM STDIN`, for a rebuild's inserts into empty copies.
//!
//! The statements that upsert rows take them as one JSON document (`jsonb_populate_recordset`),
//! and at a million tickets parsing those documents was most of the database's time spent
//! writing the ticket view's rows, users' rows and comments. `COPY` hands each column's text
//! to its type's input function, as `jsonb_populate_recordset` does with a scalar once the JSON
//! is parsed, so a value copied here is stored as the same value sent as JSON would be. Written
//! by hand: the format is a dozen lines of escaping, and the crates that write `COPY` data
//! speak the binary format of the `postgres` crate's types, not sqlx's.

use std::fmt::Display;
use std::io::Write;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use sqlx::PgConnection;

/// One or more rows of `COPY` text: columns separated by tabs, rows ended by newlines.
#[derive(Debug, Default)]
pub(crate) struct CopyText {
    buf: Vec<u8>,
    /// Whether the next column starts a row (no tab before it).
    row_start: bool,
    rows: usize,
}

impl CopyText {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::new(),
            row_start: true,
            rows: 0,
        }
    }

    /// Ends the row.
    pub(crate) fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.row_start = true;
        self.rows += 1;
    }

    /// Starts a column.
    fn column(&mut self) -> &mut Vec<u8> {
        if !std::mem::replace(&mut self.row_start, false) {
            self.buf.push(b'\t');
        }
        &mut self.buf
    }

    /// A column of SQL `NULL`.
    pub(crate) fn null(&mut self) {
        self.column().extend_from_slice(b"\\N");
    }

    /// A text column.
    pub(crate) fn text(&mut self, value: &str) {
        self.column();
        escape(&mut self.buf, value.as_bytes());
    }

    /// A column whose text needs no escaping (numbers, ids, names of enum values).
    pub(crate) fn plain(&mut self, value: impl Display) {
        // (Writing into a Vec cannot fail.)
        let _ = write!(self.column(), "{value}");
    }

    /// [`Self::plain`], or `NULL` for `None`.
    pub(crate) fn opt_plain(&mut self, value: Option<impl Display>) {
        match value {
            Some(v) => self.plain(v),
            None => self.null(),
        }
    }

    /// [`Self::text`], or `NULL` for `None`.
    pub(crate) fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// [`Self::time`], or `NULL` for `None`.
    pub(crate) fn opt_time(&mut self, value: Option<DateTime<Utc>>) {
        match value {
            Some(v) => self.time(v),
            None => self.null(),
        }
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.column().push(if value { b't' } else { b'f' });
    }

    /// A `timestamptz` column, in UTC to the nanosecond (the database rounds to the
    /// microsecond, as it does reading the same time from JSON).
    pub(crate) fn time(&mut self, at: DateTime<Utc>) {
        let nanos = at.nanosecond();
        if nanos >= 1_000_000_000 {
            // A leap second: chrono's own form, which the database also reads.
            let text = at.to_rfc3339();
            return self.text(&text);
        }
        let _ = write!(
            self.column(),
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{nanos:09}+00",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
        );
    }

    /// A `text[]` column.
    pub(crate) fn text_array(&mut self, items: &[String]) {
        self.column();
        // An array literal (`{"a","b"}`, `"` and `\` escaped inside the quotes), then escaped
        // as any column's text.
        let mut literal = Vec::with_capacity(2 + items.iter().map(|s| s.len() + 3).sum::<usize>());
        literal.push(b'{');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                literal.push(b',');
            }
            literal.push(b'"');
            for &b in item.as_bytes() {
                if b == b'"' || b == b'\\' {
                    literal.push(b'\\');
                }
                literal.push(b);
            }
            literal.push(b'"');
        }
        literal.push(b'}');
        escape(&mut self.buf, &literal);
    }

    /// A `jsonb` column.
    pub(crate) fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), sqlx::Error> {
        let json = serde_json::to_vec(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        self.column();
        escape(&mut self.buf, &json);
        Ok(())
    }

    /// Sends the rows with `statement` (`COPY table (columns) FROM STDIN`) in `conn`'s
    /// transaction.
    pub(crate) async fn send(
        self,
        conn: &mut PgConnection,
        statement: &str,
    ) -> Result<(), sqlx::Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut copy = conn.copy_in_raw(statement).await?;
        copy.send(self.buf).await?;
        copy.finish().await.map(drop)
    }
}

/// Appends `text` with the characters `COPY`'s text format gives a meaning escaped.
fn escape(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_separated_by_tabs_and_special_characters_escaped() {
        let mut out = CopyText::new();
        out.text("a\tb\\c\nd\re");
        out.null();
        out.plain(42);
        out.bool(true);
        out.end_row();
        out.text_array(&["x\"y".into(), "z\\w".into()]);
        out.text_array(&[]);
        out.end_row();
        assert_eq!(out.rows, 2);
        assert_eq!(
            String::from_utf8(out.buf).unwrap(),
            "a\\tb\\\\c\\nd\\re\t\\N\t42\tt\n{\"x\\\\\"y\",\"z\\\\\\\\w\"}\t{}\n"
        );
    }

    #[test]
    fn times_are_written_in_utc_to_the_nanosecond() {
        let mut out = CopyText::new();
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.000600007Z")
            .unwrap()
            .with_timezone(&Utc);
        out.time(at);
        assert_eq!(
            String::from_utf8(out.buf).unwrap(),
            "2026-01-02 03:04:05.000600007+00"
        );
    }
}
