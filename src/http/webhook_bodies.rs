//! The request bodies of `/webhooks` and their members: each member reads its JSON value with
//! the rule of `webhooks::input`, and says the same in its OpenAPI schema. The URL's policy
//! (schemes, addresses after DNS) depends on the configuration and on DNS, so the handlers
//! check it once the body is read.

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::error::FieldError;
use super::form::request_body;
use super::members::{integer, string, Context, FromJson, MemberError, NO_NUL};
use crate::webhooks::input::{
    check_description, check_event_types, DESCRIPTION_MAX, EVENT_TYPES_MAX, EVENT_TYPE_PATTERN,
};
use crate::webhooks::target::URL_MAX;

/// A refusal in `webhooks::input`'s own words, reported on the member itself.
fn refused(message: String) -> MemberError {
    MemberError::Inner(vec![FieldError::new("", message)])
}

/// A member's `ToSchema` name, beside its `PartialSchema`.
macro_rules! named {
    ($ty:ty) => {
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
        }
    };
}

/// A webhook URL as written; its policy is checked by the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(pub String);

impl FromJson for WebhookUrl {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        Ok(WebhookUrl(string(value)?.to_string()))
    }
}

impl PartialSchema for WebhookUrl {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
            .max_length(Some(URL_MAX))
            .pattern(Some(NO_NUL))
            .description(Some(
                "`https`, or `http` to a host in `WEBHOOK_ALLOW_HTTP_HOSTS`; not resolving to an \
                 internal address unless its host is in `WEBHOOK_ALLOW_PRIVATE_HOSTS`",
            ))
            .into()
    }
}
named!(WebhookUrl);

/// Event types such as `ticket.closed`, or `["*"]` alone; repeats are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(pub Vec<String>);

impl FromJson for EventTypes {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let list = value
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or(MemberError::Type("an array of strings"))?;
        check_event_types(&list).map(EventTypes).map_err(refused)
    }
}

impl PartialSchema for EventTypes {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(EVENT_TYPE_PATTERN)),
            )
            .min_items(Some(1))
            .max_items(Some(EVENT_TYPES_MAX))
            .description(Some(
                "event types such as ticket.closed, or [\"*\"] alone for every event",
            ))
            .into()
    }
}
named!(EventTypes);

/// What an endpoint is for: at most 500 characters, trimmed; blank is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDescription(pub Option<String>);

impl FromJson for WebhookDescription {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        check_description(string(value)?)
            .map(WebhookDescription)
            .map_err(refused)
    }
}

impl PartialSchema for WebhookDescription {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(DESCRIPTION_MAX))
            .pattern(Some(NO_NUL))
            .description(Some("at most 500 characters; blank is none"))
            .into()
    }
}
named!(WebhookDescription);

/// `enabled` (resumes delivery where it stopped) or `disabled` (pauses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookStatus(pub bool);

impl FromJson for WebhookStatus {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        match string(value)? {
            "enabled" => Ok(WebhookStatus(true)),
            "disabled" => Ok(WebhookStatus(false)),
            _ => Err(refused("must be enabled or disabled".into())),
        }
    }
}

impl PartialSchema for WebhookStatus {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["enabled", "disabled"]))
            .into()
    }
}
named!(WebhookStatus);

/// A position of the global feed: 0 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPosition(pub i64);

impl FromJson for FeedPosition {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        match integer(value)? {
            at if at >= 0 => Ok(FeedPosition(at)),
            _ => Err(refused("must be 0 or more".into())),
        }
    }
}

impl PartialSchema for FeedPosition {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(0))
            .maximum(Some(i64::MAX))
            .into()
    }
}
named!(FeedPosition);

request_body! {
    /// `POST /webhooks` body.
    pub struct CreateWebhookRequest, read as CreateWebhookDraft {
        /// Where events are posted (see the URL policy).
        pub url: WebhookUrl,
        /// Event types such as `ticket.closed`, or `["*"]` for all.
        pub event_types: EventTypes,
        /// What the endpoint is for.
        pub description: Option<WebhookDescription>,
    }
}

request_body! {
    /// `PATCH /webhooks/{id}` body: any of the members.
    pub struct UpdateWebhookRequest, read as UpdateWebhookDraft {
        /// Where events are posted (checked as at creation).
        pub url: Option<WebhookUrl>,
        /// Event types such as `ticket.closed`, or `["*"]` for all.
        pub event_types: Option<EventTypes>,
        /// What the endpoint is for.
        pub description: Option<WebhookDescription>,
        /// `enabled` resumes delivery where it stopped; `disabled` pauses it.
        pub status: Option<WebhookStatus>,
    }
}

request_body! {
    /// `POST /webhooks/{id}/replay` body.
    pub struct ReplayRequest, read as ReplayDraft {
        /// The events after this position are delivered again.
        pub after_position: FeedPosition,
    }
}
