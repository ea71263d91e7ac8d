//! Declared file names and media types, made safe: a name is only ever shown and sent back in
//! `Content-Disposition` (the stored object is named by the attachment's id), so it loses what
//! would mislead a reader or break a header, and keeps the rest.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest kept file name, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// The media type of a file that declares none (or one that is not a media type).
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Controls (U+0000 included: Postgres text cannot hold it), bidirectional overrides and
/// isolates (which make `exe.txt` of `txt.exe`), path separators and a leading dot go; an
/// empty result becomes `attachment`.
pub fn safe_filename(declared: Option<&str>) -> String {
    let cleaned: String = declared
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .take(MAX_FILENAME_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "attachment".to_string()
    } else {
        trimmed.to_string()
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The declared media type when it is one (`type/subtype`, parameters kept), else the default.
pub fn safe_content_type(declared: Option<&str>) -> String {
    let Some(declared) = declared.map(str::trim).filter(|d| !d.is_empty()) else {
        return DEFAULT_CONTENT_TYPE.into();
    };
    let essence = declared.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let printable = declared.len() <= 255 && declared.bytes().all(|b| (0x20..0x7f).contains(&b));
    match essence.split_once('/') {
        Some((t, s)) if token(t) && token(s) && printable => declared.to_ascii_lowercase(),
        _ => DEFAULT_CONTENT_TYPE.into(),
    }
}

/// RFC 5987 `attr-char`s stay; everything else is percent-encoded.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` (RFC 6266) with an ASCII `filename` fallback and the exact
/// name in `filename*`.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_names_are_made_safe() {
        assert_eq!(safe_filename(Some("../../etc/passwd")), "_.._etc_passwd");
        assert_eq!(safe_filename(Some("a\0b.txt")), "ab.txt");
        assert_eq!(
            safe_filename(Some("invoice\u{202E}fdp.exe")),
            "invoicefdp.exe"
        );
        assert_eq!(safe_filename(Some(&"x".repeat(4000))).chars().count(), 255);
        assert_eq!(safe_filename(Some("")), "attachment");
        assert_eq!(safe_filename(None), "attachment");
        assert_eq!(safe_filename(Some("..")), "attachment");
    }

    #[test]
    fn media_types_are_kept_when_they_are_media_types() {
        assert_eq!(safe_content_type(Some("text/html")), "text/html");
        assert_eq!(
            safe_content_type(Some("Text/Plain; charset=utf-8")),
            "text/plain; charset=utf-8"
        );
        assert_eq!(safe_content_type(Some("nonsense")), DEFAULT_CONTENT_TYPE);
        assert_eq!(
            safe_content_type(Some("a/b\r\nX-Evil: 1")),
            DEFAULT_CONTENT_TYPE
        );
        assert_eq!(safe_content_type(None), DEFAULT_CONTENT_TYPE);
    }

    #[test]
    fn disposition_names_the_file_exactly_in_filename_star() {
        assert_eq!(
            content_disposition("résumé \"1\".pdf"),
            "attachment; filename=\"r_sum_ _1_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf"
        );
    }

    proptest! {
        #[test]
        fn every_safe_name_makes_a_valid_header(name in any::<String>()) {
            let safe = safe_filename(Some(&name));
            prop_assert!(!safe.contains('/') && !safe.contains('\0'));
            prop_assert!(safe.chars().count() <= MAX_FILENAME_CHARS);
            let header = content_disposition(&safe);
            prop_assert!(axum::http::HeaderValue::from_str(&header).is_ok());
            let encoded = header.split("filename*=UTF-8''").nth(1).unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8();
            prop_assert_eq!(decoded.map(|d| d.into_owned()).ok(), Some(safe));
        }
    }
}
