//! The closed sets of values events carry, with their wire names written here once: every
//! other place (the engine's rules, the read models, the OpenAPI enums, query filters) takes
//! them from these types. Adding a channel is one variant here, its line in `ALL` and its name
//! in `as_str`, plus the AsyncAPI document, which `tests/asyncapi.rs` holds to these types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is none of a set's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be one of {names}")]
pub struct UnknownName {
    /// What the names are of (`priority`, `channel`, `status`).
    pub what: &'static str,
    /// The wire names, comma-separated.
    pub names: String,
}

/// Ticket priority; drives the SLA targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Lowest.
    Low,
    /// The usual.
    Medium,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Urgent,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// Where a ticket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The web form.
    Web,
    /// An e-mail.
    Email,
    /// A chat.
    Chat,
    /// The API (the default).
    #[default]
    Api,
    /// A phone call.
    Phone,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 5] = [
        Channel::Web,
        Channel::Email,
        Channel::Chat,
        Channel::Api,
        Channel::Phone,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::Api => "api",
            Channel::Phone => "phone",
        }
    }
}

/// Ticket status (CONTRACT 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No assignee yet.
    #[default]
    Open,
    /// Someone is on it.
    InProgress,
    /// Waiting on the requester (CONTRACT 9); SLA clocks pause.
    Pending,
    /// Done, until reopened.
    Closed,
}

impl Status {
    /// Every status, in board order.
    pub const ALL: [Status; 4] = [
        Status::Open,
        Status::InProgress,
        Status::Pending,
        Status::Closed,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Pending => "pending",
            Status::Closed => "closed",
        }
    }
}

/// What every set of wire names offers besides its names: display, parsing (from text, and
/// from a database column's `String`), comparison with text.
macro_rules! wire_names {
    ($ty:ident, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        names: Self::ALL.map(|v| v.as_str()).join(", "),
                    })
            }
        }

        impl TryFrom<String> for $ty {
            type Error = UnknownName;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

wire_names!(Priority, "priority");
wire_names!(Channel, "channel");
wire_names!(Status, "status");

/// Each set's schema: a string enum of its wire names.
#[cfg(feature = "openapi")]
macro_rules! wire_schema {
    ($ty:ident, $description:literal) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($ty::ALL.map(|v| v.as_str())))
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
        }
    };
}

#[cfg(feature = "openapi")]
wire_schema!(Priority, "drives the SLA targets");
#[cfg(feature = "openapi")]
wire_schema!(Channel, "where the ticket came from");
#[cfg(feature = "openapi")]
wire_schema!(Status, "where the ticket stands");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_text_and_json() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(
            "URGENT".parse::<Priority>().unwrap_err().to_string(),
            "priority must be one of low, medium, high, urgent"
        );
    }
}
