//! Checked values: each `parse` is the one place its rule lives, so nothing invalid gets in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
pub use ticket_nats::values::{Channel, Priority, Status, UnknownName};

/// What a caller may do (CONTRACT 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Opens tickets and follows their own.
    Requester,
    /// Works every ticket.
    Agent,
    /// An agent who also manages users.
    Admin,
    /// Reads everything, changes nothing.
    Auditor,
    /// A rule acting on its own (CONTRACT 8): never a user's role, so no token, user record or
    /// request names it, and it is left out of [`Role::ALL`].
    #[serde(skip_deserializing)]
    Automation,
}

impl Role {
    /// Every role a user may hold, in the contract's order.
    pub const ALL: [Role; 4] = [Role::Requester, Role::Agent, Role::Admin, Role::Auditor];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Automation => "automation",
        }
    }

    /// Agents and admins work tickets, and so do rules on their behalf.
    pub fn is_staff(&self) -> bool {
        matches!(self, Role::Agent | Role::Admin | Role::Automation)
    }

    /// Who may read every ticket, its history and the statistics.
    pub fn reads_everything(&self) -> bool {
        !matches!(self, Role::Requester)
    }
}

/// Why a value is refused: each message names the member it is about, as a 422 shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Nothing (or only white space) where something is needed.
    #[error("{field} must not be empty")]
    Empty {
        /// The member.
        field: &'static str,
    },
    /// Fewer characters than the minimum.
    #[error("{field} must be at least {min} characters")]
    TooShort {
        /// The member.
        field: &'static str,
        /// The fewest characters.
        min: usize,
    },
    /// More characters than the maximum.
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// The member.
        field: &'static str,
        /// The most characters.
        max: usize,
    },
    /// Characters the value may not hold.
    #[error("{field} must not contain {what}")]
    Holds {
        /// The member.
        field: &'static str,
        /// Which characters, in words.
        what: &'static str,
    },
    /// Not one of a fixed set of names.
    #[error("{what} must be one of {names}")]
    NotOneOf {
        /// What the names are of.
        what: &'static str,
        /// The names, comma-separated.
        names: String,
    },
    /// Not the shape the member needs.
    #[error("{field} must be {shape}")]
    Shape {
        /// The member.
        field: &'static str,
        /// The shape, in words.
        shape: &'static str,
    },
}

macro_rules! wire_enum {
    ($ty:ty, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<_> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        ValueError::NotOneOf {
                            what: $what,
                            names: names.join(", "),
                        }
                    })
            }
        }
    };
}

wire_enum!(Role, "role");

impl From<UnknownName> for ValueError {
    fn from(error: UnknownName) -> Self {
        ValueError::NotOneOf {
            what: error.what,
            names: error.names,
        }
    }
}

/// Checks a length in characters (not bytes) against inclusive bounds.
pub(crate) fn bounded(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValueError> {
    let len = value.chars().count();
    if len < min {
        if min == 1 {
            return Err(ValueError::Empty { field });
        }
        return Err(ValueError::TooShort { field, min });
    }
    if len > max {
        return Err(ValueError::TooLong { field, max });
    }
    Ok(())
}

/// The longest title, after trimming.
pub const TITLE_MAX: usize = 200;
/// The longest comment body.
pub const COMMENT_MAX: usize = 20_000;
/// Maximum description length.
pub const DESCRIPTION_MAX: usize = 20_000;
/// Maximum resolution and reopen-reason length.
pub const NOTE_MAX: usize = 5_000;
/// Maximum rating comment length.
pub const RATING_COMMENT_MAX: usize = 2_000;

/// A ticket title: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Trims and checks.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let trimmed = value.trim();
        bounded("title", trimmed, 1, TITLE_MAX)?;
        Ok(Self(trimmed.to_string()))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Free texts of at most `MAX` characters, kept as sent (not trimmed): the rule is the bound,
/// and the member the message names.
macro_rules! free_text {
    ($(#[$doc:meta])* $ty:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(String);

        impl $ty {
            /// The member this text is sent as, which its errors name.
            pub const FIELD: &'static str = $field;
            /// The most characters.
            pub const MAX: usize = $max;

            /// Checks the length.
            pub fn parse(value: &str) -> Result<Self, ValueError> {
                bounded($field, value, 0, $max)?;
                Ok(Self(value.to_string()))
            }

            /// The text.
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

free_text!(
    /// A ticket's description: up to 20,000 characters, possibly empty.
    Description, "description", DESCRIPTION_MAX
);
free_text!(
    /// How a ticket was resolved, said when closing it.
    Resolution, "resolution", NOTE_MAX
);
free_text!(
    /// Why a ticket is reopened.
    ReopenReason, "reason", NOTE_MAX
);
free_text!(
    /// Why a ticket waits on its requester.
    PendingReason, "reason", NOTE_MAX
);
free_text!(
    /// The words of a rating.
    RatingComment, "comment", RATING_COMMENT_MAX
);

/// A comment body: 1–20,000 characters, not only white space, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentBody(String);

impl CommentBody {
    /// Checks.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if value.trim().is_empty() {
            return Err(ValueError::Empty { field: "body" });
        }
        bounded("body", value, 1, COMMENT_MAX)?;
        Ok(Self(value.to_string()))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A rating's score: 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score(u8);

impl Score {
    /// The lowest score.
    pub const MIN: u8 = 1;
    /// The highest score.
    pub const MAX: u8 = 5;

    /// Checks the range.
    pub fn parse(score: i64) -> Result<Self, ValueError> {
        u8::try_from(score)
            .ok()
            .filter(|s| (Self::MIN..=Self::MAX).contains(s))
            .map(Self)
            .ok_or(ValueError::Shape {
                field: "score",
                shape: "an integer from 1 to 5",
            })
    }

    /// The score.
    pub fn get(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters() {
        assert_eq!(Title::parse("  Printer  ").unwrap().into_inner(), "Printer");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn wire_names_round_trip() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("URGENT".parse::<Priority>().is_err());
    }

    #[test]
    fn scores_outside_one_to_five_are_refused() {
        assert_eq!(Score::parse(5).map(Score::get), Ok(5));
        for bad in [0, 6, -1, 256] {
            assert!(Score::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn messages_name_the_member() {
        assert_eq!(
            Description::parse(&"x".repeat(DESCRIPTION_MAX + 1))
                .unwrap_err()
                .to_string(),
            "description must be at most 20000 characters"
        );
        assert_eq!(
            CommentBody::parse(" ").unwrap_err().to_string(),
            "body must not be empty"
        );
        assert_eq!(
            "x".parse::<Channel>().unwrap_err().to_string(),
            "channel must be one of web, email, chat, api, phone"
        );
        assert_eq!(
            Score::parse(0).unwrap_err().to_string(),
            "score must be an integer from 1 to 5"
        );
    }
}

/// The pause in force while a ticket is pending (see `super::pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When it began; `None` when applied without a clock (bare events in tests).
    pub since: Option<ticket_nats::Timestamp>,
    /// When the engine ends it by itself, if set.
    pub until: Option<ticket_nats::Timestamp>,
}
