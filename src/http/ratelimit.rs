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

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::error::ApiError;
use crate::auth::{bearer_token, Caller, VerifiedToken};
use crate::settings::RateLimit;
use crate::state::AppState;

/// Gauge: callers the limiter holds state for (shrunk every minute).
pub const METRIC_KEYS: &str = "ticketd_rate_limiter_keys";

/// Whom a budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// A user with a token that verified.
    User(Uuid),
    /// Whoever calls from this address without a valid token.
    Peer(IpAddr),
    /// No token and no known address (not served over TCP, e.g. in-process calls).
    Unknown,
}

/// A keyed GCRA limiter: callers are told apart by their verified user, else by address.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<DefaultKeyedRateLimiter<Key>>,
}

impl Limiter {
    /// A limiter allowing `limit.per_second` sustained with bursts of `limit.burst`.
    pub fn new(limit: RateLimit) -> Self {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(per_second);
        Self {
            inner: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
        }
    }

    /// Drops the state of callers that have been quiet; run now and then.
    pub fn shrink(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
        metrics::gauge!(METRIC_KEYS).set(self.inner.len() as f64);
    }

    /// How many callers the limiter holds state for.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the limiter holds no state.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

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
