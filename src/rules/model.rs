//! What a rule is (CONTRACT 8): `when` (event types and conditions on the ticket as it stands
//! after the event) and `then` (actions, in order), read from their JSON in one place, so that
//! the API and the store agree.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::tags::{Tag, TAGS_MAX};
use crate::domain::{Channel, Priority, Status, Ticket};
use crate::webhooks::input::check_event_types;

use super::template;

/// The most actions one rule may take.
pub const ACTIONS_MAX: usize = 20;
/// The longest rule name.
pub const NAME_MAX: usize = 200;
/// The longest comment or template text.
pub const TEXT_MAX: usize = 5_000;
/// The most values one condition list may hold.
pub const VALUES_MAX: usize = 50;

/// A refusal: the member it names (relative to the object read) and why.
pub type Refusal = (String, String);

/// `when`: the event types a rule answers, and what must hold of the ticket after the event.
/// A list matches any of its values; an absent condition always holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// Event types such as `ticket.created`, or `["*"]`.
    pub event_types: Vec<String>,
    /// The ticket's priority is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Vec<Priority>>,
    /// The ticket's category is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Vec<String>>,
    /// The ticket came in through one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Vec<Channel>>,
    /// The ticket's status is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<Status>>,
    /// The ticket is assigned to this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Uuid>,
    /// The ticket carries one of these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The ticket is given to this team (CONTRACT 11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
}

/// One step of `then`. The wire form is an object named by its action member (`{assign: …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Action {
    /// `{notify: <channel id>, template?}`: text to a notification channel.
    Notify {
        /// The channel.
        notify: Uuid,
        /// The text, with named placeholders; a default text without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
    },
    /// `{assign: <user id>}`.
    Assign {
        /// The agent or admin to assign.
        assign: Uuid,
    },
    /// `{set_priority: …}`.
    SetPriority {
        /// The new priority.
        set_priority: Priority,
    },
    /// `{comment: <text>, internal: true}`.
    Comment {
        /// The comment's text, with named placeholders.
        comment: String,
        /// Hidden from the requester (the default).
        internal: bool,
    },
    /// `{add_tags: […]}`: tags added to those the ticket carries (none removed).
    AddTags {
        /// 1 to [`TAGS_MAX`] tags.
        add_tags: Vec<String>,
    },
}

impl Conditions {
    /// Whether the rule answers events of this type.
    pub fn answers(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == "*" || t == event_type)
    }

    /// Whether every condition holds for `ticket` as it stands after the event.
    pub fn hold_for(&self, ticket: &Ticket) -> bool {
        fn any<T: PartialEq>(list: &Option<Vec<T>>, value: Option<&T>) -> bool {
            match list {
                None => true,
                Some(list) => value.is_some_and(|v| list.contains(v)),
            }
        }
        any(&self.priority, ticket.priority.as_ref())
            && any(&self.category, Some(&ticket.category))
            && any(&self.channel, ticket.channel.as_ref())
            && any(&self.status, Some(&ticket.status))
            && self
                .assignee_id
                .is_none_or(|id| ticket.assignee.as_ref().is_some_and(|a| a.id == id))
            && self
                .tags
                .as_ref()
                .is_none_or(|tags| tags.iter().any(|t| ticket.tags.contains(t)))
            && self
                .team_id
                .is_none_or(|id| ticket.team.as_ref().is_some_and(|t| t.id == id))
    }

    /// Reads `when`; `categories` are the configured ones.
    pub fn parse(value: &Value, categories: &[String]) -> Result<Self, Vec<Refusal>> {
        let object = value
            .as_object()
            .ok_or_else(|| vec![(String::new(), "must be an object".to_string())])?;
        let mut refused = Vec::new();
        unknown(
            object,
            &[
                "event_types",
                "priority",
                "category",
                "channel",
                "status",
                "assignee_id",
                "tags",
                "team_id",
            ],
            &mut refused,
        );
        let event_types = match object.get("event_types").filter(|v| !v.is_null()) {
            None => {
                refused.push(("event_types".into(), "is required".into()));
                None
            }
            Some(value) => match strings(value) {
                Some(list) => check_event_types(&list)
                    .map_err(|e| refused.push(("event_types".into(), e)))
                    .ok(),
                None => {
                    refused.push(("event_types".into(), "must be an array of strings".into()));
                    None
                }
            },
        };
        let priority = named_list(object, "priority", &mut refused, |s| s.parse().ok());
        let category = named_list(object, "category", &mut refused, |s| {
            categories.iter().any(|c| c == s).then(|| s.to_string())
        });
        let channel = named_list(object, "channel", &mut refused, |s| s.parse().ok());
        let status = named_list(object, "status", &mut refused, |s| s.parse().ok());
        let tags = object
            .get("tags")
            .filter(|v| !v.is_null())
            .and_then(|value| tag_list(value, "tags", VALUES_MAX, &mut refused));
        let id = |field: &str, refused: &mut Vec<Refusal>| {
            object
                .get(field)
                .filter(|v| !v.is_null())
                .and_then(|value| uuid(value, field, refused))
        };
        let assignee_id = id("assignee_id", &mut refused);
        let team_id = id("team_id", &mut refused);
        match event_types {
            Some(event_types) if refused.is_empty() => Ok(Conditions {
                event_types,
                priority,
                category,
                channel,
                status,
                assignee_id,
                tags,
                team_id,
            }),
            _ => Err(refused),
        }
    }
}

impl Action {
    /// Reads one action of `then`.
    pub fn parse(value: &Value) -> Result<Self, Vec<Refusal>> {
        let one = |field: &str, message: &str| vec![(field.to_string(), message.to_string())];
        let object = value
            .as_object()
            .ok_or_else(|| one("", "must be an object"))?;
        let mut refused = Vec::new();
        let action = if let Some(channel) = object.get("notify") {
            unknown(object, &["notify", "template"], &mut refused);
            let notify = uuid(channel, "notify", &mut refused);
            let template = match object.get("template").filter(|v| !v.is_null()) {
                None => None,
                Some(value) => text(value, "template", &mut refused),
            };
            notify.map(|notify| Action::Notify { notify, template })
        } else if let Some(user) = object.get("assign") {
            unknown(object, &["assign"], &mut refused);
            uuid(user, "assign", &mut refused).map(|assign| Action::Assign { assign })
        } else if let Some(priority) = object.get("set_priority") {
            unknown(object, &["set_priority"], &mut refused);
            let parsed = priority.as_str().and_then(|p| p.parse::<Priority>().ok());
            if parsed.is_none() {
                let names: Vec<_> = Priority::ALL.iter().map(|p| p.as_str()).collect();
                refused.push((
                    "set_priority".into(),
                    format!("must be one of {}", names.join(", ")),
                ));
            }
            parsed.map(|set_priority| Action::SetPriority { set_priority })
        } else if let Some(body) = object.get("comment") {
            unknown(object, &["comment", "internal"], &mut refused);
            let comment = text(body, "comment", &mut refused);
            let internal = match object.get("internal").filter(|v| !v.is_null()) {
                None => Some(true),
                Some(Value::Bool(internal)) => Some(*internal),
                Some(_) => {
                    refused.push(("internal".into(), "must be a boolean".into()));
                    None
                }
            };
            comment
                .zip(internal)
                .map(|(comment, internal)| Action::Comment { comment, internal })
        } else if let Some(tags) = object.get("add_tags") {
            unknown(object, &["add_tags"], &mut refused);
            tag_list(tags, "add_tags", TAGS_MAX, &mut refused)
                .map(|add_tags| Action::AddTags { add_tags })
        } else {
            return Err(one(
                "",
                "must name one action: notify, assign, set_priority, add_tags or comment",
            ));
        };
        match action {
            Some(action) if refused.is_empty() => Ok(action),
            _ => Err(refused),
        }
    }

    /// Reads `then`: 1 to [`ACTIONS_MAX`] actions; refusals are named by index (`0.assign`).
    pub fn parse_all(value: &Value) -> Result<Vec<Self>, Vec<Refusal>> {
        let items = value
            .as_array()
            .ok_or_else(|| vec![(String::new(), "must be an array of actions".to_string())])?;
        if items.is_empty() || items.len() > ACTIONS_MAX {
            return Err(vec![(
                String::new(),
                format!("must hold 1 to {ACTIONS_MAX} actions"),
            )]);
        }
        let mut actions = Vec::with_capacity(items.len());
        let mut refused = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match Action::parse(item) {
                Ok(action) => actions.push(action),
                Err(errors) => refused.extend(errors.into_iter().map(|(field, message)| {
                    let field = if field.is_empty() {
                        index.to_string()
                    } else {
                        format!("{index}.{field}")
                    };
                    (field, message)
                })),
            }
        }
        if refused.is_empty() {
            Ok(actions)
        } else {
            Err(refused)
        }
    }
}

/// A rule's name: 1 to [`NAME_MAX`] characters once trimmed.
pub fn check_name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    let count = trimmed.chars().count();
    if count == 0 {
        return Err("must not be empty".into());
    }
    if count > NAME_MAX {
        return Err(format!("must be at most {NAME_MAX} characters"));
    }
    if trimmed.contains('\0') {
        return Err("must not contain U+0000".into());
    }
    Ok(trimmed.to_string())
}

fn unknown(object: &Map<String, Value>, known: &[&str], refused: &mut Vec<Refusal>) {
    let mut extra: Vec<&String> = object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    extra.sort();
    for key in extra {
        refused.push((key.clone(), "is not a known field".into()));
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_string))
        .collect()
}

/// An optional list of names, each read by `read` (`None`: not one of the allowed names).
fn named_list<T>(
    object: &Map<String, Value>,
    field: &str,
    refused: &mut Vec<Refusal>,
    read: impl Fn(&str) -> Option<T>,
) -> Option<Vec<T>> {
    let value = object.get(field).filter(|v| !v.is_null())?;
    let Some(names) = strings(value).filter(|n| !n.is_empty() && n.len() <= VALUES_MAX) else {
        refused.push((
            field.into(),
            format!("must be an array of 1 to {VALUES_MAX} strings"),
        ));
        return None;
    };
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        match read(name) {
            Some(value) => values.push(value),
            None => {
                refused.push((
                    field.into(),
                    format!("'{}' is not a known {field}", name.escape_debug()),
                ));
                return None;
            }
        }
    }
    Some(values)
}

/// 1 to `max` tags of the shape tickets' tags have (a condition's `tags`, `add_tags`).
fn tag_list(
    value: &Value,
    field: &str,
    max: usize,
    refused: &mut Vec<Refusal>,
) -> Option<Vec<String>> {
    let shape = format!("must be an array of 1 to {max} tags (a-z, 0-9, _ and -)");
    let Some(names) = strings(value).filter(|n| !n.is_empty() && n.len() <= max) else {
        refused.push((field.into(), shape));
        return None;
    };
    match names.iter().find(|name| Tag::parse(name).is_err()) {
        Some(bad) => {
            refused.push((
                field.into(),
                format!("'{}' is not a tag: {shape}", bad.escape_debug()),
            ));
            None
        }
        None => Some(names),
    }
}

fn uuid(value: &Value, field: &str, refused: &mut Vec<Refusal>) -> Option<Uuid> {
    let id = value.as_str().and_then(|s| Uuid::parse_str(s).ok());
    if id.is_none() {
        refused.push((field.into(), "must be a UUID string".into()));
    }
    id
}

/// Text of 1 to [`TEXT_MAX`] characters whose placeholders are all known.
fn text(value: &Value, field: &str, refused: &mut Vec<Refusal>) -> Option<String> {
    let Some(text) = value.as_str() else {
        refused.push((field.into(), "must be a string".into()));
        return None;
    };
    let count = text.trim().chars().count();
    if count == 0 || count > TEXT_MAX || text.contains('\0') {
        refused.push((
            field.into(),
            format!("must hold 1 to {TEXT_MAX} characters (no U+0000)"),
        ));
        return None;
    }
    if let Err(message) = template::check(text) {
        refused.push((field.into(), message));
        return None;
    }
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn categories() -> Vec<String> {
        vec!["printer".into(), "network".into()]
    }

    #[test]
    fn every_listed_condition_must_hold_and_a_list_matches_any_value() {
        let when = Conditions::parse(
            &json!({"event_types": ["ticket.created"], "priority": ["high", "urgent"],
                    "category": ["printer"]}),
            &categories(),
        )
        .unwrap();
        let mut ticket = Ticket {
            category: "printer".into(),
            priority: Some(Priority::Urgent),
            ..Ticket::default()
        };
        assert!(when.answers("ticket.created") && !when.answers("ticket.closed"));
        assert!(when.hold_for(&ticket));
        ticket.priority = Some(Priority::Low);
        assert!(!when.hold_for(&ticket));
        ticket.priority = Some(Priority::High);
        ticket.category = "network".into();
        assert!(!when.hold_for(&ticket));
    }

    #[test]
    fn refusals_name_the_member_inside_the_action_list() {
        let refused = Action::parse_all(&json!([
            {"set_priority": "high"},
            {"assign": "nobody"},
            {"comment": "hi", "internal": "yes"},
            {"launch": true},
        ]))
        .unwrap_err();
        let fields: Vec<&str> = refused.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["1.assign", "2.internal", "3"]);
    }

    #[test]
    fn tags_match_any_listed_and_the_team_by_id() {
        let team = Uuid::now_v7();
        let when = Conditions::parse(
            &json!({"event_types": ["*"], "tags": ["vip", "printer"], "team_id": team}),
            &categories(),
        )
        .unwrap();
        let mut ticket = Ticket {
            tags: ["printer".to_string()].into(),
            team: Some(ticket_nats::events::TeamRef {
                id: team,
                name: "Desk".into(),
            }),
            ..Ticket::default()
        };
        assert!(when.hold_for(&ticket));
        ticket.tags.clear();
        assert!(!when.hold_for(&ticket), "no listed tag");
        ticket.tags.insert("vip".into());
        ticket.team = None;
        assert!(!when.hold_for(&ticket), "no team");
    }

    #[test]
    fn bad_tags_and_team_ids_are_refused_naming_the_member() {
        let refused = Conditions::parse(
            &json!({"event_types": ["*"], "tags": ["VIP"], "team_id": "desk"}),
            &categories(),
        )
        .unwrap_err();
        let fields: Vec<&str> = refused.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["tags", "team_id"]);
        let refused = Action::parse_all(&json!([
            {"add_tags": []},
            {"add_tags": ["ok", "Not ok"]},
            {"add_tags": ["vip"], "also": 1},
        ]))
        .unwrap_err();
        let fields: Vec<&str> = refused.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["0.add_tags", "1.add_tags", "2.also"]);
    }

    fn action() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u128>().prop_map(
                |n| json!({"notify": Uuid::from_u128(n), "template": "#{{ticket.number}}"})
            ),
            any::<u128>().prop_map(|n| json!({"assign": Uuid::from_u128(n)})),
            prop::sample::select(vec!["low", "medium", "high", "urgent"])
                .prop_map(|p| json!({"set_priority": p})),
            ("[a-z][a-z ]{0,39}", any::<bool>())
                .prop_map(|(text, internal)| json!({"comment": text, "internal": internal})),
            prop::collection::vec("[a-z0-9_-]{1,40}", 1..=TAGS_MAX)
                .prop_map(|tags| json!({"add_tags": tags})),
        ]
    }

    proptest! {
        /// What is stored is the wire form: a rule reads back as it was written.
        #[test]
        fn actions_are_stored_in_their_wire_form(actions in prop::collection::vec(action(), 1..5)) {
            let value = Value::Array(actions);
            let parsed = Action::parse_all(&value).unwrap();
            let stored = serde_json::to_value(&parsed).unwrap();
            prop_assert_eq!(&stored, &value);
            let read: Vec<Action> = serde_json::from_value(stored).unwrap();
            prop_assert_eq!(read, parsed);
        }
    }
}
