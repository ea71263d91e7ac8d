//! Subject names: `<prefix>.v1.<ticket_id>.<kind>`.
//!
//! `<prefix>.v1.<ticket_id>.>` follows one ticket, `<prefix>.v1.*.<kind>` one kind of event, and
//! `<prefix>.>` (what the stream captures) everything.

use uuid::Uuid;

use crate::events::{kind_of, TicketEvent};

/// The version token after the prefix; bumped if the subject layout ever changes.
pub const VERSION: &str = "v1";

/// Every subject kind, in the order of [`TicketEvent::TYPES`]: `created`, `commented`, …
pub fn kinds() -> impl Iterator<Item = &'static str> {
    TicketEvent::TYPES.iter().map(|t| kind_of(t))
}

/// The subject of one event: `<prefix>.v1.<ticket_id>.<kind>`.
pub fn event(prefix: &str, ticket_id: &str, kind: &str) -> String {
    format!("{prefix}.{VERSION}.{ticket_id}.{kind}")
}

/// Every event of one ticket: `<prefix>.v1.<ticket_id>.>`.
pub fn ticket(prefix: &str, ticket_id: Uuid) -> String {
    format!("{prefix}.{VERSION}.{ticket_id}.>")
}

/// One kind of event of every ticket, e.g. `<prefix>.v1.*.closed`.
pub fn kind(prefix: &str, kind: &str) -> String {
    format!("{prefix}.{VERSION}.*.{kind}")
}

/// Everything under the prefix, what the stream captures: `<prefix>.>`.
pub fn all(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// The prefix of the user streams' subjects that goes with a tickets prefix: its last token
/// `tickets` becomes `users` (`tickets` → `users`, `acme.tickets` → `acme.users`); any other
/// prefix gets a `users` token appended (`t1` → `t1.users`), which no ticket subject can take,
/// since those continue with the version token.
pub fn users_prefix(prefix: &str) -> String {
    sibling_prefix(prefix, "users")
}

/// The prefix of the custom field streams' subjects, built as [`users_prefix`] builds the
/// users': `tickets` → `fields`, `acme.tickets` → `acme.fields`, `t1` → `t1.fields`.
pub fn fields_prefix(prefix: &str) -> String {
    sibling_prefix(prefix, "fields")
}

fn sibling_prefix(prefix: &str, token: &str) -> String {
    match prefix.rsplit_once('.') {
        Some((head, "tickets")) => format!("{head}.{token}"),
        None if prefix == "tickets" => token.to_string(),
        _ => format!("{prefix}.{token}"),
    }
}

/// What the stream captures: `<prefix>.>` and, unless that covers them, `<users prefix>.>`
/// and `<fields prefix>.>`.
pub fn stream_subjects(prefix: &str) -> Vec<String> {
    let mut subjects = vec![all(prefix)];
    for sibling in [users_prefix(prefix), fields_prefix(prefix)] {
        if !sibling.starts_with(&format!("{prefix}.")) {
            subjects.push(all(&sibling));
        }
    }
    subjects
}

/// The ticket id and kind of an event subject under `prefix`, if it is one.
pub fn parse<'a>(prefix: &str, subject: &'a str) -> Option<(Uuid, &'a str)> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
    let rest = rest.strip_prefix(VERSION)?.strip_prefix('.')?;
    let (id, kind) = rest.split_once('.')?;
    if !kinds().any(|k| k == kind) {
        return None;
    }
    Some((id.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_contract() {
        let id = Uuid::nil();
        assert_eq!(
            event("tickets", &id.to_string(), "closed"),
            format!("tickets.v1.{id}.closed")
        );
        assert_eq!(ticket("tickets", id), format!("tickets.v1.{id}.>"));
        assert_eq!(kind("tickets", "closed"), "tickets.v1.*.closed");
        assert_eq!(all("acme.tickets"), "acme.tickets.>");
    }

    #[test]
    fn user_subjects_sit_beside_ticket_subjects() {
        assert_eq!(users_prefix("tickets"), "users");
        assert_eq!(users_prefix("acme.tickets"), "acme.users");
        assert_eq!(users_prefix("t1"), "t1.users");
        assert_eq!(fields_prefix("acme.tickets"), "acme.fields");
        assert_eq!(fields_prefix("t1"), "t1.fields");
        assert_eq!(
            stream_subjects("tickets"),
            ["tickets.>", "users.>", "fields.>"]
        );
        assert_eq!(stream_subjects("t1"), ["t1.>"]);
        assert_eq!(parse("t1", "t1.users.v1.x.created"), None);
        assert_eq!(parse("t1", "t1.fields.v1.x.defined"), None);
    }

    #[test]
    fn there_is_one_kind_per_event_type() {
        let kinds: Vec<_> = kinds().collect();
        assert_eq!(
            kinds,
            [
                "created",
                "commented",
                "assigned",
                "updated",
                "closed",
                "reopened",
                "rated",
                "sla_breached",
                "pending",
                "resumed",
                "sla_warning",
                "tagged",
                "linked",
                "unlinked",
                "merged",
                "merged_from"
            ]
        );
    }

    #[test]
    fn event_subjects_parse_back() {
        let id = Uuid::now_v7();
        let subject = event("acme.tickets", &id.to_string(), "sla_breached");
        assert_eq!(parse("acme.tickets", &subject), Some((id, "sla_breached")));
        assert_eq!(parse("tickets", &subject), None);
        assert_eq!(
            parse("acme.tickets", &format!("acme.tickets.v1.{id}.deleted")),
            None
        );
        assert_eq!(
            parse("acme.tickets", "acme.tickets.v1.not-a-uuid.closed"),
            None
        );
    }
}
