//! The request bodies of `/calendars` (CONTRACT 9). Each member reads only its JSON shape here;
//! what makes a calendar valid (a known zone, `HH:MM` pairs in order, no overlaps, at most
//! 1,000 holidays) is `Calendar::new`'s one rule, applied by the handler to the whole calendar.

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::error::FieldError;
use super::form::request_body;
use super::members::{string, Context, FromJson, MemberError, NO_NUL};
use crate::domain::calendar::{MAX_HOLIDAYS, MAX_INTERVALS_PER_DAY};
use crate::store::calendars::WeekHours;

/// The longest calendar name.
pub const NAME_MAX: usize = 100;

macro_rules! named {
    ($ty:ty) => {
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
        }
    };
}

fn refused(message: &str) -> MemberError {
    MemberError::Inner(vec![FieldError::new("", message)])
}

/// A calendar's name: 1 to 100 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarName(pub String);

impl FromJson for CalendarName {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let name = string(value)?.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX {
            return Err(refused("must be 1 to 100 characters"));
        }
        Ok(CalendarName(name.to_string()))
    }
}

impl PartialSchema for CalendarName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(NAME_MAX))
            .pattern(Some(NO_NUL))
            .into()
    }
}
named!(CalendarName);

/// An IANA time zone name such as `Europe/Berlin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(pub String);

impl FromJson for TimeZoneName {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        Ok(TimeZoneName(string(value)?.to_string()))
    }
}

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(NO_NUL))
            .description(Some("an IANA time zone name such as Europe/Berlin"))
            .into()
    }
}
named!(TimeZoneName);

/// Opening hours: weekday keys `mon`..`sun`, each a list of local `["HH:MM","HH:MM"]` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours(pub WeekHours);

impl FromJson for Hours {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        const SHAPE: &str = "an object of weekdays, each a list of [\"HH:MM\", \"HH:MM\"] pairs";
        let object = value.as_object().ok_or(MemberError::Type(SHAPE))?;
        let mut hours = WeekHours::new();
        let mut errors = Vec::new();
        for (day, intervals) in object {
            let pairs = intervals.as_array().and_then(|list| {
                list.iter()
                    .map(|pair| match pair.as_array().map(Vec::as_slice) {
                        Some([Value::String(a), Value::String(b)]) => Some([a.clone(), b.clone()]),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
            });
            match pairs {
                Some(pairs) => {
                    hours.insert(day.clone(), pairs);
                }
                None => errors.push(FieldError::new(
                    day,
                    "must be a list of [\"HH:MM\", \"HH:MM\"] pairs",
                )),
            }
        }
        if errors.is_empty() {
            Ok(Hours(hours))
        } else {
            Err(MemberError::Inner(errors))
        }
    }
}

impl PartialSchema for Hours {
    fn schema() -> RefOr<Schema> {
        let time = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"));
        let pair = ArrayBuilder::new()
            .items(time)
            .min_items(Some(2))
            .max_items(Some(2));
        let day: Schema = ArrayBuilder::new()
            .items(pair)
            .max_items(Some(MAX_INTERVALS_PER_DAY))
            .into();
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "local opening intervals per weekday (mon..sun), start before end, 24:00 \
                 allowed as an end, not overlapping; a missing weekday is closed",
            ));
        for d in crate::domain::calendar::WEEKDAYS {
            object = object.property(d, day.clone());
        }
        object.into()
    }
}
named!(Hours);

/// Closed dates (`YYYY-MM-DD`) in the calendar's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holidays(pub Vec<String>);

impl FromJson for Holidays {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        value
            .as_array()
            .and_then(|list| {
                list.iter()
                    .map(|d| d.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .map(Holidays)
            .ok_or(MemberError::Type("an array of dates"))
    }
}

impl PartialSchema for Holidays {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String).format(Some(
                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date),
            )))
            .max_items(Some(MAX_HOLIDAYS))
            .into()
    }
}
named!(Holidays);

request_body! {
    /// `POST /calendars` body.
    pub struct CreateCalendarRequest, read as CreateCalendarDraft {
        /// What the calendar is called.
        pub name: CalendarName,
        /// IANA time zone of its hours and holidays.
        pub time_zone: TimeZoneName,
        /// Opening intervals per weekday.
        pub hours: Hours,
        /// Closed dates.
        pub holidays: Option<Holidays>,
    }
}

request_body! {
    /// `PATCH /calendars/{id}` body: any of the members; each given one replaces the stored one.
    pub struct UpdateCalendarRequest, read as UpdateCalendarDraft {
        /// What the calendar is called.
        pub name: Option<CalendarName>,
        /// IANA time zone of its hours and holidays.
        pub time_zone: Option<TimeZoneName>,
        /// Opening intervals per weekday.
        pub hours: Option<Hours>,
        /// Closed dates.
        pub holidays: Option<Holidays>,
    }
}
