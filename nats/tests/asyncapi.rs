//! `asyncapi.yaml` cannot drift from the Rust types: every event type has its channel, message
//! and operation; sample events serialized from the real types validate against the document's
//! schemas (JSON Schema draft 7, which AsyncAPI schemas extend); and the schemas name exactly the
//! members the types write, no more, no fewer.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{
    kind_of, AuthorRef, FieldChange, IntegrationRef, LinkKind, RequesterRef, ResumedBy,
    SlaBreached, SlaDue, SlaTarget, SlaWarning, TicketAssigned, TicketChanges, TicketClosed,
    TicketCommented, TicketCreated, TicketLinked, TicketMerged, TicketMergedFrom, TicketPending,
    TicketRated, TicketReopened, TicketResumed, TicketTagged, TicketUpdated, UserRef, Via,
};
use ticket_nats::field_events::FieldDefinitionData;
use ticket_nats::publish::OutgoingMessage;
use ticket_nats::user_events::{UserCreated, UserMerged, UserUpdated};
use ticket_nats::{subject, Channel, Envelope, Priority, TicketEvent, Timestamp, GENESIS_HASH};
use ticket_nats::{FieldEvent, UserEvent};
use uuid::Uuid;

fn document() -> Value {
    serde_norway::from_str(include_str!("../asyncapi.yaml")).expect("asyncapi.yaml is YAML")
}

/// Follows a local `$ref` (`#/a/b`) through the document.
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    while let Some(pointer) = node.get("$ref").and_then(Value::as_str) {
        let pointer = pointer.strip_prefix('#').expect("a local $ref");
        node = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {pointer} resolves"));
    }
    node
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

fn user(name: &str) -> UserRef {
    UserRef {
        id: Uuid::now_v7(),
        name: name.into(),
    }
}

fn sla() -> SlaDue {
    SlaDue {
        first_response_due: ts("2026-11-23T14:15:30.123Z"),
        resolution_due: ts("2026-11-24T10:15:30.123Z"),
    }
}

fn change<T: std::str::FromStr>(from: &str, to: &str) -> Option<FieldChange<T>>
where
    T::Err: std::fmt::Debug,
{
    Some(FieldChange {
        from: from.parse().expect("a value"),
        to: to.parse().expect("a value"),
    })
}

/// Sample events: for each type, one with every optional member present (`true`) and, where
/// members are optional or nullable, one without them (`false`).
fn samples() -> Vec<(TicketEvent, bool)> {
    vec![
        (
            TicketEvent::Created(TicketCreated {
                number: 1042,
                title: "Printer on floor 3 is jammed".into(),
                description: "It blinks orange.".into(),
                category: "printer".into(),
                priority: Priority::Medium,
                channel: Channel::Web,
                requester: RequesterRef {
                    id: Uuid::now_v7(),
                    name: "Rita Requester".into(),
                    email: Some("rita@example.com".into()),
                },
                sla: sla(),
                integration: Some(IntegrationRef {
                    id: Uuid::now_v7(),
                    name: "Website form".into(),
                }),
                metadata: Some(
                    [("order".to_string(), "A-1".to_string())]
                        .into_iter()
                        .collect(),
                ),
                fields: Some(
                    [("sector".to_string(), serde_json::json!("finance"))]
                        .into_iter()
                        .collect(),
                ),
            }),
            true,
        ),
        (
            TicketEvent::Commented(TicketCommented {
                comment_id: Uuid::now_v7(),
                author: AuthorRef {
                    id: Uuid::now_v7(),
                    name: "Agnes Agent".into(),
                    role: "agent".into(),
                },
                body: "Toner?".into(),
                internal: true,
                via: Some(Via {
                    channel: "email".into(),
                    message_id: "abc@mail.example.com".into(),
                }),
                attachments: vec![ticket_nats::events::AttachmentRef {
                    id: Uuid::now_v7(),
                    filename: "toner.jpg".into(),
                    content_type: "image/jpeg".into(),
                    size: 48_213,
                    sha256: "ab".repeat(32),
                }],
            }),
            true,
        ),
        (
            TicketEvent::Commented(TicketCommented {
                comment_id: Uuid::now_v7(),
                author: AuthorRef {
                    id: Uuid::now_v7(),
                    name: "Agnes Agent".into(),
                    role: "agent".into(),
                },
                body: "Toner?".into(),
                internal: false,
                via: None,
                attachments: Vec::new(),
            }),
            false,
        ),
        (
            TicketEvent::Assigned(TicketAssigned {
                assignee: Some(user("Agnes Agent")),
                previous_assignee: Some(user("Bert Agent")),
                team: Some(ticket_nats::events::TeamRef {
                    id: Uuid::from_u128(8),
                    name: "Service desk".into(),
                }),
            }),
            true,
        ),
        (
            TicketEvent::Assigned(TicketAssigned {
                assignee: None,
                previous_assignee: None,
                team: Some(ticket_nats::events::TeamRef {
                    id: Uuid::from_u128(9),
                    name: "Field support".into(),
                }),
            }),
            false,
        ),
        (
            TicketEvent::Updated(TicketUpdated {
                changes: TicketChanges {
                    title: change("Printer jammed", "Printer on floor 3 is jammed"),
                    description: change("", "It blinks orange."),
                    category: change("hardware", "printer"),
                    priority: change("medium", "urgent"),
                    custom: [(
                        "fields.sector".to_string(),
                        FieldChange {
                            from: serde_json::Value::Null,
                            to: serde_json::json!("finance"),
                        },
                    )]
                    .into_iter()
                    .collect(),
                },
                sla: Some(sla()),
            }),
            true,
        ),
        (
            TicketEvent::Updated(TicketUpdated {
                changes: TicketChanges {
                    title: change("Printer jammed", "Printer on floor 3 is jammed"),
                    ..TicketChanges::default()
                },
                sla: None,
            }),
            false,
        ),
        (
            TicketEvent::Closed(TicketClosed {
                resolution: Some("Replaced the toner".into()),
            }),
            true,
        ),
        (
            TicketEvent::Closed(TicketClosed { resolution: None }),
            false,
        ),
        (
            TicketEvent::Reopened(TicketReopened {
                reason: Some("Jammed again".into()),
            }),
            true,
        ),
        (
            TicketEvent::Reopened(TicketReopened { reason: None }),
            false,
        ),
        (
            TicketEvent::Rated(TicketRated {
                score: 5,
                comment: Some("Quick and friendly".into()),
                assignee: Some(user("Agnes Agent")),
            }),
            true,
        ),
        (
            TicketEvent::Rated(TicketRated {
                score: 1,
                comment: None,
                assignee: None,
            }),
            false,
        ),
        (
            TicketEvent::Tagged(TicketTagged {
                added: vec!["printer".into(), "vip".into()],
                removed: vec!["new".into()],
            }),
            true,
        ),
        (
            TicketEvent::Linked(TicketLinked {
                kind: LinkKind::DuplicateOf,
                ticket_id: Uuid::now_v7(),
            }),
            true,
        ),
        (
            TicketEvent::Unlinked(TicketLinked {
                kind: LinkKind::ParentOf,
                ticket_id: Uuid::now_v7(),
            }),
            true,
        ),
        (
            TicketEvent::Merged(TicketMerged {
                into: Uuid::now_v7(),
            }),
            true,
        ),
        (
            TicketEvent::MergedFrom(TicketMergedFrom {
                ticket_id: Uuid::now_v7(),
                number: 1041,
            }),
            true,
        ),
        (
            TicketEvent::Pending(TicketPending {
                reason: Some("Which printer?".into()),
                until: Some(ts("2026-11-24T10:00:00.000Z")),
            }),
            true,
        ),
        (
            TicketEvent::Pending(TicketPending {
                reason: None,
                until: None,
            }),
            false,
        ),
        (
            TicketEvent::Resumed(TicketResumed {
                by: ResumedBy::Requester,
                sla: Some(SlaDue {
                    first_response_due: ts("2026-11-23T12:30:30.123Z"),
                    resolution_due: ts("2026-11-24T12:30:30.123Z"),
                }),
            }),
            true,
        ),
        (
            TicketEvent::Resumed(TicketResumed {
                by: ResumedBy::Timer,
                sla: None,
            }),
            false,
        ),
        (
            TicketEvent::SlaWarning(SlaWarning {
                target: SlaTarget::FirstResponse,
                due_at: ts("2026-11-23T10:30:30.123Z"),
            }),
            true,
        ),
        (
            TicketEvent::SlaBreached(SlaBreached {
                target: SlaTarget::FirstResponse,
                due_at: ts("2026-11-23T10:30:30.123Z"),
            }),
            true,
        ),
        (
            TicketEvent::SlaBreached(SlaBreached {
                target: SlaTarget::Resolution,
                due_at: ts("2026-11-23T11:15:30.123Z"),
            }),
            true,
        ),
        (
            TicketEvent::SlaWarning(SlaWarning {
                target: SlaTarget::NextResponse,
                due_at: ts("2026-11-23T11:05:30.123Z"),
            }),
            true,
        ),
        (
            TicketEvent::SlaBreached(SlaBreached {
                target: SlaTarget::NextResponse,
                due_at: ts("2026-11-23T11:05:30.123Z"),
            }),
            true,
        ),
    ]
}

/// A sealed, positioned envelope of `event`, as the relay publishes it.
fn envelope_of(event: &TicketEvent, actor: &Actor) -> Envelope {
    let mut envelope = Envelope::seal(
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: Uuid::now_v7(),
            seq: 3,
            time: ts("2026-11-23T10:15:30.123Z"),
            actor,
            correlation_id: "req-1",
        },
        event,
        GENESIS_HASH,
    );
    envelope.position = 1842;
    envelope
}

/// The component message (its key and body) that the channel of `event_type` carries.
fn message_for<'a>(doc: &'a Value, event_type: &str) -> (String, &'a Value) {
    let channel = &doc["channels"][kind_of(event_type)];
    let messages = channel["messages"]
        .as_object()
        .unwrap_or_else(|| panic!("channel {} has messages", kind_of(event_type)));
    assert_eq!(messages.len(), 1, "one message on the {event_type} channel");
    let reference = messages.values().next().and_then(|m| m["$ref"].as_str());
    let key = reference
        .and_then(|r| r.strip_prefix("#/components/messages/"))
        .unwrap_or_else(|| panic!("the {event_type} channel refers to a component message"));
    (key.to_string(), &doc["components"]["messages"][key])
}

/// A validator for the schema at `pointer` in the document (so its local `$ref`s resolve).
fn validator(doc: &Value, pointer: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$ref"] = json!(format!("#{pointer}"));
    jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("schema {pointer} compiles: {e}"))
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The data schema of an event type: the message payload's `allOf[1].properties.data`.
fn data_schema<'a>(doc: &'a Value, event_type: &str) -> &'a Value {
    let (key, message) = message_for(doc, event_type);
    let specific = message["payload"]["allOf"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["properties"].get("data").is_some()))
        .unwrap_or_else(|| panic!("message {key} names its data schema"));
    resolve(doc, &specific["properties"]["data"])
}

/// Checks `value` against `schema` member by member: every member of the value is declared,
/// every required member is present, and when `full` every declared member is present.
fn same_members(doc: &Value, schema: &Value, value: &Value, full: bool, path: &str) {
    let schema = resolve(doc, schema);
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        if value.is_null() {
            return;
        }
        let branch = branches
            .iter()
            .map(|b| resolve(doc, b))
            .find(|b| b["type"] != "null")
            .unwrap_or_else(|| panic!("{path}: a non-null branch"));
        return same_members(doc, branch, value, full, path);
    }
    let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) else {
        return;
    };
    let declared: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
    let written: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    // Members a `patternProperties` pattern admits (custom fields: `fields.<key>`) are declared.
    let patterns: Vec<regex::Regex> = schema
        .get("patternProperties")
        .and_then(Value::as_object)
        .map(|p| {
            p.keys()
                .map(|k| regex::Regex::new(k).expect("a pattern"))
                .collect()
        })
        .unwrap_or_default();
    let undeclared: Vec<_> = written
        .difference(&declared)
        .filter(|name| !patterns.iter().any(|p| p.is_match(name)))
        .collect();
    assert!(
        undeclared.is_empty(),
        "{path}: the schema lacks {undeclared:?}"
    );
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let missing: Vec<_> = required.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "{path}: the type does not write required {missing:?}"
    );
    if full {
        let unwritten: Vec<_> = declared.difference(&written).collect();
        assert!(
            unwritten.is_empty(),
            "{path}: the type never writes {unwritten:?}"
        );
    }
    for (name, member) in object {
        // A member admitted by a pattern has no fixed schema to descend into.
        let Some(schema) = properties.get(name) else {
            continue;
        };
        same_members(doc, schema, member, full, &format!("{path}.{name}"));
    }
}

#[test]
fn every_event_type_has_a_channel_a_message_and_an_operation_and_nothing_else_does() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let types: BTreeSet<&str> = TicketEvent::TYPES.into_iter().collect();
    for event_type in TicketEvent::TYPES {
        let kind = kind_of(event_type);
        let channel = &doc["channels"][kind];
        assert_eq!(
            channel["address"].as_str(),
            Some(subject::event("tickets", "{ticket_id}", kind).as_str()),
            "the channel of {event_type}"
        );
        assert!(channel["parameters"].get("ticket_id").is_some());
        let (key, message) = message_for(&doc, event_type);
        assert_eq!(message["name"], event_type, "message {key}");
        assert_eq!(message["contentType"], ticket_nats::CONTENT_TYPE);
        assert_eq!(
            resolve(&doc, &message["headers"]),
            &doc["components"]["schemas"]["Headers"]
        );
        let payload = &message["payload"]["allOf"];
        assert_eq!(payload[0]["$ref"], "#/components/schemas/Envelope");
        assert_eq!(payload[1]["properties"]["type"]["const"], event_type);
        let sends = doc["operations"]
            .as_object()
            .expect("operations")
            .values()
            .filter(|op| {
                op["action"] == "send" && op["channel"]["$ref"] == format!("#/channels/{kind}")
            })
            .count();
        assert_eq!(sends, 1, "one send operation on the {event_type} channel");
    }
    let channels: BTreeSet<&str> = doc["channels"]
        .as_object()
        .expect("channels")
        .keys()
        .map(String::as_str)
        .collect();
    let mut kinds: BTreeSet<String> = subject::kinds().map(str::to_string).collect();
    kinds.extend(UserEvent::TYPES.map(|t| t.replace('.', "_")));
    kinds.extend(FieldEvent::TYPES.map(|t| t.replace('.', "_")));
    assert_eq!(
        channels,
        kinds.iter().map(String::as_str).collect(),
        "no channel for an unknown kind"
    );
    let names: BTreeSet<&str> = doc["components"]["messages"]
        .as_object()
        .expect("messages")
        .values()
        .filter_map(|m| m["name"].as_str())
        .collect();
    let mut all_types = types.clone();
    all_types.extend(UserEvent::TYPES);
    all_types.extend(FieldEvent::TYPES);
    assert_eq!(names, all_types, "no message for an unknown type");
    let enumerated: BTreeSet<&str> = doc["components"]["schemas"]["Envelope"]["properties"]["type"]
        ["enum"]
        .as_array()
        .expect("the envelope lists the types")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(enumerated, all_types);
}

#[test]
fn user_events_from_the_rust_types_validate_against_their_messages() {
    let doc = document();
    let actor = Actor {
        id: Uuid::now_v7().to_string(),
        name: "Ada Admin".into(),
        role: "admin".into(),
    };
    let samples = [
        UserEvent::Created(UserCreated {
            name: "Rita".into(),
            email: Some("rita@example.com".into()),
            phone: None,
            role: "requester".into(),
            login: false,
            origin: "intake".into(),
        }),
        UserEvent::Updated(UserUpdated {
            changes: [(
                "phone".to_string(),
                FieldChange {
                    from: String::new(),
                    to: "+5511987654321".into(),
                },
            )]
            .into_iter()
            .collect(),
        }),
        UserEvent::Merged(UserMerged {
            into: Uuid::now_v7(),
        }),
    ];
    for event in samples {
        let channel = event.event_type().replace('.', "_");
        let user_id = Uuid::now_v7();
        let mut envelope = Envelope::seal_data(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: user_id,
                seq: 1,
                time: ts("2026-11-23T10:15:30.123Z"),
                actor: &actor,
                correlation_id: "req-1",
            },
            event.event_type(),
            event.data(),
            GENESIS_HASH,
        );
        envelope.position = 7;
        let key = doc["channels"][&channel]["messages"]
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(|m| m["$ref"].as_str())
            .and_then(|r| r.strip_prefix("#/components/messages/"))
            .unwrap_or_else(|| panic!("the {channel} channel has a message"))
            .to_string();
        let payload = validator(&doc, &format!("/components/messages/{key}/payload"));
        let value = serde_json::to_value(&envelope).expect("an envelope serializes");
        assert_eq!(errors(&payload, &value), Vec::<String>::new(), "{value}");
        let message = OutgoingMessage::new(&envelope, "tickets").expect("a message");
        let kind = event.event_type().trim_start_matches("user.");
        assert_eq!(message.subject, format!("users.v1.{user_id}.{kind}"));
        assert_eq!(
            doc["channels"][&channel]["address"],
            format!("users.v1.{{user_id}}.{kind}")
        );
        assert_eq!(
            UserEvent::from_data(event.event_type(), &event.data()).expect("known"),
            event
        );
    }
}

#[test]
fn field_events_from_the_rust_types_validate_against_their_messages() {
    let doc = document();
    let actor = Actor {
        id: Uuid::now_v7().to_string(),
        name: "Ada Admin".into(),
        role: "admin".into(),
    };
    let definition = FieldDefinitionData {
        key: "sector".into(),
        label: "Sector".into(),
        kind: "select".into(),
        options: vec!["finance".into(), "health".into()],
        required_for: vec!["create".into()],
        visible_to_requester: false,
    };
    let samples = [
        FieldEvent::Defined(definition.clone()),
        FieldEvent::Updated(FieldDefinitionData {
            options: Vec::new(),
            required_for: Vec::new(),
            kind: "text".into(),
            ..definition
        }),
    ];
    for (seq, event) in (1..).zip(samples) {
        let channel = event.event_type().replace('.', "_");
        let field_id = Uuid::now_v7();
        let mut envelope = Envelope::seal_data(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: field_id,
                seq,
                time: ts("2026-11-23T10:15:30.123Z"),
                actor: &actor,
                correlation_id: "req-1",
            },
            event.event_type(),
            event.data(),
            GENESIS_HASH,
        );
        envelope.position = 7;
        let key = doc["channels"][&channel]["messages"]
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(|m| m["$ref"].as_str())
            .and_then(|r| r.strip_prefix("#/components/messages/"))
            .unwrap_or_else(|| panic!("the {channel} channel has a message"))
            .to_string();
        let payload = validator(&doc, &format!("/components/messages/{key}/payload"));
        let value = serde_json::to_value(&envelope).expect("an envelope serializes");
        assert_eq!(errors(&payload, &value), Vec::<String>::new(), "{value}");
        same_members(
            &doc,
            &doc["components"]["schemas"]["FieldDefinition"],
            &event.data(),
            true,
            event.event_type(),
        );
        let message = OutgoingMessage::new(&envelope, "tickets").expect("a message");
        let kind = event.event_type().trim_start_matches("field.");
        assert_eq!(message.subject, format!("fields.v1.{field_id}.{kind}"));
        assert_eq!(
            doc["channels"][&channel]["address"],
            format!("fields.v1.{{field_id}}.{kind}")
        );
        assert_eq!(
            FieldEvent::from_data(event.event_type(), &event.data()).expect("known"),
            event
        );
    }
}

#[test]
fn sample_events_from_the_rust_types_validate_against_their_messages() {
    let doc = document();
    let actor = Actor {
        id: Uuid::now_v7().to_string(),
        name: "Agnes Agent".into(),
        role: "agent".into(),
    };
    let samples = samples();
    let covered: BTreeSet<&str> = samples.iter().map(|(e, _)| e.event_type()).collect();
    assert_eq!(
        covered,
        TicketEvent::TYPES.into_iter().collect(),
        "a sample for every type"
    );
    let headers = validator(&doc, "/components/schemas/Headers");
    for (event, _) in &samples {
        let envelope = envelope_of(event, &actor);
        let (key, _) = message_for(&doc, event.event_type());
        let payload = validator(&doc, &format!("/components/messages/{key}/payload"));
        let value = serde_json::to_value(&envelope).expect("an envelope serializes");
        assert_eq!(errors(&payload, &value), Vec::<String>::new(), "{value}");

        let message = OutgoingMessage::new(&envelope, "tickets").expect("a message");
        let header_values: serde_json::Map<String, Value> = message
            .headers
            .iter()
            .map(|(name, values)| (name.to_string(), json!(values[0].as_str())))
            .collect();
        let header_values = Value::Object(header_values);
        assert_eq!(
            errors(&headers, &header_values),
            Vec::<String>::new(),
            "{header_values}"
        );
        let body: Value = serde_json::from_slice(&message.payload).expect("the body is JSON");
        assert_eq!(body, value, "the body is the envelope");
    }
    // The system actor (SLA breaches) is a valid actor too.
    let breach = &samples.last().expect("samples").0;
    let by_engine = serde_json::to_value(envelope_of(breach, &Actor::system())).expect("JSON");
    let payload = validator(&doc, "/components/messages/ticketSlaBreached/payload");
    assert_eq!(errors(&payload, &by_engine), Vec::<String>::new());
}

#[test]
fn the_schemas_name_exactly_the_members_the_types_write() {
    let doc = document();
    let actor = Actor::system();
    for (event, full) in samples() {
        let envelope = serde_json::to_value(envelope_of(&event, &actor)).expect("JSON");
        same_members(
            &doc,
            &doc["components"]["schemas"]["Envelope"],
            &envelope,
            true,
            "envelope",
        );
        same_members(
            &doc,
            data_schema(&doc, event.event_type()),
            &event.data(),
            full,
            event.event_type(),
        );
    }
}

#[test]
fn the_schemas_refuse_what_the_types_refuse() {
    let doc = document();
    let actor = Actor::system();
    let event = TicketEvent::Closed(TicketClosed {
        resolution: Some("fixed".into()),
    });
    let good = serde_json::to_value(envelope_of(&event, &actor)).expect("JSON");
    let payload = validator(&doc, "/components/messages/ticketClosed/payload");
    assert!(payload.is_valid(&good));

    let mut extra = good.clone();
    extra["data"]["closed_by"] = json!("someone");
    let mut missing = good.clone();
    missing["data"]
        .as_object_mut()
        .expect("data")
        .remove("resolution");
    let mut wrong_type = good.clone();
    wrong_type["type"] = json!("ticket.reopened");
    let mut extra_member = good.clone();
    extra_member["extension"] = json!("x");
    let mut bad_time = good.clone();
    bad_time["time"] = json!("2026-11-23T10:15:30Z");
    // The types refuse unknown data members as the schema does (`deny_unknown_fields`).
    assert!(TicketEvent::from_parts("ticket.closed", extra["data"].clone()).is_err());
    for (bad, case) in [
        (extra, "an unknown data member"),
        (missing, "a missing data member"),
        (wrong_type, "another type on this channel"),
        (extra_member, "an unknown envelope member"),
        (bad_time, "a time without milliseconds"),
    ] {
        assert!(!payload.is_valid(&bad), "the schema accepted {case}");
    }
}

#[test]
fn every_sample_event_is_rebuilt_from_its_type_and_data() {
    for (event, _) in samples() {
        let data = event.data();
        let rebuilt = TicketEvent::from_data(event.event_type(), &data).expect("known type");
        assert_eq!(rebuilt, event);
        let text = data.to_string();
        let from_text = TicketEvent::from_json(event.event_type(), &text).expect("known type");
        assert_eq!(from_text, event, "typed from the stored text");
        let trailing = format!("{text} {{}}");
        assert!(TicketEvent::from_json(event.event_type(), &trailing).is_err());
    }
    let unknown = TicketEvent::from_data("ticket.exploded", &serde_json::json!({}));
    assert!(unknown.is_err_and(|e| e.to_string().contains("ticket.exploded")));
    let unknown = TicketEvent::from_json("ticket.exploded", "{}");
    assert!(unknown.is_err_and(|e| e.to_string().contains("ticket.exploded")));
}

#[test]
fn the_documented_priorities_and_channels_are_the_types_wire_names() {
    let doc = document();
    let created = &doc["components"]["schemas"]["TicketCreated"]["properties"];
    let names = |member: &str| -> Vec<String> {
        created[member]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{member} lists its values"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(names("priority"), Priority::ALL.map(|p| p.as_str()));
    assert_eq!(names("channel"), Channel::ALL.map(|c| c.as_str()));
}
