//! The CloudEvents 1.0 envelope every consumer sees, and its per-ticket hash chain.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{kind_of, TicketEvent};
use crate::field_events::is_field_event;
use crate::subject::{fields_prefix, users_prefix};
use crate::time::Timestamp;
use crate::user_events::is_user_event;

/// `prevhash` of a ticket's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored event as every consumer receives it (CloudEvents structured mode).
///
/// Every member but `position` is fixed when the event is stored; `hash` covers them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always `1.0`.
    pub specversion: String,
    /// `<ticket_id>:<seq>`.
    pub id: String,
    /// The producing engine's name, `ticketd` unless configured otherwise.
    pub source: String,
    /// The event type, e.g. `ticket.commented`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The ticket id.
    pub subject: String,
    /// When the event was recorded.
    pub time: Timestamp,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The ticket's version after this event: 1, 2, 3…
    pub seq: i64,
    /// The dense global position; `0` before the sequencer has assigned it.
    pub position: i64,
    /// Who caused the event.
    pub actorid: String,
    /// Their display name.
    pub actorname: String,
    /// Their role.
    pub actorrole: String,
    /// The request that caused it (`X-Request-Id`).
    pub correlationid: String,
    /// Lowercase hex SHA-256 of the JCS form of this envelope without `hash` and `position`.
    pub hash: String,
    /// `hash` of the ticket's previous event, or 64 zeros.
    pub prevhash: String,
    /// The event's data.
    pub data: serde_json::Value,
}

/// Who caused an event, as the envelope records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User id, or `ticketd` for the engine itself.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `requester`, `agent`, `admin` or `system`.
    pub role: String,
}

impl Actor {
    /// The engine itself, for the events it records on its own (SLA breaches, resumes at a
    /// pause's `until`): CONTRACT 4 names it `ticketd`, id and name alike.
    pub fn system() -> Self {
        Self {
            id: "ticketd".into(),
            name: "ticketd".into(),
            role: "system".into(),
        }
    }
}

/// Everything an envelope holds besides the event itself and its chain.
#[derive(Debug, Clone)]
pub struct EnvelopeHeader<'a> {
    /// The `source` member.
    pub source: &'a str,
    /// The ticket (or, for a user stream, the user).
    pub ticket_id: Uuid,
    /// The event's sequence number within the ticket.
    pub seq: i64,
    /// When it is recorded.
    pub time: Timestamp,
    /// Who causes it.
    pub actor: &'a Actor,
    /// The request's correlation id.
    pub correlation_id: &'a str,
}

impl Envelope {
    /// Builds the envelope of a new event and seals it onto the chain after `prevhash`.
    pub fn seal(header: EnvelopeHeader<'_>, event: &TicketEvent, prevhash: &str) -> Self {
        Self::seal_data(header, event.event_type(), event.data(), prevhash)
    }

    /// [`Envelope::seal`] for any stream's event given by its `type` and `data` (a user
    /// stream's events are sealed the same way, `header.ticket_id` being the user id).
    pub fn seal_data(
        header: EnvelopeHeader<'_>,
        event_type: &str,
        data: serde_json::Value,
        prevhash: &str,
    ) -> Self {
        let mut envelope = Self {
            specversion: "1.0".into(),
            id: event_id(header.ticket_id, header.seq),
            source: header.source.to_string(),
            event_type: event_type.to_string(),
            subject: header.ticket_id.to_string(),
            time: header.time,
            datacontenttype: "application/json".into(),
            seq: header.seq,
            position: 0,
            actorid: header.actor.id.clone(),
            actorname: header.actor.name.clone(),
            actorrole: header.actor.role.clone(),
            correlationid: header.correlation_id.to_string(),
            hash: String::new(),
            prevhash: prevhash.to_string(),
            data,
        };
        // `compute_hash` lives with the canonical form it hashes (`canonical.rs`).
        envelope.hash = envelope.compute_hash();
        envelope
    }

    /// The typed event, or an error for a type or shape this version does not know.
    pub fn event(&self) -> Result<TicketEvent, serde_json::Error> {
        TicketEvent::from_data(&self.event_type, &self.data)
    }

    /// The NATS subject, `tickets.v1.<ticket_id>.<kind>` under the default prefix; a user
    /// stream's event goes under the matching users prefix ([`crate::subject::users_prefix`]):
    /// `users.v1.<user_id>.<kind>`, a field stream's under the fields prefix:
    /// `fields.v1.<field_id>.<kind>`.
    pub fn subject_under(&self, prefix: &str) -> String {
        if is_user_event(&self.event_type) {
            let kind = self
                .event_type
                .strip_prefix("user.")
                .unwrap_or(&self.event_type);
            return format!("{}.v1.{}.{kind}", users_prefix(prefix), self.subject);
        }
        if is_field_event(&self.event_type) {
            let kind = self
                .event_type
                .strip_prefix("field.")
                .unwrap_or(&self.event_type);
            return format!("{}.v1.{}.{kind}", fields_prefix(prefix), self.subject);
        }
        format!("{prefix}.v1.{}.{}", self.subject, kind_of(&self.event_type))
    }

    /// True for a comment hidden from requesters.
    pub fn is_internal(&self) -> bool {
        self.event_type == "ticket.commented"
            && self.data.get("internal").and_then(|v| v.as_bool()) == Some(true)
    }
}

/// `<ticket_id>:<seq>`.
pub fn event_id(ticket_id: Uuid, seq: i64) -> String {
    format!("{ticket_id}:{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{TicketClosed, TicketReopened};
    use sha2::{Digest, Sha256};

    fn header(actor: &Actor, seq: i64) -> EnvelopeHeader<'_> {
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: Uuid::nil(),
            seq,
            time: "2026-11-23T10:15:30.123Z".parse().unwrap(),
            actor,
            correlation_id: "req-1",
        }
    }

    #[test]
    fn a_sealed_envelope_verifies_and_chains() {
        let actor = Actor::system();
        let first = Envelope::seal(
            header(&actor, 1),
            &TicketEvent::Closed(TicketClosed { resolution: None }),
            GENESIS_HASH,
        );
        let second = Envelope::seal(
            header(&actor, 2),
            &TicketEvent::Reopened(TicketReopened {
                reason: Some("again".into()),
            }),
            &first.hash,
        );
        assert_eq!(first.hash, first.compute_hash());
        assert_eq!(second.prevhash, first.hash);
        assert_eq!(first.id, format!("{}:1", Uuid::nil()));
        assert_eq!(
            second.subject_under("tickets"),
            format!("tickets.v1.{}.reopened", Uuid::nil())
        );
    }

    #[test]
    fn the_hash_ignores_position_but_not_data() {
        let actor = Actor::system();
        let mut envelope = Envelope::seal(
            header(&actor, 1),
            &TicketEvent::Closed(TicketClosed { resolution: None }),
            GENESIS_HASH,
        );
        envelope.position = 42;
        assert_eq!(envelope.hash, envelope.compute_hash());
        envelope.data = serde_json::json!({"resolution": "tampered"});
        assert_ne!(envelope.hash, envelope.compute_hash());
    }

    #[test]
    fn the_hash_is_sha256_of_the_jcs_form() {
        let actor = Actor::system();
        let envelope = Envelope::seal(
            header(&actor, 1),
            &TicketEvent::Closed(TicketClosed { resolution: None }),
            GENESIS_HASH,
        );
        // Spelled out by hand, members in code-point order, as any JCS library would.
        let canonical = format!(
            concat!(
                r#"{{"actorid":"ticketd","actorname":"ticketd","actorrole":"system","correlationid":"req-1","#,
                r#""data":{{"resolution":null}},"datacontenttype":"application/json","id":"{}:1","#,
                r#""prevhash":"{}","seq":1,"source":"ticketd","specversion":"1.0","subject":"{}","#,
                r#""time":"2026-11-23T10:15:30.123Z","type":"ticket.closed"}}"#
            ),
            Uuid::nil(),
            GENESIS_HASH,
            Uuid::nil()
        );
        assert_eq!(
            envelope.hash,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
    }
}
