//! A request body read as the type that declares it: [`request_body!`] declares a body's
//! struct once, which is both its OpenAPI schema (through `ToSchema`) and, through a [`Form`],
//! its parser, so the two cannot drift apart. Every failing member is collected, so a 422 names
//! each (missing, mistyped, out of bounds, unknown, holding U+0000) rather than the first.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::body::{JsonBody, NUL_MESSAGE};
use super::error::{ApiError, FieldError};
use super::members::{Context, Member, MemberError};

/// A JSON object being read member by member, collecting every problem before failing.
pub struct Form<'a> {
    /// The body's members, borrowed: a value is copied only when a member's type asks for it.
    map: &'a Map<String, Value>,
    /// Members read already (or refused): each is read once, and the rest are unknown.
    read: HashSet<&'a str>,
    errors: Vec<FieldError>,
    /// Members holding U+0000: already reported, read as absent (and not as missing).
    refused: HashSet<&'a str>,
}

impl<'a> Form<'a> {
    /// Starts reading `body`, which must be an object. Members holding U+0000 are failing
    /// fields from the start, whatever the handler reads.
    pub fn new(body: &'a JsonBody) -> Result<Self, ApiError> {
        let Value::Object(map) = &body.value else {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        };
        let mut errors = Vec::new();
        let mut refused = HashSet::new();
        for (member, field) in body.refused() {
            refused.insert(member);
            errors.push(FieldError::new(field, NUL_MESSAGE));
        }
        Ok(Self {
            map,
            read: HashSet::new(),
            errors,
            refused,
        })
    }

    /// Records a failing field.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The member `name` as its type reads it (null is absent), once: a second read finds it
    /// absent. `None` when it fails, which is recorded, or holds U+0000, which was.
    pub fn member<T: Member>(&mut self, name: &str, ctx: &Context<'_>) -> Option<T> {
        if self.refused.contains(name) {
            return None;
        }
        let value = self
            .map
            .get_key_value(name)
            .filter(|(key, _)| self.read.insert(key.as_str()))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null());
        match T::read(value, ctx) {
            Ok(member) => Some(member),
            Err(MemberError::Inner(errors)) => {
                for error in errors {
                    let field = if error.field.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name}.{}", error.field)
                    };
                    self.fail(&field, error.message);
                }
                None
            }
            Err(error) => {
                self.fail(name, error.to_string());
                None
            }
        }
    }

    /// Ends reading: unknown members are errors too. `Err` lists every failing field.
    pub fn finish(self) -> Result<(), ApiError> {
        let errors = self.failures();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(errors))
        }
    }

    /// Every failing field, unknown members last.
    fn failures(mut self) -> Vec<FieldError> {
        let mut unknown: Vec<String> = self
            .map
            .keys()
            .filter(|key| !self.read.contains(key.as_str()) && !self.refused.contains(key.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        for field in unknown {
            self.fail(&field, "is not a known field");
        }
        self.errors
    }
}

/// Reads an object member as the body `read` declares it, with a form of its own: its failing
/// and unknown members are named within it ([`MemberError::Inner`]).
pub fn nested<D, T>(
    value: &Value,
    ctx: &Context<'_>,
    read: impl FnOnce(&mut Form<'_>, &Context<'_>) -> D,
    take: impl FnOnce(D) -> Option<T>,
) -> Result<T, MemberError> {
    let Value::Object(map) = value else {
        return Err(MemberError::Type("an object"));
    };
    // U+0000 anywhere in it refused the whole member already, so nothing here is refused.
    let mut form = Form {
        map,
        read: HashSet::new(),
        errors: Vec::new(),
        refused: HashSet::new(),
    };
    let draft = read(&mut form, ctx);
    let errors = form.failures();
    if !errors.is_empty() {
        return Err(MemberError::Inner(errors));
    }
    // Every member read without an error is there. Were one not, an empty list leaves the
    // member unread without a failure, and the body's `complete` reports it as a fault.
    take(draft).ok_or(MemberError::Inner(Vec::new()))
}

/// Declares a request body: the struct (its `ToSchema` refuses unknown members, as the reader
/// does, and says each member's bounds, from the member's type) and its draft, whose `read` takes every member from a [`Form`],
/// recording each failing one there; `complete` gives the body once the form has none.
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, read as $draft:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            // Each member's schema is its type's, inline and whole: the member's own words
            // (`$field_meta`) document the declaration, and would wrap the schema if given
            // to the derive.
            $( #[schema(inline)] pub $field: $ty, )*
        }

        #[doc = concat!("The members of a [`", stringify!($name), "`] read so far: a failing one is `None`, and named in the form's errors.")]
        #[derive(Debug)]
        pub struct $draft {
            $( pub $field: Option<$ty>, )*
        }

        impl $name {
            /// Reads every member of the form's body.
            pub fn read(
                form: &mut $crate::http::form::Form<'_>,
                ctx: &$crate::http::members::Context<'_>,
            ) -> $draft {
                $draft {
                    // A raw identifier (`r#type`) names the member without its `r#`.
                    $( $field: form.member::<$ty>(
                        stringify!($field).trim_start_matches("r#"),
                        ctx,
                    ), )*
                }
            }

            /// Reads `body` whole: the body, or a 422 naming every failing member (for a body
            /// whose checks need nothing else; see [`read`](Self::read) for those that do).
            pub fn parse(
                body: &$crate::http::body::JsonBody,
                ctx: &$crate::http::members::Context<'_>,
            ) -> $crate::http::error::Result<$name> {
                let mut form = $crate::http::form::Form::new(body)?;
                let draft = Self::read(&mut form, ctx);
                form.finish()?;
                draft.complete()
            }
        }

        impl $draft {
            /// The body, once every member was read: call it after the form finished without
            /// an error.
            pub fn complete(self) -> $crate::http::error::Result<$name> {
                Ok($name {
                    $( $field: self.$field.ok_or_else(|| {
                        $crate::http::error::ApiError::Internal(anyhow::anyhow!(
                            concat!("the checked member ", stringify!($field), " is missing")
                        ))
                    })?, )*
                })
            }

            /// The body, if every member was read.
            fn take(self) -> Option<$name> {
                Some($name {
                    $( $field: self.$field?, )*
                })
            }
        }

        /// The body as an object member of another, its failures named within it.
        impl $crate::http::members::FromJson for $name {
            fn from_json(
                value: &serde_json::Value,
                ctx: &$crate::http::members::Context<'_>,
            ) -> Result<Self, $crate::http::members::MemberError> {
                $crate::http::form::nested(value, ctx, Self::read, $draft::take)
            }
        }
    };
}

pub(crate) use request_body;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::values::Score;
    use crate::http::members::Text;

    fn settings() -> crate::settings::Settings {
        crate::settings::Settings::for_database("postgres://x/y", &"s".repeat(32))
    }

    #[test]
    fn every_string_holding_nul_is_a_failing_field_however_deep() {
        let value = json!({
            "title": "a\u{0}b",
            "ok": "fine",
            "meta": {"k\u{0}": 1, "list": ["x", "y\u{0}"]},
            "n\u{0}": true,
        });
        let body = JsonBody::from_value(value);
        let settings = settings();
        let ctx = Context {
            settings: &settings,
        };
        let mut f = Form::new(&body).unwrap();
        assert_eq!(f.member::<Text>("title", &ctx), None);
        assert_eq!(f.member::<Text>("ok", &ctx), Some(Text("fine".into())));
        let Err(ApiError::Unprocessable(errors)) = f.finish() else {
            panic!("expected a 422");
        };
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["meta.k\u{fffd}", "meta.list.1", "n\u{fffd}", "title"]
        );
        assert!(errors.iter().all(|e| e.message == NUL_MESSAGE));
    }

    #[test]
    fn every_failing_field_is_listed() {
        let document = JsonBody::from_value(json!({"a": 1, "b": "x", "extra": true}));
        let settings = settings();
        let ctx = Context {
            settings: &settings,
        };
        let mut f = Form::new(&document).unwrap();
        let a = f.member::<Text>("a", &ctx);
        let b = f.member::<Score>("b", &ctx);
        let c = f.member::<Text>("c", &ctx);
        assert!(a.is_none() && b.is_none() && c.is_none());
        let Err(ApiError::Unprocessable(errors)) = f.finish() else {
            panic!("expected a 422");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c", "extra"]);
    }

    #[test]
    fn null_counts_as_absent() {
        let document = JsonBody::from_value(json!({"a": null}));
        let settings = settings();
        let ctx = Context {
            settings: &settings,
        };
        let mut f = Form::new(&document).unwrap();
        assert_eq!(f.member::<Option<Text>>("a", &ctx), Some(None));
        assert!(f.finish().is_ok());
    }
}
