//! `GET /api/v1/ws`: live ticket events over a WebSocket (CONTRACT 3).
//!
//! This module holds the handshake; `protocol` the frames, channels and close codes; `routing`
//! which channels of a connection an event goes to; `session` one connection's loop; `writer`
//! its writer and reader tasks.
//!
//! # Handshake
//!
//! Refused before the upgrade: without a valid token (`Authorization: Bearer`, or the
//! `access_token` query parameter for browsers) → 401; with an `Origin` header that is neither
//! in `ALLOWED_ORIGINS` nor, when that list is empty, the server's own origin (`http(s)://` +
//! `Host`) → 403. The token is never logged: the request span records the path only.
//!
//! # Protocol (JSON text frames)
//!
//! - client: `{"op":"subscribe","channels":[…],"since":<position>?}`,
//!   `{"op":"unsubscribe","channels":[…]}` (no answer; send a `ping` after it to know it is
//!   done), `{"op":"ping"}`.
//! - server: `{"type":"subscribed","channels":[…],"position":<n>}`,
//!   `{"type":"event","channel":"…","event":<envelope>}`, `{"type":"error","code","message"}`,
//!   `{"type":"pong"}`.
//!
//! Channels: `board` and `stats` (agents, admins, auditors: every event; a requester gets the
//! error `forbidden`), `ticket:<id>` (that ticket's events if the caller may read it, else
//! `not_found`, exactly as for a ticket that does not exist), `me` (events of the tickets the
//! caller requested or is assigned to; assignments are followed as they happen, and the event
//! that assigns a ticket away from the caller is still sent to them).
//!
//! A requester never receives internal comments, nor any event of a ticket that is not theirs.
//!
//! An event that matches several channels of a connection is sent once per channel, each frame
//! naming its channel. So positions are strictly increasing per channel and never decrease on
//! the connection; each event reaches each channel at most once.
//!
//! # `since` and going live
//!
//! The connection subscribes to the hub's broadcast when it opens, before anything else. A
//! subscribe with `since` first replays from the store every event after `since` that the new
//! channels cover (and anything after the connection's position for the channels it already
//! had), in pages; then `subscribed` names the position through which the connection is caught
//! up, and live events at or below it are dropped: no gap, no duplicate. Without `since`, live
//! delivery continues after the connection's position (the hub's head for a first subscribe). A
//! `since` below the last position this connection already sent would break the order and is
//! refused (`bad_request`): replay on a new connection.
//!
//! # Closing
//!
//! 1001 when the engine stops; 1008 when the token expires; 1013 ("try again later", resume with
//! `since`) when the client falls behind (it has [`HubConfig::queue_capacity`] frames it has not
//! read, or it lagged behind the hub's broadcast) or when the store cannot be read during a
//! replay. Messages and frames over 64 KiB are refused by the WebSocket layer. A WebSocket Ping
//! goes out every 30 s.
//!
//! # What "not read" means
//!
//! A frame the writer has handed to the socket is not a frame the client has read: the kernel's
//! send buffer and the client's receive buffer hold megabytes on loopback (send buffers grow
//! with the congestion window), thousands of events, so a bound on the server's queue alone was
//! reached only after the buffers filled, if ever. The writer therefore sends a WebSocket Ping
//! carrying the count of frames written so far every quarter of the queue, and the client's
//! Pong (RFC 6455 requires one, and every client library answers as it reads) tells which of
//! them it has read: TCP delivers in order, so the client saw every frame before that Ping.
//! Frames queued plus frames written but not acknowledged are what the bound counts. A client
//! that keeps up answers within a round trip and never comes near it; one that stops reading
//! reaches it after `queue_capacity` frames, with the buffers still far from full, so its close
//! frame fits in them and it reads 1013 after the frames it missed when it reads again.
//!
//! [`HubConfig::queue_capacity`]: crate::hub::HubConfig::queue_capacity

mod protocol;
mod routing;
mod session;
mod writer;

use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::time::Instant;

use super::bearer::caller_from_parts;
use super::error::{ApiError, Problem};
use super::state::AppState;

/// `/ws`, merged under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(connect))
}

/// Opens the live event stream.
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", operation_id = "open_websocket",
    description = "WebSocket upgrade. Client frames: `{\"op\":\"subscribe\",\"channels\":[...],\"since\":<position>?}`, \
`{\"op\":\"unsubscribe\",\"channels\":[...]}`, `{\"op\":\"ping\"}`. Server frames: `subscribed`, `event`, `error`, `pong`. \
Channels: `board`, `stats`, `ticket:<id>`, `me`. Closes with 1001 on shutdown, 1008 when the token expires, 1013 when the client falls behind.",
    params(("access_token" = Option<String>, Query,
        description = "the bearer token, for clients that cannot set the Authorization header (browsers)")),
    responses(
        (status = 101, description = "switching to the WebSocket protocol"),
        (status = 401, description = "no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "the Origin header is not allowed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn connect(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let caller = match caller_from_parts(&parts, &state.auth).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    // The verified token's `exp` decides when the connection must end; one the runtime's clock
    // cannot reach is refused, as a token without `exp`.
    let now = std::time::SystemTime::now();
    let Some(expires_at) = caller
        .expires_at
        .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
        .and_then(|left| Instant::now().checked_add(left))
    else {
        return ApiError::Unauthorized("token claim exp missing".into()).into_response();
    };
    if !origin_allowed(&parts, &state.settings.allowed_origins) {
        return ApiError::Forbidden("this Origin may not open a WebSocket".into()).into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let status = rejection.status();
            return Problem {
                kind: "https://ticketd.dev/problems/websocket-upgrade".into(),
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                status: status.as_u16(),
                detail: rejection.body_text(),
                errors: None,
            }
            .into_response();
        }
    };
    let hub = state.hub.clone();
    let pool = state.pool.clone();
    let max = hub.config().max_message_size;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(socket, hub, pool, caller, expires_at))
}

/// CONTRACT 3: the `Origin` header, when present, must be in the allow-list (`*` allows any), or
/// equal the server's own origin when the list is empty.
fn origin_allowed(parts: &Parts, allowed: &[String]) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        // Not a browser: the token alone decides.
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if !allowed.is_empty() {
        return allowed
            .iter()
            .any(|a| a == "*" || a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin));
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    host.is_some_and(|host| {
        ["http://", "https://"]
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Request as HttpRequest;

    use super::*;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut builder = HttpRequest::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_origin_must_be_the_servers_own_when_no_list_is_configured() {
        let same = parts(
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            "/",
        );
        let tls = parts(
            &[("host", "desk.example"), ("origin", "https://desk.example")],
            "/",
        );
        let foreign = parts(
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://evil.example"),
            ],
            "/",
        );
        let none = parts(&[("host", "127.0.0.1:8080")], "/");
        assert!(origin_allowed(&same, &[]));
        assert!(origin_allowed(&tls, &[]));
        assert!(!origin_allowed(&foreign, &[]));
        assert!(origin_allowed(&none, &[]));
    }

    #[test]
    fn a_configured_list_replaces_the_servers_own_origin() {
        let allowed = vec!["https://desk.example/".to_string()];
        let listed = parts(
            &[("host", "api.internal"), ("origin", "https://DESK.example")],
            "/",
        );
        let own = parts(
            &[("host", "api.internal"), ("origin", "http://api.internal")],
            "/",
        );
        assert!(origin_allowed(&listed, &allowed));
        assert!(!origin_allowed(&own, &allowed));
    }
}
