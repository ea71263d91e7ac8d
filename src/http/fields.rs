//! Custom fields (CONTRACT 10): `POST /fields` (admins) defines a field or records a new
//! version of its definition (an event of the field's stream), `GET /fields` lists the current
//! ones or those in force `as_of` an instant; values arrive on
//! `POST /tickets` and `PATCH /tickets/{id}` as `fields`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, FieldError, Result};
use super::form::{request_body, Form};
use super::members::{string, string_schema, trimmed_text, Context, FromJson, MemberError};
use super::params::Params;
use super::state::AppState;
use crate::application::fields as use_cases;
use crate::auth::Caller;
use crate::domain::fields::{
    FieldDefinition, FieldType, KEY_PATTERN, LABEL_MAX, OPTIONS_MAX, OPTION_MAX,
};
use crate::domain::values::ValueError;
use crate::domain::Role;
use crate::field_definitions::{self, DefineError, Stored};

/// The field routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/fields", get(list_fields).post(define_field))
}

/// The `fields` member of a ticket body: an object of values by field key, each checked
/// against its definition once the body is read (see [`check_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValues(pub serde_json::Map<String, Value>);

impl FromJson for FieldValues {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        match value {
            Value::Object(map) => Ok(FieldValues(map.clone())),
            _ => Err(MemberError::Type("an object of field values by key")),
        }
    }
}

impl PartialSchema for FieldValues {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(KEY_PATTERN)),
            ))
            .description(Some(
                "custom field values by key: text, a number, a select option, a YYYY-MM-DD \
                 date or a user id, as each field's definition says (GET /fields); null unsets \
                 a value",
            ))
            .into()
    }
}

impl ToSchema for FieldValues {
    fn name() -> Cow<'static, str> {
        "FieldValues".into()
    }
}

/// Checks a body's `fields` against the definitions, each refused value failed in `form` as
/// `fields.<key>`; `None` when any was.
pub(crate) async fn check_values(
    state: &AppState,
    form: &mut Form<'_>,
    values: Option<&FieldValues>,
    creating: bool,
) -> Result<Option<BTreeMap<String, Value>>> {
    let empty = serde_json::Map::new();
    let values = values.map_or(&empty, |v| &v.0);
    match use_cases::check(&state.pool, values, creating).await? {
        Ok(checked) => Ok(Some(checked)),
        Err(refused) => {
            for (name, message) in refused {
                form.fail(&name, message);
            }
            Ok(None)
        }
    }
}

/// A field's key: what values are stored under and filtered by (`field.<key>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldKey(pub String);

impl FromJson for FieldKey {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let s = string(value)?;
        let fits = s.len() <= 40
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if fits {
            Ok(FieldKey(s.to_string()))
        } else {
            Err(MemberError::Value(ValueError::Shape {
                field: "key",
                shape: "a lower-case letter, then up to 39 of a-z, 0-9 and _",
            }))
        }
    }
}

impl PartialSchema for FieldKey {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "a lower-case letter, then up to 39 of a-z, 0-9 and _",
            Some(40),
            KEY_PATTERN.into(),
        )
    }
}

impl ToSchema for FieldKey {
    fn name() -> Cow<'static, str> {
        "FieldKey".into()
    }
}

/// What people read: 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLabel(pub String);

impl FromJson for FieldLabel {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let s = string(value)?.trim();
        if s.is_empty() || s.chars().count() > LABEL_MAX || s.contains('\0') {
            return Err(MemberError::Value(ValueError::Shape {
                field: "label",
                shape: "1–100 characters after trimming",
            }));
        }
        Ok(FieldLabel(s.to_string()))
    }
}

impl PartialSchema for FieldLabel {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "1–100 characters after trimming",
            None,
            trimmed_text(LABEL_MAX, r"\u0000"),
        )
    }
}

impl ToSchema for FieldLabel {
    fn name() -> Cow<'static, str> {
        "FieldLabel".into()
    }
}

const TYPES: [FieldType; 5] = [
    FieldType::Text,
    FieldType::Number,
    FieldType::Select,
    FieldType::Date,
    FieldType::User,
];

impl FromJson for FieldType {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let s = string(value)?;
        TYPES
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(MemberError::Type(
                "one of text, number, select, date and user",
            ))
    }
}

impl PartialSchema for FieldType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(TYPES.map(FieldType::as_str)))
            .description(Some("what the field holds"))
            .into()
    }
}

impl ToSchema for FieldType {
    fn name() -> Cow<'static, str> {
        "FieldType".into()
    }
}

/// A `select` field's choices: 1–100 distinct strings of 1–100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldOptions(pub Vec<String>);

impl FromJson for FieldOptions {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let items = value
            .as_array()
            .ok_or(MemberError::Type("an array of strings"))?;
        if items.is_empty() || items.len() > OPTIONS_MAX {
            let message = format!("must hold 1–{OPTIONS_MAX} options");
            return Err(MemberError::Inner(vec![FieldError::new("", message)]));
        }
        let mut errors = Vec::new();
        let mut options: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s)
                    if !s.is_empty() && s.chars().count() <= OPTION_MAX && !s.contains('\0') =>
                {
                    if options.iter().any(|o| o == s) {
                        errors.push(FieldError::new(i.to_string(), "repeats an option"));
                    } else {
                        options.push(s.to_string());
                    }
                }
                _ => errors.push(FieldError::new(
                    i.to_string(),
                    format!("must be a string of 1–{OPTION_MAX} characters"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(FieldOptions(options))
        } else {
            Err(MemberError::Inner(errors))
        }
    }
}

impl PartialSchema for FieldOptions {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(OPTION_MAX))
                    .pattern(Some(super::members::NO_NUL)),
            )
            .min_items(Some(1))
            .max_items(Some(OPTIONS_MAX))
            .unique_items(true)
            .description(Some("a select field's choices (select fields only)"))
            .into()
    }
}

impl ToSchema for FieldOptions {
    fn name() -> Cow<'static, str> {
        "FieldOptions".into()
    }
}

/// Where a value is required: only `create` (`POST /tickets`) is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredFor(pub bool);

impl FromJson for RequiredFor {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let items = value
            .as_array()
            .ok_or(MemberError::Type("an array of \"create\""))?;
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.as_str() != Some("create") {
                errors.push(FieldError::new(i.to_string(), "must be \"create\""));
            }
        }
        if errors.is_empty() {
            Ok(RequiredFor(!items.is_empty()))
        } else {
            Err(MemberError::Inner(errors))
        }
    }
}

impl PartialSchema for RequiredFor {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["create"])),
            )
            .max_items(Some(1))
            .description(Some(
                "[\"create\"]: POST /tickets refuses a ticket without a value (intake and mail do not)",
            ))
            .into()
    }
}

impl ToSchema for RequiredFor {
    fn name() -> Cow<'static, str> {
        "RequiredFor".into()
    }
}

request_body! {
    /// `POST /fields` body (admins): a new field, or the next version of an existing key's
    /// definition (its type cannot change).
    pub struct DefineFieldRequest, read as DefineFieldDraft {
        /// The key values are stored under.
        pub key: FieldKey,
        /// What people read.
        pub label: FieldLabel,
        /// `text`, `number`, `select`, `date` or `user`.
        pub r#type: FieldType,
        /// A select field's choices; required for `select`, refused for the others.
        pub options: Option<FieldOptions>,
        /// `["create"]` binds `POST /tickets`.
        pub required_for: Option<RequiredFor>,
        /// Default true; false leaves the value out of everything a requester reads.
        pub visible_to_requester: Option<bool>,
    }
}

/// A field's current definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldDefinitionView {
    /// The key.
    pub key: String,
    /// What people read.
    pub label: String,
    /// What it holds.
    #[serde(rename = "type")]
    #[schema(inline)]
    pub kind: FieldType,
    /// A select field's choices (empty otherwise).
    pub options: Vec<String>,
    /// `["create"]` when `POST /tickets` requires it, else `[]`.
    pub required_for: Vec<String>,
    /// Whether requesters read it.
    pub visible_to_requester: bool,
    /// 1 for the first definition, up by one per change.
    pub version: i32,
}

impl From<Stored> for FieldDefinitionView {
    fn from(s: Stored) -> Self {
        let d = s.definition;
        Self {
            key: d.key,
            label: d.label,
            kind: d.kind,
            options: d.options,
            required_for: if d.required_on_create {
                vec!["create".into()]
            } else {
                Vec::new()
            },
            visible_to_requester: d.visible_to_requester,
            version: s.version,
        }
    }
}

/// `GET /fields`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldList {
    /// The definitions by key, current or as of the instant asked (a requester gets only those
    /// visible to requesters).
    pub items: Vec<FieldDefinitionView>,
}

/// Defines a custom field, or records the next version of its definition (admins).
#[utoipa::path(post, path = "/api/v1/fields", tag = "fields", request_body = DefineFieldRequest,
    responses(
        (status = 201, body = FieldDefinitionView),
        (status = 403, description = "the caller is not an admin"),
        (status = 409, description = "the key is defined with another type"),
        (status = 422)),
    security(("bearer" = [])))]
pub async fn define_field(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response> {
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden("only admins may define fields".into()));
    }
    let recorder = super::user_routes::recorder(&state, &caller, request.headers());
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let mut form = Form::new(&body)?;
    let draft = DefineFieldRequest::read(&mut form, &Context::from(&state));
    let is_select = draft.r#type == Some(FieldType::Select);
    match (&draft.options, is_select) {
        (Some(None), true) => form.fail("options", "is required for a select field"),
        (Some(Some(_)), false) if draft.r#type.is_some() => {
            form.fail("options", "is for select fields only")
        }
        _ => {}
    }
    form.finish()?;
    let body = draft.complete()?;
    let definition = FieldDefinition {
        key: body.key.0,
        label: body.label.0,
        kind: body.r#type,
        options: body.options.map(|o| o.0).unwrap_or_default(),
        required_on_create: body.required_for.is_some_and(|r| r.0),
        visible_to_requester: body.visible_to_requester.unwrap_or(true),
    };
    let stored = field_definitions::define(&state.pool, definition, &recorder)
        .await
        .map_err(|e| match e {
            DefineError::TypeChange { .. } => ApiError::Conflict(e.to_string()),
            DefineError::Db(e) => ApiError::from(e),
        })?;
    tracing::info!(key = %stored.definition.key, version = stored.version, "field defined");
    Ok((StatusCode::CREATED, Json(FieldDefinitionView::from(stored))).into_response())
}

/// The current field definitions, or those in force at `as_of` (every role; a requester gets
/// those visible to requesters).
#[utoipa::path(get, path = "/api/v1/fields", tag = "fields",
    params(
        ("as_of" = Option<String>, Query, description = "RFC 3339 instant: the definitions in force then (each field's latest version recorded by then)"),
    ),
    responses((status = 200, body = FieldList), (status = 422)),
    security(("bearer" = [])))]
pub async fn list_fields(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<FieldList>> {
    let mut p = Params::new(&uri, &["as_of"])?;
    let as_of = p.time("as_of");
    p.finish()?;
    let items = field_definitions::in_force_at(&state.pool, as_of.map(|t| t.as_datetime()))
        .await?
        .into_values()
        .filter(|s| caller.role != Role::Requester || s.definition.visible_to_requester)
        .map(FieldDefinitionView::from)
        .collect();
    Ok(Json(FieldList { items }))
}
