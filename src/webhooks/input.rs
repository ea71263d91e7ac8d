//! What an endpoint's members may hold, beyond its URL (see `target`).

/// The most event types one endpoint may list.
pub const EVENT_TYPES_MAX: usize = 50;
/// The longest event type name.
pub const EVENT_TYPE_MAX: usize = 64;
/// The longest description.
pub const DESCRIPTION_MAX: usize = 500;
/// The pattern of an event type: a stream (`ticket`, `user`) and a kind, in lower case.
pub const EVENT_TYPE_PATTERN: &str = r"^(\*|(ticket|user)\.[a-z_]{1,57})$";

/// `["*"]` (every event), or distinct event type names such as `ticket.closed`. Types the
/// engine does not emit yet are accepted, so that an endpoint can subscribe ahead of them.
pub fn check_event_types(types: &[String]) -> Result<Vec<String>, String> {
    if types.is_empty() {
        return Err("must list at least one event type, or \"*\"".into());
    }
    if types.len() > EVENT_TYPES_MAX {
        return Err(format!("must list at most {EVENT_TYPES_MAX} event types"));
    }
    let mut checked: Vec<String> = Vec::with_capacity(types.len());
    for name in types {
        if !is_event_type(name) {
            return Err(format!(
                "'{}' is not an event type (such as ticket.closed) or \"*\"",
                name.escape_debug()
            ));
        }
        if !checked.contains(name) {
            checked.push(name.clone());
        }
    }
    if checked.len() > 1 && checked.iter().any(|t| t == "*") {
        return Err("\"*\" stands alone".into());
    }
    Ok(checked)
}

fn is_event_type(name: &str) -> bool {
    if name == "*" {
        return true;
    }
    let Some((stream, kind)) = name.split_once('.') else {
        return false;
    };
    matches!(stream, "ticket" | "user")
        && name.len() <= EVENT_TYPE_MAX
        && !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A description: at most [`DESCRIPTION_MAX`] characters; blank means none.
pub fn check_description(text: &str) -> Result<Option<String>, String> {
    if text.chars().count() > DESCRIPTION_MAX {
        return Err(format!("must be at most {DESCRIPTION_MAX} characters"));
    }
    let trimmed = text.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn event_types_are_names_or_a_lone_star() {
        assert_eq!(
            check_event_types(&types(&["ticket.closed", "ticket.closed", "user.created"])).unwrap(),
            types(&["ticket.closed", "user.created"])
        );
        assert!(check_event_types(&types(&["*"])).is_ok());
        for bad in [
            &[][..],
            &["*", "ticket.closed"][..],
            &["Ticket.Closed"][..],
            &["ticket."][..],
            &["order.created"][..],
            &["ticket.closed\u{0}"][..],
        ] {
            assert!(check_event_types(&types(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_pattern_says_what_the_check_accepts() {
        let pattern = regex::Regex::new(EVENT_TYPE_PATTERN).expect("a regex");
        for name in [
            "*",
            "ticket.closed",
            "user.merged",
            "ticket.",
            "x.y",
            "ticket.Closed",
            &format!("ticket.{}", "a".repeat(57)),
            &format!("ticket.{}", "a".repeat(58)),
        ] {
            assert_eq!(pattern.is_match(name), is_event_type(name), "{name}");
        }
    }
}
