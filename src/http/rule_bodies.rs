//! The request bodies of `/rules` and `/notification-channels`: each member reads its JSON with
//! the rule of `rules::model` or `notify::channel`, and says the same in its OpenAPI schema.
//! What depends on the database (a channel or user an action names) or on DNS (a Slack URL) is
//! checked by the handlers once the body is read.

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::error::FieldError;
use super::form::request_body;
use super::members::{string, Context, FromJson, MemberError, NO_NUL};
use crate::domain::tags::{TAGS_MAX, TAG_PATTERN};
use crate::domain::{Channel, Priority, Status};
use crate::notify::channel::{self, KINDS};
use crate::rules::model::{self, Action, Conditions, ACTIONS_MAX};

/// Refusals of `rules::model` or `notify::channel`, reported inside the member.
fn refused(errors: Vec<(String, String)>) -> MemberError {
    MemberError::Inner(
        errors
            .into_iter()
            .map(|(field, message)| FieldError::new(field, message))
            .collect(),
    )
}

macro_rules! named {
    ($ty:ty) => {
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
        }
    };
}

/// A rule's or channel's name: 1 to 200 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

impl FromJson for Name {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        model::check_name(string(value)?)
            .map(Name)
            .map_err(|m| refused(vec![(String::new(), m)]))
    }
}

impl PartialSchema for Name {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(model::NAME_MAX))
            .pattern(Some(NO_NUL))
            .into()
    }
}
named!(Name);

/// A tag, as tickets carry them.
fn tag() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(TAG_PATTERN))
}

/// `when`: event types and conditions on the ticket after the event.
#[derive(Debug, Clone, PartialEq)]
pub struct When(pub Conditions);

impl FromJson for When {
    fn from_json(value: &Value, ctx: &Context<'_>) -> Result<Self, MemberError> {
        Conditions::parse(value, &ctx.settings.categories)
            .map(When)
            .map_err(refused)
    }
}

impl PartialSchema for When {
    fn schema() -> RefOr<Schema> {
        let list = |description: &str, item: ObjectBuilder| {
            ArrayBuilder::new()
                .items(item)
                .min_items(Some(1))
                .max_items(Some(model::VALUES_MAX))
                .description(Some(description))
        };
        // A condition given as null is no condition, as if left out (the rule model reads it so).
        let optional = |description: &str, item: ObjectBuilder| {
            list(description, item).schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        };
        let named = |names: Vec<&'static str>| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names))
        };
        ObjectBuilder::new()
            .property(
                "event_types",
                list(
                    "event types such as ticket.created, or [\"*\"]",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(crate::webhooks::input::EVENT_TYPE_PATTERN)),
                )
                .max_items(Some(crate::webhooks::input::EVENT_TYPES_MAX)),
            )
            .required("event_types")
            .property(
                "priority",
                optional(
                    "any of these priorities",
                    named(Priority::ALL.iter().map(|p| p.as_str()).collect()),
                ),
            )
            .property(
                "category",
                optional(
                    "any of these (configured) categories",
                    ObjectBuilder::new().schema_type(Type::String),
                ),
            )
            .property(
                "channel",
                optional(
                    "any of these channels",
                    named(Channel::ALL.iter().map(|c| c.as_str()).collect()),
                ),
            )
            .property(
                "status",
                optional(
                    "any of these statuses",
                    named(Status::ALL.iter().map(|s| s.as_str()).collect()),
                ),
            )
            .property(
                "assignee_id",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .description(Some("the ticket is assigned to this user")),
            )
            .property(
                "tags",
                optional("the ticket carries any of these tags", tag()),
            )
            .property(
                "team_id",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .description(Some("the ticket is given to this team (an existing one)")),
            )
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ))
            .description(Some(
                "a rule matches an event whose type is listed when every other condition holds \
                 for the ticket as it stands after the event",
            ))
            .into()
    }
}
named!(When);

/// `then`: 1 to 20 actions, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Then(pub Vec<Action>);

impl FromJson for Then {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        Action::parse_all(value).map(Then).map_err(refused)
    }
}

impl PartialSchema for Then {
    fn schema() -> RefOr<Schema> {
        let uuid = || {
            ObjectBuilder::new().schema_type(Type::String).format(Some(
                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
            ))
        };
        let text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(model::TEXT_MAX))
                .pattern(Some(NO_NUL))
                .description(Some(
                    "text with the placeholders {{ticket.number}}, {{ticket.title}}, \
                     {{ticket.priority}}, {{ticket.url}}, {{actor.name}}",
                ))
        };
        let one = |builder: ObjectBuilder, required: &str| {
            builder.required(required).additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ))
        };
        let action = utoipa::openapi::schema::OneOfBuilder::new()
            .item(one(
                ObjectBuilder::new()
                    .property("notify", uuid())
                    .property("template", text()),
                "notify",
            ))
            .item(one(
                ObjectBuilder::new().property("assign", uuid()),
                "assign",
            ))
            .item(one(
                ObjectBuilder::new().property(
                    "set_priority",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["low", "medium", "high", "urgent"])),
                ),
                "set_priority",
            ))
            .item(one(
                ObjectBuilder::new().property(
                    "add_tags",
                    ArrayBuilder::new()
                        .items(tag())
                        .min_items(Some(1))
                        .max_items(Some(TAGS_MAX))
                        .description(Some(
                            "tags added to those the ticket carries (none removed)",
                        )),
                ),
                "add_tags",
            ))
            .item(one(
                ObjectBuilder::new().property("comment", text()).property(
                    "internal",
                    // Absent or null: internal, the default (CONTRACT 8).
                    ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null])),
                ),
                "comment",
            ));
        ArrayBuilder::new()
            .items(action)
            .min_items(Some(1))
            .max_items(Some(ACTIONS_MAX))
            .into()
    }
}
named!(Then);

/// `email`, `telegram` or `slack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind(pub String);

impl FromJson for Kind {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let kind = string(value)?;
        if KINDS.contains(&kind) {
            Ok(Kind(kind.to_string()))
        } else {
            Err(refused(vec![(
                String::new(),
                format!("must be one of {}", KINDS.join(", ")),
            )]))
        }
    }
}

impl PartialSchema for Kind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(KINDS))
            .into()
    }
}
named!(Kind);

/// A channel's configuration, read against its kind by the handler (which knows the kind).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig(pub Value);

impl FromJson for ChannelConfig {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        if value.is_object() {
            Ok(ChannelConfig(value.clone()))
        } else {
            Err(MemberError::Type("an object"))
        }
    }
}

impl PartialSchema for ChannelConfig {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        // anyOf: the kinds' objects exclude each other by their members already.
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property(
                        "to",
                        ArrayBuilder::new()
                            .items(string().format(Some(utoipa::openapi::SchemaFormat::Custom(
                                "email".into(),
                            ))))
                            .min_items(Some(1))
                            .max_items(Some(channel::ADDRESSES_MAX)),
                    )
                    .required("to")
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                    )),
            )
            .item(
                ObjectBuilder::new()
                    .property("to_role", string().enum_values(Some(channel::TO_ROLES)))
                    .required("to_role")
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                    )),
            )
            .item(
                ObjectBuilder::new()
                    .property(
                        "bot_token",
                        string().pattern(Some(r"^[0-9]{1,20}:[A-Za-z0-9_-]{1,200}$")),
                    )
                    .property(
                        "chat_id",
                        ObjectBuilder::new()
                            .schema_type(SchemaType::from_iter([Type::String, Type::Integer])),
                    )
                    .required("chat_id")
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                    )),
            )
            .item(
                ObjectBuilder::new()
                    .property(
                        "webhook_url",
                        string().format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into()))),
                    )
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                    )),
            )
            .description(Some(
                "email {to: [address…]} or {to_role: assignee | requester | agents}; telegram \
                 {bot_token, chat_id}; slack {webhook_url}. bot_token and webhook_url are \
                 secrets: required at creation, never returned, kept when a PATCH leaves them out",
            ))
            .into()
    }
}
named!(ChannelConfig);

request_body! {
    /// `POST /rules` body.
    pub struct CreateRuleRequest, read as CreateRuleDraft {
        /// The rule's name (the actor name of its commands).
        pub name: Name,
        /// Whether it acts (default true).
        pub enabled: Option<bool>,
        /// Event types and conditions.
        pub when: When,
        /// Actions, in order.
        pub then: Then,
    }
}

request_body! {
    /// `PATCH /rules/{id}` body: any of the members.
    pub struct UpdateRuleRequest, read as UpdateRuleDraft {
        /// A new name.
        pub name: Option<Name>,
        /// Enable or disable.
        pub enabled: Option<bool>,
        /// New conditions.
        pub when: Option<When>,
        /// New actions.
        pub then: Option<Then>,
    }
}

request_body! {
    /// `POST /notification-channels` body.
    pub struct CreateChannelRequest, read as CreateChannelDraft {
        /// The channel's name.
        pub name: Name,
        /// `email`, `telegram` or `slack`.
        pub kind: Kind,
        /// The kind's configuration (with its secret).
        pub config: ChannelConfig,
    }
}

request_body! {
    /// `PATCH /notification-channels/{id}` body: any of the members; a `config` without its
    /// secret keeps the stored one.
    pub struct UpdateChannelRequest, read as UpdateChannelDraft {
        /// A new name.
        pub name: Option<Name>,
        /// A new configuration for the channel's kind.
        pub config: Option<ChannelConfig>,
    }
}
