//! The typed field definition events: each custom field (CONTRACT 10) has a stream of its own
//! (`field.defined`, then `field.updated` per change), with the same envelope and hash chain as
//! a ticket's, in the same global feed, on subjects `<fields prefix>.v1.<field_id>.<kind>`.
//! Each event carries the whole definition in force from then on, so a consumer needs no
//! earlier event to know what a field was at any position.

use serde::{Deserialize, Serialize};

/// The `aggregate_type` of field streams' rows.
pub const FIELD_AGGREGATE: &str = "field";

/// A field's definition as recorded: what `GET /fields` answers, without the version (the
/// event's `seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDefinitionData {
    /// The key values are stored under (`fields.<key>`).
    pub key: String,
    /// What people read.
    pub label: String,
    /// `text`, `number`, `select`, `date` or `user`; never changes for a key.
    #[serde(rename = "type")]
    pub kind: String,
    /// A select field's choices (empty otherwise).
    pub options: Vec<String>,
    /// `["create"]` when `POST /tickets` requires a value, else `[]`.
    pub required_for: Vec<String>,
    /// Whether requesters read its values.
    pub visible_to_requester: bool,
}

/// Every event a field stream can record (adjacently tagged, like [`crate::TicketEvent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum FieldEvent {
    /// The field's first definition.
    #[serde(rename = "field.defined")]
    Defined(FieldDefinitionData),
    /// A later definition of the same key, in force from then on.
    #[serde(rename = "field.updated")]
    Updated(FieldDefinitionData),
}

impl FieldEvent {
    /// Every field event type.
    pub const TYPES: [&'static str; 2] = ["field.defined", "field.updated"];

    /// The CloudEvents `type`, e.g. `field.defined`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Defined(_) => Self::TYPES[0],
            Self::Updated(_) => Self::TYPES[1],
        }
    }

    /// The definition either kind carries.
    pub fn definition(&self) -> &FieldDefinitionData {
        match self {
            Self::Defined(d) | Self::Updated(d) => d,
        }
    }

    /// The `data` member alone.
    pub fn data(&self) -> serde_json::Value {
        serde_json::to_value(self.definition()).unwrap_or(serde_json::Value::Null)
    }

    /// Rebuilds an event from its `type` and `data`.
    pub fn from_data(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            "field.defined" => Self::Defined(FieldDefinitionData::deserialize(data)?),
            "field.updated" => Self::Updated(FieldDefinitionData::deserialize(data)?),
            other => return Err(serde::de::Error::unknown_variant(other, &Self::TYPES)),
        })
    }
}

/// True for the type of a field stream's event (`field.*`).
pub fn is_field_event(event_type: &str) -> bool {
    event_type.starts_with("field.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_events_round_trip_through_type_and_data() {
        let definition = FieldDefinitionData {
            key: "sector".into(),
            label: "Sector".into(),
            kind: "select".into(),
            options: vec!["finance".into(), "health".into()],
            required_for: vec!["create".into()],
            visible_to_requester: false,
        };
        for event in [
            FieldEvent::Defined(definition.clone()),
            FieldEvent::Updated(definition),
        ] {
            let back = FieldEvent::from_data(event.event_type(), &event.data()).unwrap();
            assert_eq!(back, event);
            assert!(is_field_event(event.event_type()));
            assert_eq!(event.data()["type"], "select");
        }
        assert!(FieldEvent::from_data("user.created", &serde_json::json!({})).is_err());
    }
}
