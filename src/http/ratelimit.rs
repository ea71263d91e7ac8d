//! Per-caller request rate (429 with `Retry-After` above it).
//!
//! Callers are told apart by who they are, not by what they send: the user id (`sub`) of a
//! token that verifies, else the peer's address. Keying on the raw `Authorization` header
//! would give every made-up bearer string a fresh budget (a flood of random tokens would never
//! be limited) and a fresh entry in the limiter's memory. With these keys the state is bounded
//! by the users with valid tokens plus the addresses that call, and every invalid token from
//! one address shares that address's budget.
//!
//! The token verified here is handed to the handler's `Caller` extractor through the request's
//! extensions, so a request pays for one verification, as before.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};

use super::bearer::{bearer_token, VerifiedToken};
use super::error::ApiError;
use super::limiter::Key;
use super::state::AppState;
use crate::auth::Caller;

/// Middleware: refuses a request over its caller's rate.
pub async fn limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let verified = match bearer_token(req.headers(), req.uri()) {
        Some(token) => state
            .auth
            .verify_token(&token.value)
            .await
            .ok()
            .map(|caller| VerifiedToken {
                token: token.value,
                caller,
            }),
        None => None,
    };
    let key = match (&verified, peer) {
        (
            Some(VerifiedToken {
                caller: Caller { id, .. },
                ..
            }),
            _,
        ) => Key::User(*id),
        (None, Some(ip)) => Key::Peer(ip),
        (None, None) => Key::Unknown,
    };
    match state.limiter.inner.check_key(&key) {
        Ok(()) => {
            if let Some(verified) = verified {
                req.extensions_mut().insert(verified);
            }
            next.run(req).await
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into_response()
        }
    }
}
