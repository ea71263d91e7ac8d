//! Custom field values, given / when / then (fixtures from the aggregate's tests).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;

fn values(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn created_with(fields: &[(&str, Value)]) -> TicketEvent {
    let TicketEvent::Created(mut e) = created() else {
        unreachable!("created() makes a ticket.created")
    };
    e.fields = Some(values(fields));
    TicketEvent::Created(e)
}

fn change(key: &str, from: Value, to: Value) -> (String, FieldChange<Value>) {
    (format!("fields.{key}"), FieldChange { from, to })
}

#[test]
fn creation_records_the_values_given() {
    let command = match create_by(requester(), &requester()) {
        TicketCommand::CreateTicket(c) => CreateTicket {
            fields: Some(values(&[("sector", json!("finance"))])),
            ..c
        },
        _ => unreachable!("create() makes a CreateTicket"),
    };
    framework()
        .given_no_previous_events()
        .when(TicketCommand::CreateTicket(command))
        .then_expect_events(vec![created_with(&[("sector", json!("finance"))])]);
}

#[test]
fn an_update_records_each_changed_value_as_fields_key() {
    let command = UpdateTicket {
        fields: values(&[
            ("sector", json!("health")),
            ("complexity", json!(3)),
            ("due", Value::Null),
            ("note", Value::Null),
        ]),
        ..update(agent())
    };
    framework()
        .given(vec![created_with(&[
            ("sector", json!("finance")),
            ("due", json!("2026-12-24")),
        ])])
        .when(TicketCommand::UpdateTicket(command))
        .then_expect_events(vec![TicketEvent::Updated(TicketUpdated {
            changes: TicketChanges {
                custom: [
                    change("complexity", Value::Null, json!(3)),
                    change("due", json!("2026-12-24"), Value::Null),
                    change("sector", json!("finance"), json!("health")),
                ]
                .into_iter()
                .collect(),
                ..TicketChanges::default()
            },
            sla: None,
        })]);
}

#[test]
fn setting_the_same_values_records_nothing() {
    let command = UpdateTicket {
        fields: values(&[("sector", json!("finance")), ("note", Value::Null)]),
        ..update(admin())
    };
    framework()
        .given(vec![created_with(&[("sector", json!("finance"))])])
        .when(TicketCommand::UpdateTicket(command))
        .then_expect_events(vec![]);
}

#[test]
fn a_requester_cannot_set_fields() {
    let command = UpdateTicket {
        fields: values(&[("sector", json!("health"))]),
        ..update(requester())
    };
    forbidden(
        framework()
            .given(vec![created()])
            .when(TicketCommand::UpdateTicket(command)),
    );
}

#[test]
fn applied_changes_set_and_unset_values() {
    let ticket = replay(vec![
        created_with(&[("sector", json!("finance")), ("due", json!("2026-12-24"))]),
        TicketEvent::Updated(TicketUpdated {
            changes: TicketChanges {
                custom: [
                    change("due", json!("2026-12-24"), Value::Null),
                    change("complexity", Value::Null, json!(2.5)),
                ]
                .into_iter()
                .collect(),
                ..TicketChanges::default()
            },
            sla: None,
        }),
    ]);
    assert_eq!(
        ticket.fields,
        values(&[("complexity", json!(2.5)), ("sector", json!("finance"))])
    );
}

#[test]
fn the_event_names_custom_changes_fields_key_and_reads_back() {
    let event = TicketUpdated {
        changes: TicketChanges {
            custom: [change("sector", Value::Null, json!("health"))]
                .into_iter()
                .collect(),
            ..TicketChanges::default()
        },
        sla: None,
    };
    let data = serde_json::to_value(&event).unwrap();
    assert_eq!(
        data,
        json!({"changes": {"fields.sector": {"from": null, "to": "health"}}})
    );
    assert_eq!(
        serde_json::from_value::<TicketUpdated>(data).unwrap(),
        event
    );
    let stranger = json!({"changes": {"colour": {"from": "a", "to": "b"}}});
    assert!(serde_json::from_value::<TicketUpdated>(stranger).is_err());
}
