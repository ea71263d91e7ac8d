//! The members of request bodies: each type reads its JSON value ([`FromJson`], whose rule
//! lives in the domain or the user directory) and says the same in its OpenAPI schema, side by
//! side. Bodies are structs of these types, declared with `http::form::request_body!`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::error::FieldError;
use super::state::AppState;
use crate::domain::values::{
    CommentBody, Description, PendingReason, RatingComment, ReopenReason, Resolution, Score,
    ValueError, COMMENT_MAX, TITLE_MAX,
};
use crate::domain::{Channel, Priority, Role, Title};
use crate::settings::Settings;
use crate::users::{self, EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN, PHONE_MAX};

/// What `str::trim` removes (Rust's `char::is_whitespace`), as the body of a regex class. Spelt
/// out: `\s` means slightly different sets in different regex engines.
pub const WS: &str =
    r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Rust's `char::is_control` (Unicode category Cc).
pub const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Text Postgres can hold: anything but U+0000.
pub const NO_NUL: &str = r"^[^\u0000]*$";

/// What reading a member needs beyond its value: the configured categories, the default phone
/// region.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The engine's settings.
    pub settings: &'a Settings,
}

impl<'a> From<&'a AppState> for Context<'a> {
    fn from(state: &'a AppState) -> Self {
        Context {
            settings: &state.settings,
        }
    }
}

/// Why a member is refused; shown as the message of its 422 entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberError {
    /// Absent (or null) but required.
    Required,
    /// Not of the member's JSON type (`a string`, `an integer`, …).
    Type(&'static str),
    /// Of the right type, but not a value the member's rule accepts.
    Value(ValueError),
    /// Failures inside an object member, each named within it (`email` of `requester`), the
    /// member itself by an empty name: the body reports them as `requester.email`.
    Inner(Vec<FieldError>),
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberError::Required => f.write_str("is required"),
            MemberError::Type(what) => write!(f, "must be {what}"),
            MemberError::Value(error) => error.fmt(f),
            MemberError::Inner(errors) => {
                let named: Vec<_> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                f.write_str(&named.join("; "))
            }
        }
    }
}

impl From<ValueError> for MemberError {
    fn from(error: ValueError) -> Self {
        MemberError::Value(error)
    }
}

/// A value a body member can hold, read from its JSON (never null: null is an absent member).
pub trait FromJson: Sized {
    /// Reads and checks `value`.
    fn from_json(value: &Value, ctx: &Context<'_>) -> Result<Self, MemberError>;
}

/// A member as a request body declares it: `T` is required, `Option<T>` may be absent or null.
pub trait Member: Sized {
    /// Reads the member, `None` when absent or null.
    fn read(value: Option<&Value>, ctx: &Context<'_>) -> Result<Self, MemberError>;
}

impl<T: FromJson> Member for T {
    fn read(value: Option<&Value>, ctx: &Context<'_>) -> Result<Self, MemberError> {
        value.map_or(Err(MemberError::Required), |v| T::from_json(v, ctx))
    }
}

impl<T: FromJson> Member for Option<T> {
    fn read(value: Option<&Value>, ctx: &Context<'_>) -> Result<Self, MemberError> {
        value.map(|v| T::from_json(v, ctx)).transpose()
    }
}

pub(crate) fn string(value: &Value) -> Result<&str, MemberError> {
    value.as_str().ok_or(MemberError::Type("a string"))
}

impl FromJson for bool {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        value.as_bool().ok_or(MemberError::Type("a boolean"))
    }
}

impl FromJson for Uuid {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        value
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(MemberError::Type("a UUID string"))
    }
}

/// An integer: `4.0` is the integer 4, as JSON Schema (and JavaScript) see it.
pub(crate) fn integer(value: &Value) -> Result<i64, MemberError> {
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or(MemberError::Type("an integer"))
}

impl FromJson for Score {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        Ok(Score::parse(integer(value)?)?)
    }
}

impl PartialSchema for Score {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(Score::MIN))
            .maximum(Some(Score::MAX))
            .description(Some("1 to 5"))
            .into()
    }
}

impl ToSchema for Score {
    fn name() -> Cow<'static, str> {
        "Score".into()
    }
}

/// A string schema: at most `max` characters (when bounded) matching `pattern`.
pub(crate) fn string_schema(
    description: &str,
    max: Option<usize>,
    pattern: String,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(max)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// Text that must hold something besides white space, at most `max` characters once trimmed,
/// none of them in `forbidden` (a regex class body).
pub fn trimmed_text(max: usize, forbidden: &str) -> String {
    format!(
        "^[{WS}]*[^{WS}{forbidden}](?:[^{forbidden}]{{0,{inner}}}[^{WS}{forbidden}])?[{WS}]*$",
        inner = max.saturating_sub(2)
    )
}

/// A string member parsed by a function of the domain or the user directory, and its schema.
macro_rules! parsed_string {
    ($ty:ty, $name:expr, $parse:expr, $schema:expr) => {
        impl FromJson for $ty {
            fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
                Ok($parse(string(value)?)?)
            }
        }

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                $name.into()
            }
        }
    };
}

parsed_string!(
    Title,
    "Title",
    Title::parse,
    string_schema(
        "1–200 characters after trimming",
        None,
        trimmed_text(TITLE_MAX, r"\u0000")
    )
);

/// A free text of at most `MAX` characters.
macro_rules! free_text {
    ($ty:ident, $description:literal) => {
        parsed_string!(
            $ty,
            stringify!($ty),
            $ty::parse,
            string_schema($description, Some($ty::MAX), NO_NUL.into())
        );
    };
}

free_text!(Description, "up to 20,000 characters");
free_text!(Resolution, "up to 5,000 characters");
free_text!(ReopenReason, "up to 5,000 characters");
free_text!(RatingComment, "up to 2,000 characters");
free_text!(PendingReason, "up to 5,000 characters");

/// An instant: an RFC 3339 time with an offset (bounds, if any, are the use case's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub ticket_nats::Timestamp);

impl FromJson for Instant {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        string(value)?
            .parse()
            .map(Instant)
            .map_err(|_| MemberError::Type("an RFC 3339 time"))
    }
}

impl PartialSchema for Instant {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("an RFC 3339 time"))
            .into()
    }
}

impl ToSchema for Instant {
    fn name() -> Cow<'static, str> {
        "Instant".into()
    }
}

parsed_string!(
    CommentBody,
    "CommentBody",
    CommentBody::parse,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(COMMENT_MAX))
        .pattern(Some(format!(r"^[^\u0000]*[^{WS}\u0000][^\u0000]*$")))
        .description(Some("1–20,000 characters, not only white space"))
        .into()
);

/// A string of a fixed set of names, whose schema the type gives (its `ALL` and `as_str`).
macro_rules! wire_name {
    ($ty:ident) => {
        impl FromJson for $ty {
            fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
                Ok(string(value)?.parse::<$ty>().map_err(ValueError::from)?)
            }
        }
    };
}

wire_name!(Priority);
wire_name!(Channel);
wire_name!(Role);

impl PartialSchema for Role {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Role::ALL.map(|r| r.as_str())))
            .description(Some("what the user may do"))
            .into()
    }
}

impl ToSchema for Role {
    fn name() -> Cow<'static, str> {
        "Role".into()
    }
}

/// Any text Postgres can hold, not otherwise checked (the sign-in's e-mail and password:
/// whatever is sent is compared, never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

parsed_string!(
    Text,
    "Text",
    |s: &str| Ok::<_, ValueError>(Text(s.to_string())),
    string_schema("any text", None, NO_NUL.into())
);

/// One of the configured categories (`TICKETD_CATEGORIES`): the document lists them, as it
/// runs, in this schema's `enum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category(pub String);

impl FromJson for Category {
    fn from_json(value: &Value, ctx: &Context<'_>) -> Result<Self, MemberError> {
        let name = string(value)?;
        ctx.settings.check_category(name)?;
        Ok(Category(name.to_string()))
    }
}

impl PartialSchema for Category {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("one of the configured categories"))
            .into()
    }
}

impl ToSchema for Category {
    fn name() -> Cow<'static, str> {
        "Category".into()
    }
}

/// An e-mail address as the directory checks it (see [`users::check_email`]).
fn email_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(EMAIL_MAX))
        .pattern(Some(format!(
            "^[{WS}]*[^@{WS}{CONTROL}]+@[^@{WS}{CONTROL}]+[{WS}]*$"
        )))
        .description(Some(
            "one @ with text on both sides, at most 254 characters; unique whatever its case",
        ))
        .into()
}

/// A user's e-mail address, trimmed, its case kept (see [`users::check_email`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(pub String);

parsed_string!(
    Email,
    "Email",
    |s: &str| users::check_email(s).map(Email),
    email_schema()
);

/// An e-mail address in the form contacts are stored and looked up in: trimmed, lower case
/// (see [`users::normalize_email`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEmail(pub String);

parsed_string!(
    ContactEmail,
    "ContactEmail",
    |s: &str| users::normalize_email(s).map(ContactEmail),
    email_schema()
);

/// A phone number in E.164, national ones read in `DEFAULT_PHONE_REGION` (see
/// [`users::normalize_phone`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(pub String);

impl FromJson for Phone {
    fn from_json(value: &Value, ctx: &Context<'_>) -> Result<Self, MemberError> {
        let region = ctx.settings.default_phone_region;
        Ok(Phone(users::normalize_phone(string(value)?, region)?))
    }
}

impl PartialSchema for Phone {
    fn schema() -> RefOr<Schema> {
        // What the parser accepts depends on each country's numbering plan; the pattern only
        // says the shape of a valid number of some country (see deploy/schemathesis.toml).
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(PHONE_MAX))
            .pattern(Some(r"^\+[1-9][0-9]{6,14}$"))
            .description(Some(
                "a phone number, national ones in DEFAULT_PHONE_REGION; stored in E.164",
            ))
            .into()
    }
}

impl ToSchema for Phone {
    fn name() -> Cow<'static, str> {
        "Phone".into()
    }
}

/// A user's display name, trimmed (see [`users::check_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(pub String);

parsed_string!(
    UserName,
    "UserName",
    |s: &str| users::check_name(s).map(UserName),
    string_schema(
        "1–200 characters after trimming, no control characters",
        None,
        trimmed_text(NAME_MAX, CONTROL)
    )
);

/// A new password (see [`users::check_password`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Password(pub String);

parsed_string!(
    Password,
    "Password",
    |s: &str| users::check_password(s).map(|()| Password(s.to_string())),
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(PASSWORD_MIN))
        .max_length(Some(PASSWORD_MAX))
        .pattern(Some(NO_NUL))
        .description(Some("12–1024 characters, not a common password"))
        .into()
);

/// Longest `external_id`.
pub const EXTERNAL_ID_MAX: usize = 255;
/// Most metadata keys on a ticket.
pub const METADATA_KEYS_MAX: usize = 20;
/// Longest metadata key.
pub const METADATA_KEY_MAX: usize = 100;
/// Longest metadata value.
pub const METADATA_VALUE_MAX: usize = 2_000;

/// An integration's own id for a ticket: 1–255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(pub String);

parsed_string!(
    ExternalId,
    "ExternalId",
    |s: &str| {
        if (1..=EXTERNAL_ID_MAX).contains(&s.chars().count()) {
            Ok(ExternalId(s.to_string()))
        } else {
            Err(ValueError::Shape {
                field: "external_id",
                shape: "1–255 characters",
            })
        }
    },
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(EXTERNAL_ID_MAX))
        .pattern(Some(NO_NUL))
        .description(Some("1–255 characters"))
        .into()
);

/// A ticket's metadata: a flat object of strings, at most 20 keys of 1–100 characters, values
/// of at most 2,000. Each failing key is named: `metadata.<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata(pub BTreeMap<String, String>);

impl FromJson for Metadata {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let Value::Object(map) = value else {
            return Err(MemberError::Type("an object of strings"));
        };
        if map.len() > METADATA_KEYS_MAX {
            let message = format!("must have at most {METADATA_KEYS_MAX} keys");
            return Err(MemberError::Inner(vec![FieldError::new("", message)]));
        }
        let mut errors = Vec::new();
        let mut metadata = BTreeMap::new();
        for (key, value) in map {
            let failure = if key.is_empty() || key.chars().count() > METADATA_KEY_MAX {
                format!("keys must be 1–{METADATA_KEY_MAX} characters")
            } else {
                match value {
                    Value::String(text) if text.chars().count() <= METADATA_VALUE_MAX => {
                        metadata.insert(key.clone(), text.clone());
                        continue;
                    }
                    Value::String(_) => format!("must be at most {METADATA_VALUE_MAX} characters"),
                    _ => "must be a string (metadata is flat)".into(),
                }
            };
            errors.push(FieldError::new(key, failure));
        }
        if errors.is_empty() {
            Ok(Metadata(metadata))
        } else {
            Err(MemberError::Inner(errors))
        }
    }
}

impl PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(METADATA_KEY_MAX))
            .pattern(Some(NO_NUL));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(METADATA_KEYS_MAX))
            .property_names(Some(key))
            .additional_properties(Some(string_schema(
                "up to 2,000 characters",
                Some(METADATA_VALUE_MAX),
                NO_NUL.into(),
            )))
            .description(Some("a flat object of strings, at most 20 keys"))
            .into()
    }
}

impl ToSchema for Metadata {
    fn name() -> Cow<'static, str> {
        "Metadata".into()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read<T: Member>(value: Value) -> Result<T, String> {
        let settings = Settings::for_database("postgres://x/y", &"s".repeat(32));
        let ctx = Context {
            settings: &settings,
        };
        T::read(Some(&value).filter(|v| !v.is_null()), &ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn each_member_says_what_it_needs() {
        assert_eq!(read::<Title>(json!(3)), Err("must be a string".into()));
        assert_eq!(
            read::<Title>(json!(" ")),
            Err("title must not be empty".into())
        );
        assert_eq!(read::<Title>(json!(null)), Err("is required".into()));
        assert_eq!(read::<Option<Title>>(json!(null)), Ok(None));
        assert_eq!(read::<bool>(json!("true")), Err("must be a boolean".into()));
        assert_eq!(
            read::<Uuid>(json!("x")),
            Err("must be a UUID string".into())
        );
        assert_eq!(read::<Score>(json!(4.0)).map(Score::get), Ok(4));
        assert_eq!(read::<Score>(json!(4.5)), Err("must be an integer".into()));
        assert_eq!(
            read::<Score>(json!(1e300)),
            Err("must be an integer".into())
        );
        assert_eq!(
            read::<Score>(json!(6)),
            Err("score must be an integer from 1 to 5".into())
        );
        assert_eq!(
            read::<Priority>(json!("URGENT")),
            Err("priority must be one of low, medium, high, urgent".into())
        );
        assert!(read::<Category>(json!("no such category"))
            .is_err_and(|e| e.starts_with("category must be one of ")));
    }

    #[test]
    fn intake_members_say_what_they_need() {
        assert_eq!(
            read::<ExternalId>(json!("")),
            Err("external_id must be 1–255 characters".into())
        );
        assert_eq!(
            read::<ExternalId>(json!("x".repeat(EXTERNAL_ID_MAX + 1))),
            Err(format!(
                "external_id must be 1–{EXTERNAL_ID_MAX} characters"
            ))
        );
        assert_eq!(
            read::<Metadata>(json!(["a"])),
            Err("must be an object of strings".into())
        );
        let Err(MemberError::Inner(errors)) = Metadata::read(
            Some(&json!({"": "v", "a": {"b": "c"}, "b": "x".repeat(2001), "ok": "v"})),
            &Context {
                settings: &Settings::for_database("postgres://x/y", &"s".repeat(32)),
            },
        ) else {
            panic!("expected failing keys");
        };
        assert_eq!(
            errors,
            [
                FieldError::new("", "keys must be 1–100 characters"),
                FieldError::new("a", "must be a string (metadata is flat)"),
                FieldError::new("b", "must be at most 2000 characters"),
            ]
        );
        assert_eq!(
            read::<Phone>(json!("12")),
            Err("phone must be a valid phone number of its country (international, or national in the default region)".into())
        );
        assert_eq!(
            read::<ContactEmail>(json!(" Ana@Example.COM ")),
            Ok(ContactEmail("ana@example.com".into()))
        );
        assert_eq!(
            read::<Email>(json!(" Ana@Example.COM ")),
            Ok(Email("Ana@Example.COM".into()))
        );
    }
}
