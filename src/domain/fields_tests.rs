use proptest::prelude::*;
use serde_json::json;

use super::*;

fn definitions() -> BTreeMap<String, FieldDefinition> {
    let d = |key: &str, kind, options: &[&str], required| FieldDefinition {
        key: key.into(),
        label: key.into(),
        kind,
        options: options.iter().map(|o| o.to_string()).collect(),
        required_on_create: required,
        visible_to_requester: true,
    };
    [
        d("sector", FieldType::Select, &["finance", "health"], true),
        d("complexity", FieldType::Number, &[], false),
        d("note", FieldType::Text, &[], false),
        d("due", FieldType::Date, &[], false),
        d("owner", FieldType::User, &[], false),
    ]
    .into_iter()
    .map(|d| (d.key.clone(), d))
    .collect()
}

fn values(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap()
}

fn refused_names(r: Result<BTreeMap<String, Value>, Vec<FieldRefusal>>) -> Vec<String> {
    let mut names: Vec<String> = r.unwrap_err().into_iter().map(|(n, _)| n).collect();
    names.sort();
    names
}

#[test]
fn good_values_of_every_type_pass() {
    let checked = check_values(
        &definitions(),
        &values(
            json!({"sector": "finance", "complexity": 3.5, "note": "x", "due": "2026-02-28",
                       "owner": "0193a5c2-0000-7000-8000-000000000001"}),
        ),
        true,
    )
    .unwrap();
    assert_eq!(checked.len(), 5);
}

#[test]
fn every_bad_value_is_named() {
    let r = check_values(
        &definitions(),
        &values(
            json!({"sector": "retail", "complexity": "1e400", "note": 3, "due": "2026-02-30",
                       "owner": "nobody", "colour": "red"}),
        ),
        false,
    );
    assert_eq!(
        refused_names(r),
        [
            "fields.colour",
            "fields.complexity",
            "fields.due",
            "fields.note",
            "fields.owner",
            "fields.sector"
        ]
    );
}

#[test]
fn a_required_field_binds_creation_only() {
    let r = check_values(&definitions(), &values(json!({"sector": null})), true);
    assert_eq!(refused_names(r), ["fields.sector"]);
    let unset = check_values(&definitions(), &values(json!({"sector": null})), false).unwrap();
    assert_eq!(unset.get("sector"), Some(&Value::Null));
}

#[test]
fn changes_name_only_what_moved() {
    let from: BTreeMap<String, Value> = [("sector".to_string(), json!("finance"))].into();
    let to: BTreeMap<String, Value> = [
        ("sector".to_string(), json!("finance")),
        ("complexity".to_string(), json!(2)),
    ]
    .into();
    let changes = custom_changes(&from, to);
    assert_eq!(changes.len(), 1);
    let c = &changes["fields.complexity"];
    assert_eq!((&c.from, &c.to), (&Value::Null, &json!(2)));
}

proptest! {
    #[test]
    fn a_select_value_passes_exactly_when_it_is_an_option(s in "\\PC{0,12}") {
        let r = check_values(&definitions(), &values(json!({"sector": s.clone()})), false);
        prop_assert_eq!(r.is_ok(), s == "finance" || s == "health");
    }

    #[test]
    fn a_date_passes_exactly_when_chrono_reads_it(y in 0i32..10000, m in 0u32..14, d in 0u32..33) {
        let s = format!("{y:04}-{m:02}-{d:02}");
        let real = chrono::NaiveDate::from_ymd_opt(y, m, d).is_some();
        let r = check_values(&definitions(), &values(json!({"due": s})), false);
        prop_assert_eq!(r.is_ok(), real);
    }
}
