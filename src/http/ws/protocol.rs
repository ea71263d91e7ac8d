//! The WebSocket protocol: client frames, channels, the frames the server sends, close codes.

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Close codes (RFC 6455 §7.4.1 and the IANA registry).
pub(super) mod code {
    /// The engine is going away.
    pub const AWAY: u16 = 1001;
    /// Policy violation: the token expired.
    pub const POLICY: u16 = 1008;
    /// Try again later: the client fell behind, or the store is unavailable.
    pub const AGAIN: u16 = 1013;
}

/// A client frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum ClientFrame {
    Subscribe {
        channels: Vec<String>,
        #[serde(default)]
        since: Option<i64>,
    },
    Unsubscribe {
        channels: Vec<String>,
    },
    Ping,
}

/// A channel a connection can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum WsChannel {
    Board,
    Stats,
    Me,
    Ticket(Uuid),
}

impl WsChannel {
    pub(super) fn parse(name: &str) -> Result<Self, Refusal> {
        match name {
            "board" => Ok(Self::Board),
            "stats" => Ok(Self::Stats),
            "me" => Ok(Self::Me),
            other => match other.strip_prefix("ticket:") {
                // A malformed id names no ticket: the same answer as a missing one.
                Some(id) => Uuid::parse_str(id)
                    .map(Self::Ticket)
                    .map_err(|_| Refusal::ticket_not_found()),
                None => Err(Refusal::new(
                    "bad_request",
                    format!(
                        "unknown channel '{}': use board, stats, me or ticket:<id>",
                        other.chars().take(80).collect::<String>()
                    ),
                )),
            },
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Self::Board => "board".into(),
            Self::Stats => "stats".into(),
            Self::Me => "me".into(),
            Self::Ticket(id) => format!("ticket:{id}"),
        }
    }
}

/// An `error` frame's content.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(super) fn ticket_not_found() -> Self {
        Self::new("not_found", "ticket not found")
    }

    pub(super) fn unavailable() -> Self {
        Self::new(
            "unavailable",
            "the event store is unavailable; retry shortly",
        )
    }
}

/// The `error` frame of a refusal.
pub(super) fn error_frame(refusal: &Refusal) -> String {
    json!({"type": "error", "code": refusal.code, "message": refusal.message}).to_string()
}

/// The answer to a `ping`.
pub(super) const PONG: &str = r#"{"type":"pong"}"#;

/// The `subscribed` frame: these channels are live after `position`.
pub(super) fn subscribed_frame(channels: &[WsChannel], position: i64) -> String {
    let names: Vec<String> = channels.iter().map(WsChannel::name).collect();
    json!({"type": "subscribed", "channels": names, "position": position}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::event_frame;

    #[test]
    fn channels_parse_and_malformed_ticket_ids_are_not_found() {
        let id = Uuid::now_v7();
        assert_eq!(WsChannel::parse("board").unwrap(), WsChannel::Board);
        assert_eq!(
            WsChannel::parse(&format!("ticket:{id}")).unwrap(),
            WsChannel::Ticket(id)
        );
        assert_eq!(
            WsChannel::parse("ticket:nope").unwrap_err().code,
            "not_found"
        );
        assert_eq!(WsChannel::parse("tickets").unwrap_err().code, "bad_request");
    }

    #[test]
    fn client_frames_reject_unknown_ops_and_fields() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"op":"ping"}"#).is_ok());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"op":"dance"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientFrame>(r#"{"op":"subscribe","channels":[],"x":1}"#)
                .is_err()
        );
        match serde_json::from_str::<ClientFrame>(
            r#"{"op":"subscribe","channels":["me"],"since":7}"#,
        ) {
            Ok(ClientFrame::Subscribe { channels, since }) => {
                assert_eq!(channels, vec!["me".to_string()]);
                assert_eq!(since, Some(7));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_event_frame_embeds_the_envelope_json() {
        let text = event_frame("ticket:1", r#"{"a":1}"#);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({"type": "event", "channel": "ticket:1", "event": {"a": 1}})
        );
    }
}
