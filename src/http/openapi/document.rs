//! The document `/openapi.json` serves: the one generated from the handlers' annotations,
//! completed centrally with what annotations say badly or not at all:
//!
//! - every status each operation can answer: the per-route ones of [`statuses`], plus those
//!   every route of a kind shares (401 with a token, 429 under the rate limiter, 503 when
//!   Postgres is away or the request times out, 400/413/415/422 with a JSON body, 404 with an
//!   id in the path), each with the RFC 9457 problem schema as `application/problem+json`;
//! - the bounds of every parameter, from the same constants the parsers use (lengths, ranges,
//!   enums with the configured categories, formats), and text patterns that say what the
//!   parsers check: no U+0000, and blank as absent;
//! - the configured categories as the `Category` member's enum. Request bodies say the rest
//!   themselves: their schemas derive from the types that parse them (`http::members`).

use serde_json::{json, Map, Value};
use utoipa::{OpenApi, PartialSchema};

use super::spec::ApiDoc;
use crate::domain::{Channel, Priority, Role, Status};
use crate::http::audit::MAX_PAGE;
use crate::http::members::{Category, NO_NUL, WS};
use crate::settings::Settings;
use ticket_nats::{TicketEvent, UserEvent};

/// The document, with `settings`' categories as the category enum.
pub fn document(settings: &Settings) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialize the OpenAPI document");
        json!({"openapi": "3.1.0", "info": {"title": "ticketd", "version": "0"}, "paths": {}})
    });
    let categories: Vec<Value> = settings.categories.iter().map(|c| json!(c)).collect();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            list_categories(schema, &categories);
        }
        schemas.insert("Problem".into(), problem_schema());
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                complete_operation(path, method, operation, &categories);
            }
        }
    }
    doc
}

/// Lists the configured categories in every [`Category`] member of `body`'s schema (inline,
/// so found as its type's schema): the one member whose values are configured, not compiled in.
fn list_categories(body: &mut Value, categories: &[Value]) {
    let category = serde_json::to_value(Category::schema()).unwrap_or_default();
    let Some(members) = body.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    let list = |schema: &mut Value| {
        if *schema == category {
            schema["enum"] = Value::Array(categories.to_vec());
        }
    };
    for member in members.values_mut() {
        // An optional member is one of null or its type's schema.
        if let Some(Value::Array(choices)) = member.get_mut("oneOf") {
            choices.iter_mut().for_each(list);
        } else {
            list(member);
        }
    }
}

/// Adds the parameter bounds and the error answers of one operation.
fn complete_operation(path: &str, method: &str, operation: &mut Value, categories: &[Value]) {
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters.iter_mut() {
            let name = parameter["name"].as_str().unwrap_or_default().to_string();
            let location = parameter["in"].as_str().unwrap_or_default().to_string();
            if let Some(schema) = parameter_schema(path, &location, &name, categories) {
                // A query parameter given blank counts as absent (forms send empty fields).
                parameter["schema"] = if location == "query" && schema.get("anyOf").is_none() {
                    blank_or(schema)
                } else {
                    schema
                };
            }
        }
    }
    let api = path.starts_with("/api/v1/");
    let secured = operation.get("security").is_some();
    let has_body = operation.get("requestBody").is_some();
    let has_id = path.contains("{id}");
    let has_query = operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let mut codes: Vec<u16> = statuses(method, path).to_vec();
    if api {
        codes.extend([429, 503]);
    }
    if secured {
        codes.push(401);
    }
    if has_body {
        codes.extend([400, 413, 415, 422]);
    }
    if has_id {
        codes.push(404);
    }
    if has_query {
        codes.push(422);
    }
    codes.sort_unstable();
    codes.dedup();
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for code in codes {
        let key = code.to_string();
        let description = responses
            .get(&key)
            .and_then(|r| r["description"].as_str())
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| default_description(code).to_string());
        responses.insert(key, problem_response(code, &description));
    }
}

/// Statuses particular to a route, beyond those its kind shares (see [`complete_operation`]).
fn statuses(method: &str, path: &str) -> &'static [u16] {
    match (method, path) {
        ("post", "/api/v1/tickets") => &[403, 409, 412],
        ("post", "/api/v1/tickets/{id}/comments")
        | ("post", "/api/v1/tickets/{id}/assign")
        | ("patch", "/api/v1/tickets/{id}")
        | ("post", "/api/v1/tickets/{id}/close")
        | ("post", "/api/v1/tickets/{id}/reopen")
        | ("post", "/api/v1/tickets/{id}/rating")
        | ("post", "/api/v1/tickets/{id}/pending")
        | ("post", "/api/v1/tickets/{id}/resume") => &[403, 409, 412],
        ("get", "/api/v1/board") | ("get", "/api/v1/stats") => &[403],
        ("put", "/api/v1/tickets/{id}/tags") => &[403, 412],
        ("post", "/api/v1/tickets/{id}/links")
        | ("delete", "/api/v1/tickets/{id}/links/{other}") => &[403, 412],
        ("post", "/api/v1/tickets/{id}/merge") => &[403, 409, 412],
        ("get", "/api/v1/tags") => &[403],
        ("post", "/api/v1/fields") => &[403, 409],
        ("post", "/api/v1/tickets/{id}/attachments") => &[403],
        ("get", "/api/v1/attachments/{id}") => &[416],
        // It takes no parameter, and refuses unknown ones as every query does.
        ("get", "/api/v1/categories") | ("get", "/api/v1/fields") => &[422],
        ("get", "/api/v1/tickets/{id}/verify") | ("get", "/api/v1/events") => &[403],
        ("post", "/api/v1/auth/login") => &[401, 403],
        ("post", "/api/v1/auth/refresh") | ("post", "/api/v1/auth/logout") => &[401],
        ("post", "/api/v1/users") => &[403, 409],
        ("post", "/api/v1/users/import") => &[403],
        ("get", "/api/v1/users") => &[403],
        ("patch", "/api/v1/users/{id}") | ("post", "/api/v1/users/{id}/merge") => &[403, 409],
        ("get", "/api/v1/integrations")
        | ("post", "/api/v1/integrations")
        | ("delete", "/api/v1/integrations/{id}") => &[403],
        ("post", "/api/v1/intake/messages") => &[404, 409],
        ("post", "/api/v1/intake/tickets") => &[409],
        // Admins only, reading included; unknown query parameters are refused.
        ("get", "/api/v1/webhooks") => &[403, 422],
        (_, p) if p.starts_with("/api/v1/webhooks") => &[403],
        ("get", "/api/v1/rules") | ("get", "/api/v1/notification-channels") => &[403, 422],
        (_, p)
            if p.starts_with("/api/v1/rules") || p.starts_with("/api/v1/notification-channels") =>
        {
            &[403]
        }
        // Teams: requesters read none, only admins change them; names are unique.
        ("get", "/api/v1/teams") | ("get", "/api/v1/teams/{id}/members") => &[403, 422],
        ("post", "/api/v1/teams") | ("patch", "/api/v1/teams/{id}") => &[403, 409],
        (_, p) if p.starts_with("/api/v1/teams") => &[403],
        ("get", "/api/v1/calendars") => &[403, 422],
        (_, p) if p.starts_with("/api/v1/calendars") => &[403],
        ("get", "/api/v1/sla-policies") => &[403, 422],
        ("put", "/api/v1/sla-policies/{priority}") => &[403, 404],
        (_, p) if p.starts_with("/api/v1/sla-policies") => &[403],
        // Not a WebSocket handshake (400, 426), a disallowed Origin (403).
        ("get", "/api/v1/ws") => &[400, 403, 426],
        _ => &[],
    }
}

fn default_description(code: u16) -> &'static str {
    match code {
        400 => "the body is not JSON, or is missing where one is required",
        401 => "no valid bearer token",
        403 => "the caller's role may not do this",
        404 => "no such ticket, or one the caller may not see; also a malformed id",
        409 => "a business rule forbids it in the ticket's current state",
        412 => "If-Match names a version the ticket has moved on from",
        413 => "the body is larger than 64 KiB (an attachment: larger than ATTACHMENT_MAX_BYTES)",
        416 => "the range asks for no byte of the file",
        415 => "the body is not declared as JSON (application/json or application/*+json)",
        422 => "invalid members or parameters, each named in errors",
        426 => "the request asks for no WebSocket upgrade",
        429 => "the caller exceeded its rate; retry after Retry-After seconds",
        503 => "the database is unreachable, the read models have not caught up, or the request timed out; retry after Retry-After seconds",
        _ => "an error",
    }
}

/// An error answer: the problem document, with `Retry-After` where the engine sends it.
fn problem_response(code: u16, description: &str) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    });
    let mut headers = Map::new();
    if matches!(code, 429 | 503) {
        headers.insert(
            "Retry-After".into(),
            json!({"description": "seconds to wait before retrying", "required": true,
                   "schema": {"type": "integer", "minimum": 1}}),
        );
    }
    if code == 401 {
        headers.insert(
            "WWW-Authenticate".into(),
            json!({"required": true, "schema": {"type": "string", "const": "Bearer"}}),
        );
    }
    if !headers.is_empty() {
        response["headers"] = Value::Object(headers);
    }
    response
}

/// RFC 9457, as the engine writes it.
fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "An RFC 9457 problem document.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri", "description": "a URI naming the kind of problem"},
            "title": {"type": "string", "description": "a short summary of the kind"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "what went wrong with this request"},
            "errors": {
                "type": "array",
                "description": "on 422: every failing field",
                "items": {"$ref": "#/components/schemas/FieldError"},
            },
        },
    })
}

fn string_enum(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn integer(min: i64, max: i64) -> Value {
    json!({"type": "integer", "format": "int64", "minimum": min, "maximum": max})
}

fn text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": NO_NUL})
}

/// `schema`, or a blank value (which the parsers take for an absent parameter).
fn blank_or(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "string", "pattern": format!("^[{WS}]*$")}]})
}

/// Comma-separated values of `values` (the parameter may also repeat); blank items are skipped
/// and items are trimmed, as the parser does.
fn list_of(values: &[Value]) -> Value {
    let names: Vec<String> = values
        .iter()
        .filter_map(Value::as_str)
        .map(regex_escape)
        .collect();
    let one = format!("[{WS}]*(?:{})?[{WS}]*", names.join("|"));
    json!({
        "type": "string",
        "pattern": format!("^{one}(?:,{one})*$"),
        "description": format!("one or more of {}, comma-separated", values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")),
    })
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\^$.|?*+()[]{}".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<Value> {
    all.iter().map(|v| json!(name(*v))).collect()
}

/// The schema of a parameter, where the generated one lacks its bounds.
fn parameter_schema(path: &str, location: &str, name: &str, categories: &[Value]) -> Option<Value> {
    let statuses = names(&Status::ALL, |s| s.as_str());
    let priorities = names(&Priority::ALL, |p| p.as_str());
    let channels = names(&Channel::ALL, |c| c.as_str());
    Some(match (location, name) {
        ("path", "id" | "other") => uuid(),
        ("query", "min_position") => integer(0, i64::MAX),
        // History waits for "at least this many events", so 0 (none) is a valid minimum there.
        ("query", "min_version") if path.ends_with("/history") => integer(0, i64::MAX),
        ("query", "min_version") => integer(1, i64::MAX),
        ("query", "after") => integer(0, i64::MAX),
        ("query", "limit") if path == "/api/v1/events" => integer(1, MAX_PAGE),
        ("query", "limit") if path.starts_with("/api/v1/webhooks") => {
            integer(1, crate::http::webhooks::DELIVERIES_LIMIT_MAX)
        }
        ("query", "status") if path.starts_with("/api/v1/webhooks") => {
            string_enum(&["pending", "succeeded", "failed"])
        }
        ("query", "limit") if path.starts_with("/api/v1/teams") => {
            integer(1, crate::http::team_routes::PAGE_MAX)
        }
        ("query", "limit") => integer(1, crate::http::ticket_queries::LIST_LIMIT_MAX),
        ("query", "number") => integer(1, i64::MAX),
        ("query", "limit_per_column") => integer(1, crate::http::ticket_queries::COLUMN_LIMIT_MAX),
        ("query", "assignee_id" | "requester_id" | "team_id") => uuid(),
        ("query", "as_of" | "from" | "to") => json!({"type": "string", "format": "date-time"}),
        ("query", "status") => list_of(&statuses),
        ("query", "priority") => list_of(&priorities),
        ("query", "channel") => list_of(&channels),
        ("query", "category") if path == "/api/v1/board" => {
            json!({"type": "string", "enum": categories})
        }
        ("query", "category") => list_of(categories),
        ("query", "type") => list_of(
            &TicketEvent::TYPES
                .iter()
                .chain(UserEvent::TYPES.iter())
                .chain(ticket_nats::FieldEvent::TYPES.iter())
                .map(|t| json!(t))
                .collect::<Vec<_>>(),
        ),
        ("query", "q") => {
            json!({"type": "string", "maxLength": crate::http::ticket_queries::Q_MAX, "pattern": NO_NUL})
        }
        ("query", "sort") => {
            json!({"type": "string", "enum": ticket_projections::read_models::tickets::Sort::ALL.map(|s| s.as_str())})
        }
        ("query", "cursor") if path.starts_with("/api/v1/teams") => uuid(),
        ("query", "cursor") => text(512),
        ("query", "group_by") => {
            json!({"type": "string", "pattern": "^field\\.[a-z][a-z0-9_]{0,39}$"})
        }
        ("query", "tag") if path == "/api/v1/board" || path == "/api/v1/stats" => {
            json!({"type": "string", "pattern": crate::domain::tags::TAG_PATTERN})
        }
        ("query", "tag") => {
            json!({"type": "string", "pattern": "^[a-z0-9_-]{1,40}(,[a-z0-9_-]{1,40})*$"})
        }
        ("query", "unread") => json!({"type": "boolean"}),
        ("query", "role") if path == "/api/v1/me/tickets" => {
            string_enum(&["requested", "assigned"])
        }
        ("query", "role") => json!({"type": "string", "enum": Role::ALL.map(|r| r.as_str())}),
        ("query", "access_token") => text(8192),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use regex::Regex;

    static TITLE: LazyLock<Regex> = LazyLock::new(|| pattern("CreateTicketRequest", "title"));
    static COMMENT: LazyLock<Regex> = LazyLock::new(|| pattern("CommentRequest", "body"));
    static NAME: LazyLock<Regex> = LazyLock::new(|| pattern("CreateUserRequest", "name"));
    static EMAIL: LazyLock<Regex> = LazyLock::new(|| pattern("CreateUserRequest", "email"));
    static CONTACT_EMAIL: LazyLock<Regex> = LazyLock::new(|| pattern("UpdateUserRequest", "email"));
    static REQUESTER_NAME: LazyLock<Regex> =
        LazyLock::new(|| pattern("IntakeTicketRequest", "requester.name"));

    fn served() -> Value {
        document(&Settings::for_database("postgres://x/y", &"s".repeat(32)))
    }

    /// The schema itself or, where it is one of several (an optional member: null or its
    /// type's; a requester with an e-mail or with a phone), the first that is not null.
    fn chosen(schema: &Value) -> &Value {
        ["oneOf", "anyOf"]
            .iter()
            .find_map(|choice| schema[*choice].as_array())
            .and_then(|choices| choices.iter().find(|s| s["type"] != "null"))
            .unwrap_or(schema)
    }

    /// The pattern of `member` (dotted inside object members) in the request body `body`, as
    /// the served document says it.
    fn pattern(body: &str, member: &str) -> Regex {
        let doc = served();
        let mut schema = &doc["components"]["schemas"][body];
        for name in member.split('.') {
            schema = &chosen(schema)["properties"][name];
        }
        let text = chosen(schema)["pattern"].as_str().expect("a pattern");
        Regex::new(text).expect("a pattern the regex crate reads")
    }

    /// White space, and characters that look like it to someone (ASCII separators that some
    /// regex engines count as space, zero-width ones).
    fn spacing() -> impl Strategy<Value = char> + Clone {
        prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\u{b}'),
            Just('\u{c}'),
            Just('\r'),
            Just('\u{85}'),
            Just('\u{a0}'),
            Just('\u{1680}'),
            Just('\u{2000}'),
            Just('\u{2005}'),
            Just('\u{200a}'),
            Just('\u{2028}'),
            Just('\u{2029}'),
            Just('\u{202f}'),
            Just('\u{205f}'),
            Just('\u{3000}'),
            Just('\u{1c}'),
            Just('\u{1f}'),
            Just('\u{200b}'),
            Just('\u{feff}'),
        ]
    }

    /// Strings shaped like what the parsers trim and count: a run of spacing, a core of any
    /// character (controls, NUL, `@`, spacing, text), another run of spacing, with cores short
    /// and around `max` characters.
    fn tricky_text(max: usize) -> impl Strategy<Value = String> {
        let any_char = prop_oneof![
            2 => spacing(),
            1 => prop_oneof![Just('\0'), Just('\u{7f}'), Just('\u{9f}'), Just('@')],
            3 => prop_oneof![Just('a'), Just('é'), Just('😀'), any::<char>()],
        ];
        let run = proptest::collection::vec(spacing(), 0..3);
        let core = prop_oneof![
            proptest::collection::vec(any_char.clone(), 0..6),
            proptest::collection::vec(any_char, max.saturating_sub(2)..max + 3),
        ];
        (run.clone(), core, run)
            .prop_map(|(before, core, after)| before.into_iter().chain(core).chain(after).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_title_pattern_says_what_the_parser_accepts(text in tricky_text(crate::domain::values::TITLE_MAX)) {
            let parsed = crate::domain::Title::parse(&text).is_ok() && !text.contains('\0');
            prop_assert_eq!(TITLE.is_match(&text), parsed, "{:?}", text);
        }

        #[test]
        fn the_comment_pattern_says_what_the_parser_accepts(text in tricky_text(40)) {
            let parsed = crate::domain::values::CommentBody::parse(&text).is_ok() && !text.contains('\0');
            prop_assert_eq!(COMMENT.is_match(&text), parsed, "{:?}", text);
        }

        #[test]
        fn the_name_pattern_says_what_the_parser_accepts(text in tricky_text(crate::users::NAME_MAX)) {
            let parsed = crate::users::check_name(&text).is_ok();
            prop_assert_eq!(NAME.is_match(&text), parsed, "{:?}", text);
        }

        #[test]
        fn the_email_pattern_says_what_the_parser_accepts(text in tricky_text(12)) {
            let parsed = crate::users::check_email(&text).is_ok();
            prop_assert_eq!(EMAIL.is_match(&text), parsed, "{:?}", text);
        }

        #[test]
        fn the_contact_email_pattern_says_what_the_parser_accepts(text in tricky_text(12)) {
            let parsed = crate::users::normalize_email(&text).is_ok();
            prop_assert_eq!(CONTACT_EMAIL.is_match(&text), parsed, "{:?}", text);
        }

        #[test]
        fn a_nested_members_pattern_says_what_the_parser_accepts(text in tricky_text(crate::users::NAME_MAX)) {
            let parsed = crate::users::check_name(&text).is_ok();
            prop_assert_eq!(REQUESTER_NAME.is_match(&text), parsed, "{:?}", text);
        }
    }

    #[test]
    fn the_intake_schema_says_the_bodys_rules_from_its_members() {
        let doc = served();
        let body = &doc["components"]["schemas"]["IntakeTicketRequest"];
        assert_eq!(
            body["required"],
            json!(["requester", "title", "description"])
        );
        assert_eq!(body["additionalProperties"], json!(false));
        let people = body["properties"]["requester"]["anyOf"]
            .as_array()
            .expect("a requester with an e-mail or with a phone");
        let required: Vec<&Value> = people.iter().map(|p| &p["required"]).collect();
        assert_eq!(
            required,
            [&json!(["name", "email"]), &json!(["name", "phone"])]
        );
        assert!(people
            .iter()
            .all(|p| p["additionalProperties"] == json!(false)));
        let metadata = chosen(&body["properties"]["metadata"]);
        assert_eq!(metadata["maxProperties"], 20);
        assert_eq!(metadata["propertyNames"]["maxLength"], 100);
        assert_eq!(metadata["additionalProperties"]["maxLength"], 2000);
        let categories = &chosen(&body["properties"]["category"])["enum"];
        let settings = Settings::for_database("postgres://x/y", &"s".repeat(32));
        assert_eq!(*categories, json!(settings.categories));
        let from =
            chosen(&doc["components"]["schemas"]["IntakeMessageRequest"]["properties"]["from"]);
        assert_eq!(from["additionalProperties"], json!(false));
        assert_eq!(chosen(&from["properties"]["phone"])["maxLength"], 64);
    }

    #[test]
    fn regex_specials_are_escaped() {
        assert_eq!(regex_escape("a.b"), r"a\.b");
        assert_eq!(regex_escape("in_progress"), "in_progress");
    }

    #[test]
    fn every_error_answer_is_a_problem_document() {
        let doc = document(&Settings::for_database("postgres://x/y", &"s".repeat(32)));
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("an item") {
                for (code, response) in operation["responses"].as_object().expect("responses") {
                    if code.starts_with('4') || (code.starts_with('5') && path != "/readyz") {
                        assert!(
                            response["content"]["application/problem+json"].is_object(),
                            "{method} {path} {code}"
                        );
                    }
                }
                if path.starts_with("/api/v1/") {
                    for code in ["429", "503"] {
                        assert!(
                            operation["responses"][code].is_object(),
                            "{method} {path} {code}"
                        );
                    }
                }
            }
        }
    }
}
