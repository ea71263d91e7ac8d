//! The hash input of an envelope: its JSON in the JSON Canonicalization Scheme (RFC 8785).
//!
//! Written straight from the envelope's fields, which the engine does for every event it stores.
//! The general canonicalizer needs the envelope as a `serde_json::Value` first (a copy of every
//! member) and re-sorts every object; here the top-level members are written in their sorted
//! order, and only `data` is walked. Where the scheme formats a value in a way `serde_json` may
//! not (non-integer numbers, integers beyond 2^53), this gives up and the general canonicalizer
//! runs instead, so the bytes are always those of RFC 8785.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::envelope::Envelope;

/// Largest integer an IEEE double holds exactly; RFC 8785 formats numbers as doubles.
const EXACT_INTEGER: u64 = 1 << 53;

impl Envelope {
    /// The hash this envelope should carry: SHA-256 over the RFC 8785 canonical JSON of the
    /// envelope without `hash` and `position`.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(hash_input(self)))
    }
}

/// The canonical JSON of `envelope` without `hash` and `position`.
pub(crate) fn hash_input(envelope: &Envelope) -> Vec<u8> {
    fast(envelope).unwrap_or_else(|| general(envelope))
}

/// The general path: any value, via `serde_json_canonicalizer`.
fn general(envelope: &Envelope) -> Vec<u8> {
    let mut value = match serde_json::to_value(envelope) {
        Ok(Value::Object(map)) => map,
        // A struct of plain members always serializes to an object.
        _ => return Vec::new(),
    };
    value.remove("hash");
    value.remove("position");
    serde_json_canonicalizer::to_vec(&Value::Object(value)).unwrap_or_default()
}

/// The members in RFC 8785 order (by UTF-16 code units; all ASCII here, so by bytes). `None`
/// when `data` holds a value this writer does not format as the scheme does.
fn fast(e: &Envelope) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    member(&mut out, "actorid", &e.actorid, true);
    member(&mut out, "actorname", &e.actorname, false);
    member(&mut out, "actorrole", &e.actorrole, false);
    member(&mut out, "correlationid", &e.correlationid, false);
    out.extend_from_slice(br#","data":"#);
    value(&mut out, &e.data)?;
    member(&mut out, "datacontenttype", &e.datacontenttype, false);
    member(&mut out, "id", &e.id, false);
    member(&mut out, "prevhash", &e.prevhash, false);
    out.extend_from_slice(br#","seq":"#);
    integer(&mut out, &serde_json::Number::from(e.seq))?;
    member(&mut out, "source", &e.source, false);
    member(&mut out, "specversion", &e.specversion, false);
    member(&mut out, "subject", &e.subject, false);
    member(&mut out, "time", &e.time.to_string(), false);
    member(&mut out, "type", &e.event_type, false);
    out.push(b'}');
    Some(out)
}

fn member(out: &mut Vec<u8>, key: &str, text: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    string(out, key);
    out.push(b':');
    string(out, text);
}

/// `serde_json` escapes exactly what RFC 8785 does: `"`, `\`, and controls below U+0020 (the
/// short forms where JSON has them, else `\u00xx` in lower case); everything else is literal.
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn integer(out: &mut Vec<u8>, n: &serde_json::Number) -> Option<()> {
    let exact = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i.unsigned_abs() <= EXACT_INTEGER,
        (None, Some(u)) => u <= EXACT_INTEGER,
        (None, None) => false,
    };
    exact.then(|| out.extend_from_slice(n.to_string().as_bytes()))
}

fn value(out: &mut Vec<u8>, v: &Value) -> Option<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => integer(out, n)?,
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, key);
                out.push(b':');
                value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::envelope::{Actor, EnvelopeHeader};
    use crate::events::{TicketClosed, TicketEvent};
    use crate::GENESIS_HASH;

    fn envelope(data: Value, text: &str) -> Envelope {
        let actor = Actor {
            id: text.to_string(),
            name: format!("{text} name"),
            role: "agent".into(),
        };
        let mut e = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: uuid::Uuid::nil(),
                seq: 7,
                time: "2026-11-23T10:15:30.123Z".parse().unwrap(),
                actor: &actor,
                correlation_id: text,
            },
            &TicketEvent::Closed(TicketClosed { resolution: None }),
            GENESIS_HASH,
        );
        e.data = data;
        e
    }

    /// Any JSON value (`exact`: only values the fast path writes itself).
    fn json_value(exact: bool) -> impl Strategy<Value = Value> {
        let limit = EXACT_INTEGER as i64;
        let number = if exact {
            (-limit..=limit).prop_map(Value::from).boxed()
        } else {
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
            ]
            .boxed()
        };
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number,
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\a\u{7f}\u{2028}\u{e000}\u{1f600}]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    "[a-z\u{e000}\u{1f600}_]{0,4}|[\\x00-\\x1f]",
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_hash_input_is_what_the_general_canonicalizer_writes(
            data in json_value(false),
            text in any::<String>(),
        ) {
            let e = envelope(data, &text);
            prop_assert_eq!(hash_input(&e), general(&e));
        }

        #[test]
        fn the_fast_path_writes_integers_strings_and_objects_as_the_scheme_does(
            data in json_value(true),
            text in any::<String>(),
        ) {
            let e = envelope(data, &text);
            prop_assert_eq!(fast(&e), Some(general(&e)));
        }
    }

    #[test]
    fn events_as_the_engine_stores_them_take_the_fast_path() {
        let e = envelope(
            json!({"comment_id": "0190", "author": {"id": "x", "role": "agent"}, "n": 3,
                   "internal": false, "body": "line\nnext \u{1}", "tags": ["a", null]}),
            "req-1",
        );
        assert_eq!(fast(&e), Some(general(&e)));
    }
}
