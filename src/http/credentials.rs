//! What the credential routes share (CONTRACT 11): the per-address budget for login, reset and
//! refresh, the per-account budgets' settings, the reset mailer, the refresh cookie and the
//! device cookie.
//!
//! The per-address budget is a GCRA limiter in memory, kept apart from the general per-caller
//! limiter: these routes are cheap to call and expensive to answer (Argon2id), and their
//! callers have no token yet.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use chrono::Utc;

use super::error::ApiError;
use crate::auth::device::DeviceKey;
use crate::email::reset_mail::ResetMailer;
use crate::settings::AccountSettings;
use crate::users::throttle::{Backoff, Budget};

/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "ticketd_refresh";
/// Where the browser sends it: the credential routes only.
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";
/// The device cookie's name (see [`crate::auth::device`]).
pub const DEVICE_COOKIE: &str = "ticketd_device";
/// Where the browser sends it: login only.
pub const DEVICE_COOKIE_PATH: &str = "/api/v1/auth/login";

/// Shared by the credential routes; cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AccountSettings,
    by_address: DefaultKeyedRateLimiter<Option<IpAddr>>,
    mailer: Option<ResetMailer>,
    device_key: Option<DeviceKey>,
}

impl Credentials {
    /// From the settings, with the mailer for reset codes (`None`: no reset mail is sent) and
    /// the key of device cookies (`None`: none is issued or trusted).
    pub fn new(
        settings: AccountSettings,
        mailer: Option<ResetMailer>,
        device_key: Option<DeviceKey>,
    ) -> Self {
        let per_minute = NonZeroU32::new(settings.address_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: Arc::new(Inner {
                by_address: RateLimiter::keyed(Quota::per_minute(per_minute)),
                settings,
                mailer,
                device_key,
            }),
        }
    }

    /// Counts an attempt from `peer`: 429 with `Retry-After` over the address's budget.
    pub fn check_address(&self, peer: Peer) -> Result<(), ApiError> {
        self.inner
            .by_address
            .check_key(&peer.0)
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(peer = ?peer.0, "credential attempts over the address's rate");
                ApiError::TooManyRequests {
                    retry_after_secs: wait.as_secs().max(1),
                }
            })
    }

    /// Failures an account may have per window.
    pub fn account_budget(&self) -> Budget {
        Budget {
            failures: self.inner.settings.account_failures,
            window: self.inner.settings.account_window,
            backoff: None,
        }
    }

    /// The account's budget for password logins: [`Self::account_budget`] with the hold
    /// between consecutive failures (`LOGIN_DELAY`).
    pub fn login_budget(&self) -> Budget {
        let settings = &self.inner.settings;
        Budget {
            backoff: settings.login_delay_from.map(|from| Backoff {
                from,
                base: settings.login_delay_base,
                cap: settings.login_delay_cap,
            }),
            ..self.account_budget()
        }
    }

    /// The nonce of the request's device cookie when it is valid for `account`.
    pub fn trusted_device<'j>(&self, jar: &'j CookieJar, account: &str) -> Option<&'j str> {
        let key = self.inner.device_key.as_ref()?;
        key.check(jar.get(DEVICE_COOKIE)?.value(), account, Utc::now())
    }

    /// A new device cookie for `account` (`None` without a key): HTTP-only, `SameSite=Strict`,
    /// `Secure` except on loopback, sent to login only.
    pub fn device_cookie(&self, headers: &HeaderMap, account: &str) -> Option<Cookie<'static>> {
        let key = self.inner.device_key.as_ref()?;
        let ttl = self.inner.settings.device_ttl;
        let expires = chrono::TimeDelta::from_std(ttl)
            .ok()
            .and_then(|ttl| Utc::now().checked_add_signed(ttl))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        Some(
            Cookie::build((DEVICE_COOKIE, key.issue(account, expires)))
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(!loopback_host(headers))
                .path(DEVICE_COOKIE_PATH)
                .max_age(time_duration(ttl))
                .build(),
        )
    }

    /// How long a refresh token lives.
    pub fn refresh_ttl(&self) -> Duration {
        self.inner.settings.refresh_ttl
    }

    /// The reset mailer, when mail out is configured.
    pub fn mailer(&self) -> Option<&ResetMailer> {
        self.inner.mailer.as_ref()
    }

    /// Drops the state of quiet addresses; run now and then.
    pub fn shrink(&self) {
        self.inner.by_address.retain_recent();
        self.inner.by_address.shrink_to_fit();
    }
}

/// The caller's address (`None` when not served over TCP).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// Whether the request names a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`): only there
/// may the cookie go without `Secure`, since browsers reach such hosts over plain HTTP.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The refresh cookie holding `token`: HTTP-only, `SameSite=Strict`, `Secure` except on
/// loopback, for the credential routes only, for the token's lifetime.
pub fn refresh_cookie(headers: &HeaderMap, token: String, ttl: Duration) -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(!loopback_host(headers))
        .path(REFRESH_COOKIE_PATH)
        .max_age(time_duration(ttl))
        .build()
}

/// A cookie that makes the browser forget the refresh cookie.
pub fn removal_cookie(headers: &HeaderMap) -> Cookie<'static> {
    let mut cookie = refresh_cookie(headers, String::new(), Duration::ZERO);
    cookie.make_removal();
    cookie
}

fn time_duration(ttl: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}

/// The refresh token a request presents: the cookie's and the body's must agree.
/// `Err`: they differ (a 401).
pub fn presented(jar: &CookieJar, body: Option<String>) -> Result<Option<String>, ApiError> {
    let cookie = jar.get(REFRESH_COOKIE).map(|c| c.value().to_string());
    match (cookie, body) {
        (Some(c), Some(b)) if c != b => Err(ApiError::Unauthorized(
            "the refresh cookie and the body's refresh_token differ".into(),
        )),
        (Some(c), _) => Ok(Some(c)),
        (None, b) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_loopback_hosts_get_a_cookie_without_secure() {
        for local in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8080",
            "app.localhost",
            "127.9.9.9",
        ] {
            assert!(loopback_host(&host(local)), "{local}");
        }
        for remote in [
            "example.com",
            "10.0.0.1:80",
            "[2001:db8::1]:443",
            "localhost.example.com",
            "127.0.0.1.nip.io",
        ] {
            assert!(!loopback_host(&host(remote)), "{remote}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
        let cookie =
            refresh_cookie(&host("example.com"), "t".into(), Duration::from_secs(60)).to_string();
        for part in [
            "ticketd_refresh=t",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/api/v1/auth",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
    }
}
