//! Request bodies: a JSON document read whole (size, media type, U+0000), before a
//! [`Form`](super::form::Form) reads it member by member.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

/// Largest accepted body (CONTRACT 2.3): 64 KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What a field holding U+0000 is told: Postgres text cannot hold it, so no read model could
/// (CONTRACT 2.4).
pub const NUL_MESSAGE: &str = "must not contain U+0000 (NUL), which cannot be stored";

/// Whether an endpoint needs a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// An empty body is a 400: the endpoint has required fields.
    Required,
    /// Every member is optional, so an empty body (whatever its declared type: there is
    /// nothing to misread) stands for `{}`.
    Optional,
}

/// A request body that is a JSON document, with every string that holds U+0000 found.
#[derive(Debug, Clone)]
pub struct JsonBody {
    /// The parsed document.
    pub value: Value,
    /// The raw bytes, for idempotency digests.
    pub raw: Bytes,
    /// Members holding U+0000 somewhere, reported by a [`Form`](super::form::Form).
    refused: Vec<Refused>,
}

/// A top-level member (or the whole body) holding U+0000 at `field`.
#[derive(Debug, Clone)]
struct Refused {
    /// The top-level member as sent; empty for a body that is not an object.
    member: String,
    /// Where the NUL is, dotted (`metadata.key`, `tags.2`), NULs of names shown as U+FFFD.
    field: String,
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Self::read(req, BodyKind::Required).await
    }
}

impl JsonBody {
    /// Reads the body of `req`: 413 over the limit, 400 when empty but required or not JSON,
    /// 415 when a body is declared as something other than JSON (or not declared at all).
    pub async fn read(req: Request, kind: BodyKind) -> Result<Self, ApiError> {
        Self::read_limited(req, kind, BODY_LIMIT).await
    }

    /// [`read`](Self::read) with another limit, for a route whose bodies are larger by nature
    /// (its router must raise `DefaultBodyLimit` to the same).
    pub async fn read_limited(
        req: Request,
        kind: BodyKind,
        limit: usize,
    ) -> Result<Self, ApiError> {
        let declared = declared_json(req.headers());
        let raw = Bytes::from_request(req, &()).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {rejection}"))
            }
        })?;
        if raw.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if raw.iter().all(u8::is_ascii_whitespace) {
            return match kind {
                BodyKind::Required => Err(ApiError::BadRequest(
                    "the request body is empty; this endpoint needs a JSON document".into(),
                )),
                BodyKind::Optional => Ok(Self {
                    value: Value::Object(Map::new()),
                    raw,
                    refused: Vec::new(),
                }),
            };
        }
        if declared != Some(true) {
            return Err(ApiError::UnsupportedMediaType(
                "the request body must be JSON, sent with Content-Type: application/json".into(),
            ));
        }
        let value: Value = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::BadRequest(format!("the request body is not JSON: {e}")))?;
        // JSON can carry U+0000 only as the escape `\u0000`: most bodies skip the walk.
        let refused = if raw.windows(6).any(|w| w == b"\\u0000") {
            refused_members(&value)
        } else {
            Vec::new()
        };
        Ok(Self {
            value,
            raw,
            refused,
        })
    }
}

impl JsonBody {
    /// Each top-level member (empty for a body that is not an object) holding U+0000, with
    /// where: the member is refused, and the place is the failing field.
    pub fn refused(&self) -> impl Iterator<Item = (&str, &str)> {
        self.refused
            .iter()
            .map(|r| (r.member.as_str(), r.field.as_str()))
    }

    /// A body that was sent as `value`.
    #[cfg(test)]
    pub fn from_value(value: Value) -> Self {
        Self {
            raw: Bytes::from(value.to_string()),
            refused: refused_members(&value),
            value,
        }
    }
}

/// `Some(true)` for a JSON content type (`application/json`, `application/*+json`, any
/// parameters), `Some(false)` for another, `None` without the header.
fn declared_json(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let Ok(value) = value.to_str() else {
        return Some(false);
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(
        essence == "application/json"
            || essence
                .strip_prefix("application/")
                .is_some_and(|sub| sub.len() > "+json".len() && sub.ends_with("+json")),
    )
}

/// A name as it can be shown (and stored): U+0000 replaced by U+FFFD.
fn printable(name: &str) -> String {
    name.replace('\0', "\u{FFFD}")
}

/// Every place in `value` that holds U+0000, in a string or in a member's name.
fn refused_members(value: &Value) -> Vec<Refused> {
    let mut refused = Vec::new();
    let Value::Object(map) = value else {
        let mut fields = Vec::new();
        nul_paths(value, "body", &mut fields);
        return fields
            .into_iter()
            .map(|field| Refused {
                member: String::new(),
                field,
            })
            .collect();
    };
    for (name, member) in map {
        let mut fields = Vec::new();
        if name.contains('\0') {
            fields.push(printable(name));
        } else {
            nul_paths(member, name, &mut fields);
        }
        refused.extend(fields.into_iter().map(|field| Refused {
            member: name.clone(),
            field,
        }));
    }
    refused
}

fn nul_paths(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains('\0') => out.push(path.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_paths(item, &format!("{path}.{i}"), out);
            }
        }
        Value::Object(map) => {
            for (name, member) in map {
                let inner = format!("{path}.{}", printable(name));
                if name.contains('\0') {
                    out.push(inner);
                } else {
                    nul_paths(member, &inner, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn read(content_type: Option<&str>, raw: &str, kind: BodyKind) -> Result<Value, u16> {
        let mut request = Request::builder().method("POST").uri("/x");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(axum::body::Body::from(raw.to_string()))
            .unwrap();
        JsonBody::read(request, kind)
            .await
            .map(|b| b.value)
            .map_err(|e| e.status().as_u16())
    }

    #[tokio::test]
    async fn a_body_must_be_declared_json_and_may_be_empty_only_where_optional() {
        let json = Some("application/json");
        assert_eq!(read(json, "{}", BodyKind::Required).await, Ok(json!({})));
        for declared in [
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert_eq!(
                read(Some(declared), "{\"a\":1}", BodyKind::Required).await,
                Ok(json!({"a": 1})),
                "{declared}"
            );
        }
        for declared in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/+json"),
            Some("application/jsonx"),
            Some("multipart/form-data; boundary=x"),
        ] {
            assert_eq!(
                read(declared, "{}", BodyKind::Required).await,
                Err(415),
                "{declared:?}"
            );
        }
        assert_eq!(read(json, " ", BodyKind::Required).await, Err(400));
        assert_eq!(read(None, "", BodyKind::Required).await, Err(400));
        assert_eq!(read(None, "", BodyKind::Optional).await, Ok(json!({})));
        assert_eq!(
            read(Some("text/plain"), "", BodyKind::Optional).await,
            Ok(json!({}))
        );
        assert_eq!(read(json, "{", BodyKind::Optional).await, Err(400));
    }
}
