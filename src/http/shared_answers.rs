//! Answers computed once per read-model position and shared by every caller who may see them:
//! a room of dashboards watching the board costs one board query per position, not one per
//! viewer. Each answer carries an `ETag` (a hash of its body); a caller that sends it back in
//! `If-None-Match` gets 304 without the body.
//!
//! An answer is keyed by what it was asked for and who may see it ([`Scope`]): a requester's
//! answer is never served to anyone else. It is reused while the read models stand at its
//! position or before it (an answer at a later position satisfies any `min_position` an earlier
//! one did) and for at most [`MAX_AGE`], because answers also depend on the time (a target that
//! passes while awaited) and the engine's SLA timer records that with an event only on its
//! next sweep. Concurrent callers of the same key wait for one computation.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lru::LruCache;
use sha2::{Digest, Sha256};
use ticket_projections::read_models::Viewer;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::error::{ApiError, Result};
use super::response::with_position;

/// How long an answer may be served without being computed again, whatever the position.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Distinct questions kept (filters × scopes); the least recently asked go first.
const CAPACITY: usize = 512;

/// Who may see an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every caller who reads every ticket (agents, admins, auditors) gets the same answer.
    Everything,
    /// Only this user.
    User(uuid::Uuid),
}

impl From<Viewer> for Scope {
    fn from(viewer: Viewer) -> Self {
        if viewer.reads_everything {
            Scope::Everything
        } else {
            Scope::User(viewer.user_id)
        }
    }
}

/// One computed answer.
#[derive(Debug)]
struct Answer {
    position: i64,
    body: Bytes,
    etag: HeaderValue,
}

type Key = (&'static str, String, Scope);
type Slot = Arc<OnceCell<Answer>>;
/// A slot, the position it was made for and when.
type Kept = (i64, Instant, Slot);

/// The shared answers of one engine instance. Cheap to clone.
#[derive(Clone)]
pub struct SharedAnswers {
    slots: Arc<Mutex<LruCache<Key, Kept>>>,
}

impl Default for SharedAnswers {
    fn default() -> Self {
        Self {
            slots: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            ))),
        }
    }
}

impl std::fmt::Debug for SharedAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedAnswers").finish_non_exhaustive()
    }
}

impl SharedAnswers {
    /// The slot of `key` for an answer at `position` or later, made anew when the one kept is
    /// older than `position` or than [`MAX_AGE`].
    fn slot(&self, key: Key, position: i64) -> Slot {
        // A panic elsewhere cannot leave a half-written entry: entries are replaced whole.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at_position, made, slot)) = slots.get(&key) {
            if *at_position >= position && made.elapsed() < MAX_AGE {
                return slot.clone();
            }
        }
        let slot = Slot::default();
        slots.put(key, (position, Instant::now(), slot.clone()));
        slot
    }

    /// The answer to `question` (route and canonical parameters) in `scope` at `position`
    /// (the read models' position, read before computing), computed by `compute` unless a
    /// caller already did; 304 when `headers` hold its `ETag` in `If-None-Match`.
    pub async fn answer<T, F, Fut>(
        &self,
        route: &'static str,
        question: String,
        scope: Scope,
        position: i64,
        headers: &HeaderMap,
        compute: F,
    ) -> Result<Response>
    where
        T: serde::Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let slot = self.slot((route, question, scope), position);
        let answer = slot
            .get_or_try_init(|| async move {
                let value = compute().await?;
                let body = serde_json::to_vec(&value)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("serialize an answer: {e}")))?;
                let etag = etag_of(&body);
                Ok::<_, ApiError>(Answer {
                    position,
                    body: Bytes::from(body),
                    etag,
                })
            })
            .await?;
        Ok(respond(answer, headers))
    }
}

fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // Hex in quotes is always a valid header value.
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(wanted) = etag.to_str().ok() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == wanted)
}

fn respond(answer: &Answer, headers: &HeaderMap) -> Response {
    let mut response = if not_modified(headers, &answer.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            answer.body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, answer.etag.clone());
    // Browsers keep the answer and ask again with `If-None-Match` each time.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    with_position(answer.position, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(if_none_match: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(if_none_match).unwrap(),
        );
        h
    }

    #[test]
    fn if_none_match_lists_weak_and_strong_tags_and_a_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(not_modified(&headers("\"x\", W/\"abc\""), &etag));
        assert!(not_modified(&headers("*"), &etag));
        assert!(!not_modified(&headers("\"abcd\""), &etag));
        assert!(!not_modified(&HeaderMap::new(), &etag));
    }

    #[tokio::test]
    async fn one_computation_per_position_and_scope() {
        let answers = SharedAnswers::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let ask = |position, scope| {
            let calls = &calls;
            let answers = answers.clone();
            async move {
                answers
                    .answer(
                        "/x",
                        String::new(),
                        scope,
                        position,
                        &HeaderMap::new(),
                        || async {
                            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Ok(position)
                        },
                    )
                    .await
                    .unwrap()
            }
        };
        let someone = Scope::User(uuid::Uuid::from_u128(1));
        let first = ask(5, Scope::Everything).await;
        let again = ask(5, Scope::Everything).await;
        let older = ask(4, Scope::Everything).await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(first.headers()[header::ETAG], again.headers()[header::ETAG]);
        assert_eq!(older.headers()["x-projection-position"], "5");
        ask(5, someone).await;
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "scopes share nothing"
        );
        ask(6, Scope::Everything).await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
