//! Checked values: each `parse` is the one place its rule lives, so nothing invalid gets in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
}

impl Role {
    /// Every role, in the contract's order.
    pub const ALL: [Role; 4] = [Role::Requester, Role::Agent, Role::Admin, Role::Auditor];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Agents and admins work tickets.
    pub fn is_staff(&self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }

    /// Who may read every ticket, its history and the statistics.
    pub fn reads_everything(&self) -> bool {
        !matches!(self, Role::Requester)
    }
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
    /// Done, until reopened.
    Closed,
}

impl Status {
    /// Every status, in board order.
    pub const ALL: [Status; 3] = [Status::Open, Status::InProgress, Status::Closed];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Closed => "closed",
        }
    }
}

macro_rules! wire_enum {
    ($ty:ty, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<_> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("{} must be one of {}", $what, names.join(", "))
                    })
            }
        }
    };
}

wire_enum!(Role, "role");
wire_enum!(Priority, "priority");
wire_enum!(Channel, "channel");
wire_enum!(Status, "status");

/// Checks a length in characters (not bytes) against inclusive bounds.
fn bounded(field: &str, value: &str, min: usize, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len < min {
        if min == 1 {
            return Err(format!("{field} must not be empty"));
        }
        return Err(format!("{field} must be at least {min} characters"));
    }
    if len > max {
        return Err(format!("{field} must be at most {max} characters"));
    }
    Ok(())
}

/// A ticket title: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Trims and checks.
    pub fn parse(value: &str) -> Result<Self, String> {
        let trimmed = value.trim();
        bounded("title", trimmed, 1, 200)?;
        Ok(Self(trimmed.to_string()))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Checks an optional free text of at most `max` characters (description, resolution, reason,
/// rating comment).
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), String> {
    bounded(field, value, 0, max)
}

/// Checks a comment body: 1–20,000 characters, not only white space.
pub fn check_comment_body(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("body must not be empty".into());
    }
    bounded("body", value, 1, 20_000)
}

/// Checks a rating score: 1 to 5.
pub fn check_score(score: i64) -> Result<u8, String> {
    u8::try_from(score)
        .ok()
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| "score must be an integer from 1 to 5".to_string())
}

/// Maximum description length.
pub const DESCRIPTION_MAX: usize = 20_000;
/// Maximum resolution and reopen-reason length.
pub const NOTE_MAX: usize = 5_000;
/// Maximum rating comment length.
pub const RATING_COMMENT_MAX: usize = 2_000;

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
        assert_eq!(check_score(5), Ok(5));
        for bad in [0, 6, -1, 256] {
            assert!(check_score(bad).is_err(), "{bad} accepted");
        }
    }
}
