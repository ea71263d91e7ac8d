//! Per-caller request rate (429 with `Retry-After` above it).

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::settings::RateLimit;

/// A keyed GCRA limiter: callers are told apart by their bearer token, else by address.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<DefaultKeyedRateLimiter<[u8; 16]>>,
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
    }
}

fn caller_key(req: &Request) -> [u8; 16] {
    let mut hasher = Sha256::new();
    match req.headers().get(axum::http::header::AUTHORIZATION) {
        Some(token) => hasher.update(token.as_bytes()),
        None => match req.extensions().get::<ConnectInfo<std::net::SocketAddr>>() {
            Some(ConnectInfo(addr)) => hasher.update(addr.ip().to_string().as_bytes()),
            None => hasher.update(b"anonymous"),
        },
    }
    let digest = hasher.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Middleware: refuses a request over its caller's rate.
pub async fn limit(State(limiter): State<Limiter>, req: Request, next: Next) -> Response {
    match limiter.inner.check_key(&caller_key(&req)) {
        Ok(()) => next.run(req).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into_response()
        }
    }
}
