//! Turning envelopes into JetStream messages, and publishing them.

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::{self};
use async_nats::HeaderMap;
use bytes::Bytes;

use crate::envelope::Envelope;
use crate::error::Error;

/// The `Content-Type` of every message: a CloudEvent in structured mode.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// One event as it goes on the wire.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// `<prefix>.v1.<ticket_id>.<kind>`.
    pub subject: String,
    /// `Nats-Msg-Id: <event id>` and `Content-Type: application/cloudevents+json`.
    pub headers: HeaderMap,
    /// The envelope as JSON.
    pub payload: Bytes,
}

impl OutgoingMessage {
    /// The message for `envelope` under `subject_prefix`.
    pub fn new(envelope: &Envelope, subject_prefix: &str) -> Result<Self, Error> {
        let payload = serde_json::to_vec(envelope).map_err(|e| Error::Json {
            what: format!("cannot encode event {}", envelope.id),
            source: e,
        })?;
        Ok(Self {
            subject: envelope.subject_under(subject_prefix),
            headers: headers(envelope),
            payload: payload.into(),
        })
    }
}

/// The headers of an event's message. `Nats-Msg-Id` makes JetStream drop a repeat of the same
/// event within the stream's duplicate window.
pub fn headers(envelope: &Envelope) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, envelope.id.as_str());
    headers.insert("Content-Type", CONTENT_TYPE);
    headers
}

/// The `Nats-Msg-Id` of a received message, i.e. the event id.
///
/// Look the header up through this (or `async_nats::header::NATS_MESSAGE_ID`): async-nats parses
/// it as a standard header name, which a plain `"Nats-Msg-Id"` string does not find.
pub fn message_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(async_nats::header::NATS_MESSAGE_ID)
        .map(|v| v.as_str())
}

/// Sends one event to the stream and returns the future of JetStream's acknowledgement, without
/// waiting for it: send many, then await their acknowledgements, to keep many in flight.
pub async fn publish(
    context: &jetstream::Context,
    subject_prefix: &str,
    envelope: &Envelope,
) -> Result<PublishAckFuture, Error> {
    send(context, OutgoingMessage::new(envelope, subject_prefix)?).await
}

/// Sends a prepared message; see [`publish`].
pub async fn send(
    context: &jetstream::Context,
    message: OutgoingMessage,
) -> Result<PublishAckFuture, Error> {
    let OutgoingMessage {
        subject,
        headers,
        payload,
    } = message;
    context
        .publish_with_headers(subject.clone(), headers, payload)
        .await
        .map_err(|e| Error::nats(format!("cannot publish to {subject}"), e))
}

/// Publishes one event and waits for JetStream's acknowledgement. Returns `true` when the
/// stream already held it (a duplicate, dropped).
pub async fn publish_and_wait(
    context: &jetstream::Context,
    subject_prefix: &str,
    envelope: &Envelope,
) -> Result<bool, Error> {
    let ack = publish(context, subject_prefix, envelope)
        .await?
        .await
        .map_err(|e| Error::nats(format!("no acknowledgement for event {}", envelope.id), e))?;
    Ok(ack.duplicate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Actor, EnvelopeHeader, GENESIS_HASH};
    use crate::events::{TicketClosed, TicketEvent};
    use uuid::Uuid;

    #[test]
    fn a_message_carries_the_envelope_and_its_id() {
        let actor = Actor::system();
        let envelope = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: Uuid::nil(),
                seq: 4,
                time: "2026-11-23T10:15:30.123Z".parse().unwrap(),
                actor: &actor,
                correlation_id: "req-1",
            },
            &TicketEvent::Closed(TicketClosed {
                resolution: Some("fixed".into()),
            }),
            GENESIS_HASH,
        );
        let message = OutgoingMessage::new(&envelope, "tickets").unwrap();
        assert_eq!(
            message.subject,
            format!("tickets.v1.{}.closed", Uuid::nil())
        );
        assert_eq!(
            message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str()),
            Some(format!("{}:4", Uuid::nil()).as_str())
        );
        assert_eq!(
            message.headers.get("Content-Type").map(|v| v.as_str()),
            Some(CONTENT_TYPE)
        );
        let back: Envelope = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(back, envelope);
    }
}
