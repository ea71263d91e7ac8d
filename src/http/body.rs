//! Request bodies: a JSON object read field by field, so that a 422 lists every failing field
//! (missing, mistyped, unknown, out of bounds) rather than the first one serde meets.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApiError, FieldError};

/// Largest accepted body (CONTRACT 2.3): 64 KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A request body that is a JSON document. Empty bodies count as `{}`.
#[derive(Debug, Clone)]
pub struct JsonBody {
    /// The parsed document.
    pub value: Value,
    /// The raw bytes, for idempotency digests.
    pub raw: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: BODY_LIMIT }
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {rejection}"))
            }
        })?;
        if raw.len() > BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
        }
        let value = if raw.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(&raw)
                .map_err(|e| ApiError::BadRequest(format!("the request body is not JSON: {e}")))?
        };
        Ok(Self { value, raw })
    }
}

/// Reads the members of a JSON object, collecting every problem before failing.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// Starts reading `body`, which must be an object.
    pub fn new(body: &JsonBody) -> Result<Self, ApiError> {
        match &body.value {
            Value::Object(map) => Ok(Self {
                map: map.clone(),
                errors: Vec::new(),
            }),
            _ => Err(ApiError::invalid("body", "must be a JSON object")),
        }
    }

    /// Records a failing field.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn take(&mut self, field: &str, required: bool) -> Option<Value> {
        match self.map.remove(field) {
            None | Some(Value::Null) if required => {
                self.fail(field, "is required");
                None
            }
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn typed<T>(
        &mut self,
        field: &str,
        required: bool,
        what: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.take(field, required)?;
        let converted = convert(&value);
        if converted.is_none() {
            self.fail(field, format!("must be {what}"));
        }
        converted
    }

    /// A string member.
    pub fn string(&mut self, field: &str, required: bool) -> Option<String> {
        self.typed(field, required, "a string", |v| {
            v.as_str().map(str::to_string)
        })
    }

    /// A boolean member.
    pub fn boolean(&mut self, field: &str, required: bool) -> Option<bool> {
        self.typed(field, required, "a boolean", Value::as_bool)
    }

    /// An integer member. `4.0` is the integer 4, as JSON Schema (and JavaScript) see it.
    pub fn integer(&mut self, field: &str, required: bool) -> Option<i64> {
        self.typed(field, required, "an integer", |v| {
            v.as_i64().or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
        })
    }

    /// A UUID member.
    pub fn uuid(&mut self, field: &str, required: bool) -> Option<Uuid> {
        self.typed(field, required, "a UUID string", |v| {
            v.as_str().and_then(|s| Uuid::parse_str(s).ok())
        })
    }

    /// A string member parsed by `parse`, whose error message is reported as is.
    pub fn parsed<T>(
        &mut self,
        field: &str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(field, required)?;
        match parse(&text) {
            Ok(v) => Some(v),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    /// Checks an already-read value, reporting `field` when `check` fails.
    pub fn check<T>(
        &mut self,
        field: &str,
        value: Option<T>,
        check: impl FnOnce(&T) -> Result<(), String>,
    ) -> Option<T> {
        let value = value?;
        match check(&value) {
            Ok(()) => Some(value),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    /// Ends reading: unknown members are errors too. `Err` lists every failing field.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for field in unknown {
            self.fail(&field, "is not a known field");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> JsonBody {
        JsonBody {
            raw: Bytes::from(value.to_string()),
            value,
        }
    }

    #[test]
    fn every_failing_field_is_listed() {
        let mut f =
            Fields::new(&body(serde_json::json!({"a": 1, "b": "x", "extra": true}))).unwrap();
        let a = f.string("a", true);
        let b = f.integer("b", true);
        let c = f.string("c", true);
        assert!(a.is_none() && b.is_none() && c.is_none());
        let Err(ApiError::Unprocessable(errors)) = f.finish() else {
            panic!("expected a 422");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c", "extra"]);
    }

    #[test]
    fn integral_numbers_are_integers_whatever_their_spelling() {
        let mut f =
            Fields::new(&body(serde_json::json!({"a": 4.0, "b": 4.5, "c": 1e300}))).unwrap();
        assert_eq!(f.integer("a", true), Some(4));
        assert_eq!(f.integer("b", true), None);
        assert_eq!(f.integer("c", true), None);
        assert!(f.finish().is_err());
    }

    #[test]
    fn null_counts_as_absent() {
        let mut f = Fields::new(&body(serde_json::json!({"a": null}))).unwrap();
        assert_eq!(f.string("a", false), None);
        assert!(f.finish().is_ok());
    }
}
