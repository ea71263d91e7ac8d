//! Importing users from CSV (CONTRACT 11): `email,name,role[,phone]`, read by a real CSV parser
//! (quoted fields, a UTF-8 BOM, CRLF or LF), every line checked and every failing one reported,
//! then applied all or nothing. Called by `POST /users/import` and `ticketd user import FILE`.
//!
//! Cells are data, never formulas: a name like `=cmd|' /C calc'!A0` is stored as the text it is
//! (nothing here or in the engine evaluates it).

use std::collections::HashMap;

use sqlx::PgPool;

use crate::domain::Role;
use crate::store::user_stream::Recorder;
use crate::users::import::{self, Applied, ImportRow, LineError};
use crate::users::{check_name, normalize_email, normalize_phone};

/// Largest file accepted (CONTRACT 11: 10 MiB).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Most rows in one file.
pub const MAX_ROWS: usize = 50_000;
/// Longest line (bytes of its cells).
pub const MAX_LINE: usize = 4 * 1024;

/// A file refused as a whole, before any line is looked at.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Over [`MAX_BYTES`].
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// Over [`MAX_ROWS`].
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
}

/// The line of a byte offset, for offsets that only grow.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    newlines: u64,
}

impl LineCounter {
    fn at(&mut self, bytes: &[u8], offset: u64) -> u64 {
        let mut offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        // After a CRLF the offset can point at its `\n`: the record starts past the line end.
        while offset < bytes.len() && matches!(bytes[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset > self.offset {
            self.newlines += bytes[self.offset..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.offset = offset;
        }
        self.newlines + 1
    }
}

fn error(line: u64, field: &str, message: impl Into<String>) -> LineError {
    LineError {
        line,
        field: field.into(),
        message: message.into(),
    }
}

/// Reads and checks a file: the rows to apply, and every failing line.
pub fn parse(
    bytes: &[u8],
    region: Option<phonenumber::country::Id>,
) -> Result<(Vec<ImportRow>, Vec<LineError>), Refused> {
    if bytes.len() > MAX_BYTES {
        return Err(Refused::TooLarge);
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // Line numbers are counted here from each record's byte offset: the `csv` crate's own count
    // is one short after a CRLF line end.
    let mut lines = LineCounter::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Ok((rows, vec![error(1, "header", e.to_string())])),
        None => {
            return Ok((
                rows,
                vec![error(
                    1,
                    "header",
                    "the file is empty: it needs the header email,name,role[,phone]",
                )],
            ))
        }
    };
    let names: Vec<String> = header
        .iter()
        .map(|cell| String::from_utf8_lossy(cell).trim().to_lowercase())
        .collect();
    let with_phone = match names.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["email", "name", "role"] => false,
        ["email", "name", "role", "phone"] => true,
        _ => {
            return Ok((
                rows,
                vec![error(
                    1,
                    "header",
                    "must be email,name,role or email,name,role,phone",
                )],
            ))
        }
    };
    let columns = if with_phone { 4 } else { 3 };
    let mut seen_email: HashMap<String, u64> = HashMap::new();
    let mut seen_phone: HashMap<String, u64> = HashMap::new();
    let mut count = 0usize;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(bytes, p.byte()));
                errors.push(error(line, "line", e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.at(bytes, p.byte()));
        if record
            .iter()
            .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        count += 1;
        if count > MAX_ROWS {
            return Err(Refused::TooManyRows);
        }
        if record.as_slice().len() > MAX_LINE {
            errors.push(error(
                line,
                "line",
                format!("is longer than {MAX_LINE} bytes"),
            ));
            continue;
        }
        if record.len() != columns {
            errors.push(error(
                line,
                "line",
                format!("has {} cells where the header has {columns}", record.len()),
            ));
            continue;
        }
        let mut cells = Vec::with_capacity(columns);
        let mut bad = false;
        for (i, cell) in record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(text) if text.contains('\0') => {
                    errors.push(error(line, &names[i], "must not contain U+0000 (NUL)"));
                    bad = true;
                }
                Ok(text) => cells.push(text),
                Err(_) => {
                    errors.push(error(line, &names[i], "is not UTF-8 text"));
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        let email = normalize_email(cells[0]).map_err(|e| error(line, "email", e.to_string()));
        let name = check_name(cells[1]).map_err(|e| error(line, "name", e.to_string()));
        let role = cells[2]
            .trim()
            .to_lowercase()
            .parse::<Role>()
            .map_err(|e| error(line, "role", e.to_string()));
        let phone = match cells.get(3).map(|p| p.trim()).filter(|p| !p.is_empty()) {
            Some(p) => normalize_phone(p, region)
                .map(Some)
                .map_err(|e| error(line, "phone", e.to_string())),
            None => Ok(None),
        };
        let (email, name, role, phone) = match (email, name, role, phone) {
            (Ok(e), Ok(n), Ok(r), Ok(p)) => (e, n, r, p),
            (e, n, r, p) => {
                errors.extend([e.err(), n.err(), r.err(), p.err()].into_iter().flatten());
                continue;
            }
        };
        if let Some(first) = seen_email.get(&email) {
            errors.push(error(
                line,
                "email",
                format!("repeats the e-mail of line {first}"),
            ));
            continue;
        }
        seen_email.insert(email.clone(), line);
        if let Some(phone) = &phone {
            if let Some(first) = seen_phone.get(phone) {
                errors.push(error(
                    line,
                    "phone",
                    format!("repeats the phone of line {first}"),
                ));
                continue;
            }
            seen_phone.insert(phone.clone(), line);
        }
        rows.push(ImportRow {
            line,
            email,
            name,
            role,
            phone,
        });
    }
    Ok((rows, errors))
}

/// Imports a file: parsed, checked, then applied in one transaction (not at all when any line
/// fails, or when `dry_run`).
pub async fn import(
    pool: &PgPool,
    recorder: &Recorder,
    bytes: &[u8],
    region: Option<phonenumber::country::Id>,
    dry_run: bool,
) -> Result<Result<Applied, Refused>, sqlx::Error> {
    let (rows, errors) = match parse(bytes, region) {
        Ok(parsed) => parsed,
        Err(refused) => return Ok(Err(refused)),
    };
    if !errors.is_empty() {
        return Ok(Ok(Applied {
            errors,
            ..Applied::default()
        }));
    }
    let applied = import::apply(pool, recorder, &rows, dry_run).await?;
    tracing::info!(
        created = applied.created,
        updated = applied.updated,
        errors = applied.errors.len(),
        dry_run,
        "users imported"
    );
    Ok(Ok(applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn br() -> Option<phonenumber::country::Id> {
        Some(phonenumber::country::Id::BR)
    }

    #[test]
    fn quoted_cells_a_bom_and_crlf_are_read_as_csv() {
        let file = "\u{feff}Email,Name,Role,Phone\r\n\"ana@example.com\",\"Souza, Ana \"\"Aninha\"\"\",agent,(11) 98765-4321\r\nRUI@Example.com,\"Rui\r\nRamos\",requester,\r\n";
        let (rows, errors) = parse(file.as_bytes(), br()).unwrap();
        assert_eq!(
            errors,
            vec![error(3, "name", "name must not contain control characters")]
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "Souza, Ana \"Aninha\"");
        assert_eq!(rows[0].phone.as_deref(), Some("+5511987654321"));
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn every_failing_line_is_named_with_its_field() {
        let file = "email,name,role\nnot-an-email,Ann,agent\nb@x.com,,boss\nc@x.com,Cy\nd@x.com,Di,admin\nD@X.com,Di again,agent\n";
        let (rows, errors) = parse(file.as_bytes(), None).unwrap();
        let named: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            named,
            [
                (2, "email"),
                (3, "name"),
                (3, "role"),
                (4, "line"),
                (6, "email")
            ]
        );
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn formula_cells_are_kept_as_text() {
        let file = "email,name,role\nf@x.com,\"=cmd|' /C calc'!A0\",requester\n";
        let (rows, errors) = parse(file.as_bytes(), None).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].name, "=cmd|' /C calc'!A0");
    }

    #[test]
    fn limits_refuse_the_file_or_the_line() {
        let mut many = String::from("email,name,role\n");
        for i in 0..=MAX_ROWS {
            many.push_str(&format!("u{i}@x.com,U,agent\n"));
        }
        assert_eq!(
            parse(many.as_bytes(), None).unwrap_err(),
            Refused::TooManyRows
        );
        let long = format!("email,name,role\na@x.com,{},agent\n", "n".repeat(MAX_LINE));
        let (_, errors) = parse(long.as_bytes(), None).unwrap();
        assert_eq!((errors[0].line, errors[0].field.as_str()), (2, "line"));
        assert_eq!(
            parse(&vec![b'a'; MAX_BYTES + 1], None).unwrap_err(),
            Refused::TooLarge
        );
        let (_, errors) = parse(b"name,email,role\n", None).unwrap();
        assert_eq!((errors[0].line, errors[0].field.as_str()), (1, "header"));
        let (_, errors) = parse(b"", None).unwrap();
        assert_eq!(errors[0].line, 1);
    }
}
