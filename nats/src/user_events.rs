//! The typed user events: each user of the directory has its own stream (`user.created`,
//! `user.updated`, `user.merged`), with the same envelope and hash chain as a ticket's, in the
//! same global feed, on subjects `<users prefix>.v1.<user_id>.<kind>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::FieldChange;

/// The `aggregate_type` of user streams' rows.
pub const USER_AGGREGATE: &str = "user";

/// `user.created`: the user as the directory first held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCreated {
    /// Display name.
    pub name: String,
    /// Normalized e-mail address (trimmed, lower case), if known.
    pub email: Option<String>,
    /// E.164 phone number, if known.
    pub phone: Option<String>,
    /// `requester`, `agent`, `admin` or `auditor`.
    pub role: String,
    /// Whether the user may sign in with a password.
    pub login: bool,
    /// How the user became known: `cli`, `api`, `token` or `intake`.
    pub origin: String,
}

/// `user.updated`: only the fields that changed (`name`, `email`, `phone`, `role`, `active`,
/// `login`), each `{from, to}` as text (`""` for none). A password is never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdated {
    /// Field name → its change.
    pub changes: BTreeMap<String, FieldChange>,
}

/// `user.merged`: this user was a duplicate of `into`, which now stands for them; this user
/// becomes inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserMerged {
    /// The user that stays.
    pub into: Uuid,
}

/// Every event a user stream can record (adjacently tagged, like [`crate::TicketEvent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum UserEvent {
    /// A user joined the directory.
    #[serde(rename = "user.created")]
    Created(UserCreated),
    /// Contact data, name, role or state changed.
    #[serde(rename = "user.updated")]
    Updated(UserUpdated),
    /// The user was merged into another.
    #[serde(rename = "user.merged")]
    Merged(UserMerged),
}

impl UserEvent {
    /// Every user event type.
    pub const TYPES: [&'static str; 3] = ["user.created", "user.updated", "user.merged"];

    /// The CloudEvents `type`, e.g. `user.merged`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => Self::TYPES[0],
            Self::Updated(_) => Self::TYPES[1],
            Self::Merged(_) => Self::TYPES[2],
        }
    }

    /// The `data` member alone.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Rebuilds an event from its `type` and `data`.
    pub fn from_data(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            "user.created" => Self::Created(UserCreated::deserialize(data)?),
            "user.updated" => Self::Updated(UserUpdated::deserialize(data)?),
            "user.merged" => Self::Merged(UserMerged::deserialize(data)?),
            other => return Err(serde::de::Error::unknown_variant(other, &Self::TYPES)),
        })
    }
}

/// True for the type of a user stream's event (`user.*`).
pub fn is_user_event(event_type: &str) -> bool {
    event_type.starts_with("user.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_events_round_trip_through_type_and_data() {
        let events = [
            UserEvent::Created(UserCreated {
                name: "Ann".into(),
                email: Some("ann@example.com".into()),
                phone: None,
                role: "requester".into(),
                login: false,
                origin: "intake".into(),
            }),
            UserEvent::Updated(UserUpdated {
                changes: BTreeMap::from([(
                    "phone".to_string(),
                    FieldChange {
                        from: String::new(),
                        to: "+5511987654321".into(),
                    },
                )]),
            }),
            UserEvent::Merged(UserMerged { into: Uuid::nil() }),
        ];
        for event in events {
            let back = UserEvent::from_data(event.event_type(), &event.data()).unwrap();
            assert_eq!(back, event);
            assert!(is_user_event(event.event_type()));
        }
        assert!(UserEvent::from_data("ticket.closed", &serde_json::json!({})).is_err());
    }
}
