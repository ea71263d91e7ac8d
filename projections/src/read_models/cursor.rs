//! Opaque keyset-pagination cursors: the sort order's name and the sort key of the last item
//! of a page (its id included), as JSON in unpadded base64url.
//!
//! Hand-rolled base64 because these few lines are all the crate needs of it.

use serde::{Deserialize, Serialize};

/// Where the next page starts: after the row whose sort key is `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort order the key belongs to (a cursor is refused under another one).
    #[serde(rename = "s")]
    pub sort: String,
    /// The sort key's values, as text, in the sort's column order, the id last.
    #[serde(rename = "k")]
    pub key: Vec<String>,
}

/// A cursor that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not a cursor from a previous page")]
pub struct InvalidCursor;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        encode(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a cursor handed out by [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Self, InvalidCursor> {
        let bytes = decode(text).ok_or(InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)
    }
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(encode(plain.as_bytes()), encoded, "encoding {plain:?}");
            assert_eq!(
                decode(encoded).as_deref(),
                Some(plain.as_bytes()),
                "decoding {encoded:?}"
            );
        }
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn a_cursor_survives_a_round_trip() {
        let cursor = Cursor {
            sort: "-created_at".into(),
            key: vec![
                "2026-11-23T10:15:30.123Z".into(),
                "0193a5c2-0000-7000-8000-000000000000".into(),
            ],
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        for text in ["x", "!!!!", "Zm9v", "e30"] {
            assert_eq!(Cursor::decode(text), Err(InvalidCursor), "{text:?}");
        }
    }
}
