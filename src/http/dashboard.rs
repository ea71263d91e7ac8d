//! `GET /`: the dashboard (CONTRACT 6) — a Kanban board, ticket detail with history and
//! statistics, live over the WebSocket.
//!
//! One self-contained page (`dashboard.html`: inline CSS and vanilla JavaScript, no external
//! assets) embedded in the binary. It needs no token to load: it signs in against
//! `/api/v1/auth/login` (or takes a pasted token, or a `#token=` fragment) and keeps the token in
//! `sessionStorage`.
//!
//! The Content-Security-Policy allows exactly the page's own inline `<script>` and `<style>`
//! (by their SHA-256, computed once from the embedded text), fetches and WebSockets to this
//! origin, and nothing else: no other script, no inline event handlers, no framing, no forms
//! posted anywhere.

use std::sync::LazyLock;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use super::state::AppState;

/// The page.
const PAGE: &str = include_str!("dashboard.html");

/// The page's Content-Security-Policy.
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_str(&policy(PAGE)).unwrap_or(HeaderValue::from_static("default-src 'none'"))
});

/// `/`, merged at the server root.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(page))
}

async fn page() -> impl IntoResponse {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CONTENT_SECURITY_POLICY, POLICY.clone()),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, PAGE)
}

/// The policy for `page`: its inline `<script>` and `<style>` blocks by hash.
fn policy(page: &str) -> String {
    let sources = |tag: &str| {
        inline_blocks(page, tag)
            .iter()
            .map(|block| format!("'sha256-{}'", base64(&Sha256::digest(block.as_bytes()))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self' ws: wss:; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sources("script"),
        sources("style"),
    )
}

/// The text of every `<tag>…</tag>` element (written without attributes) in `page`.
fn inline_blocks<'a>(page: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut blocks = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        blocks.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    blocks
}

/// Standard base64 with padding (RFC 4648 §4), as CSP hash sources are written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_follows_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn the_policy_allows_the_inline_blocks_by_hash_and_nothing_else() {
        let page = "<style>p{}</style><p>x</p><script>go()</script>";
        let policy = policy(page);
        let script = base64(&Sha256::digest(b"go()"));
        let style = base64(&Sha256::digest(b"p{}"));
        assert!(policy.contains(&format!("script-src 'sha256-{script}';")));
        assert!(policy.contains(&format!("style-src 'sha256-{style}';")));
        assert!(policy.starts_with("default-src 'none';"));
        assert!(!policy.contains("unsafe"));
    }

    #[test]
    fn the_page_has_one_script_and_one_style_block() {
        assert_eq!(inline_blocks(PAGE, "script").len(), 1);
        assert_eq!(inline_blocks(PAGE, "style").len(), 1);
        assert!(
            !PAGE.contains("<script "),
            "scripts are written without attributes"
        );
        let handler = PAGE.match_indices(" on").any(|(i, _)| {
            let name: String = PAGE[i + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            !name.is_empty() && PAGE[i + 3 + name.len()..].starts_with("=\"")
        });
        assert!(!handler, "no inline event handlers");
        assert!(!PAGE.contains("innerHTML"));
    }
}
