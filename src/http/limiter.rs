//! The per-caller rate limiter's state: one GCRA budget per caller (see `ratelimit` for who
//! counts as a caller and the middleware that applies it).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::settings::RateLimit;

/// Gauge: callers the limiter holds state for (shrunk every minute).
pub const METRIC_KEYS: &str = "ticketd_rate_limiter_keys";

/// Whom a budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Key {
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
    pub(super) inner: Arc<DefaultKeyedRateLimiter<Key>>,
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
