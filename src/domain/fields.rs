//! Custom fields (CONTRACT 10): admin-defined definitions and the values tickets carry.
//!
//! A value is checked against its definition here, with no I/O; whether a `user` value names a
//! known user is the application layer's question.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ticket_nats::events::{FieldChange, CUSTOM_FIELD_PREFIX};

/// A field key's shape, as the OpenAPI document states it.
pub const KEY_PATTERN: &str = "^[a-z][a-z0-9_]{0,39}$";
/// The longest label.
pub const LABEL_MAX: usize = 100;
/// The most options a `select` field offers, and the longest option.
pub const OPTIONS_MAX: usize = 100;
/// The longest option.
pub const OPTION_MAX: usize = 100;
/// The longest `text` value.
pub const TEXT_MAX: usize = 2000;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Free text, up to 2,000 characters.
    Text,
    /// A finite JSON number.
    Number,
    /// One of the definition's options.
    Select,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A user's id.
    User,
}

impl FieldType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Select => "select",
            Self::Date => "date",
            Self::User => "user",
        }
    }
}

/// One version of a field's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDefinition {
    /// The key values are stored under.
    pub key: String,
    /// What people read.
    pub label: String,
    /// What it holds.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// A `select` field's choices; empty for the other types.
    pub options: Vec<String>,
    /// `POST /tickets` refuses a ticket without it.
    pub required_on_create: bool,
    /// Requesters read it; when false it is left out of everything a requester reads.
    pub visible_to_requester: bool,
}

/// A refused entry: the dotted field name (`fields.<key>`) and why.
pub type FieldRefusal = (String, String);

/// Checks `values` against `definitions`, every failing entry listed. `null` means "unset" and
/// passes; on creation, a field required on create must be present and not `null`.
pub fn check_values(
    definitions: &BTreeMap<String, FieldDefinition>,
    values: &serde_json::Map<String, Value>,
    creating: bool,
) -> Result<BTreeMap<String, Value>, Vec<FieldRefusal>> {
    let mut checked = BTreeMap::new();
    let mut refused = Vec::new();
    for (key, value) in values {
        let name = format!("{CUSTOM_FIELD_PREFIX}{key}");
        let Some(definition) = definitions.get(key) else {
            refused.push((name, "is not a defined field".to_string()));
            continue;
        };
        match check_value(definition, value) {
            Ok(()) => {
                checked.insert(key.clone(), value.clone());
            }
            Err(message) => refused.push((name, message)),
        }
    }
    if creating {
        for definition in definitions.values().filter(|d| d.required_on_create) {
            if values.get(&definition.key).is_none_or(Value::is_null) {
                refused.push((
                    format!("{CUSTOM_FIELD_PREFIX}{}", definition.key),
                    "is required".to_string(),
                ));
            }
        }
        checked.retain(|_, v| !v.is_null());
    }
    if refused.is_empty() {
        Ok(checked)
    } else {
        Err(refused)
    }
}

fn check_value(definition: &FieldDefinition, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    match definition.kind {
        FieldType::Text => match value.as_str() {
            Some(s) if s.chars().count() <= TEXT_MAX && !s.contains('\0') => Ok(()),
            Some(s) if s.contains('\0') => Err("must not contain U+0000".into()),
            Some(_) => Err(format!("must be at most {TEXT_MAX} characters")),
            None => Err("must be a string".into()),
        },
        FieldType::Number => match value.as_f64() {
            Some(n) if n.is_finite() => Ok(()),
            _ => Err("must be a finite number".into()),
        },
        FieldType::Select => match value.as_str() {
            Some(s) if definition.options.iter().any(|o| o == s) => Ok(()),
            _ => Err(format!("must be one of: {}", definition.options.join(", "))),
        },
        FieldType::Date => match value.as_str() {
            Some(s) if is_date(s) => Ok(()),
            _ => Err("must be a date, YYYY-MM-DD".into()),
        },
        FieldType::User => match value.as_str().map(uuid::Uuid::parse_str) {
            Some(Ok(_)) => Ok(()),
            _ => Err("must be a user id".into()),
        },
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// What setting `to` over `from` changes, as `ticket.updated` records it (`fields.<key>`,
/// `null` for unset); values equal to the current ones are left out.
pub fn custom_changes(
    from: &BTreeMap<String, Value>,
    to: BTreeMap<String, Value>,
) -> BTreeMap<String, FieldChange<Value>> {
    to.into_iter()
        .filter_map(|(key, to)| {
            let from = from.get(&key).cloned().unwrap_or(Value::Null);
            (from != to).then(|| {
                (
                    format!("{CUSTOM_FIELD_PREFIX}{key}"),
                    FieldChange { from, to },
                )
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
