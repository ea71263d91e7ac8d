//! Custom field values (CONTRACT 10) checked against the definitions in force, `user` values
//! against the directory.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::fields::{check_values, FieldRefusal, FieldType};
use crate::field_definitions;
use crate::users;

/// `values` checked: the values to record, or every refused one named `fields.<key>`.
pub async fn check(
    pool: &PgPool,
    values: &serde_json::Map<String, Value>,
    creating: bool,
) -> Result<Result<BTreeMap<String, Value>, Vec<FieldRefusal>>, sqlx::Error> {
    let definitions = field_definitions::current_definitions(pool).await?;
    let checked = match check_values(&definitions, values, creating) {
        Ok(checked) => checked,
        Err(refused) => return Ok(Err(refused)),
    };
    let mut refused = Vec::new();
    for (key, value) in &checked {
        let is_user = definitions
            .get(key)
            .is_some_and(|d| d.kind == FieldType::User);
        let Some(id) = value
            .as_str()
            .filter(|_| is_user)
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        if users::find(pool, id).await?.is_none() {
            refused.push((
                format!("fields.{key}"),
                "must name a known user".to_string(),
            ));
        }
    }
    Ok(if refused.is_empty() {
        Ok(checked)
    } else {
        Err(refused)
    })
}
