//! `GET /` and `GET /app/{file}`: the web app (CONTRACT 12), in place of the first dashboard.
//!
//! The app is a handful of ES modules, a style sheet and one HTML page under `src/web/`,
//! embedded in the binary: no build step, nothing loaded from another origin. None of it needs a
//! token to load; the app signs in against `/api/v1/auth/login` itself.
//!
//! Every file is served under one Content-Security-Policy that allows scripts and styles from
//! this origin only (no inline script or style, no `eval`), fetches and WebSockets to this
//! origin, and nothing else: no framing, no forms posted anywhere, no plugins.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::state::AppState;

/// The policy of every file of the app.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'; object-src 'none'";

/// The page every route of the app starts from (the app routes by the URL's fragment).
const INDEX: &str = include_str!("../web/index.html");

/// The files under `/app/`: name, content type, text.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", CSS, include_str!("../web/app.css")),
    ("app.js", JS, include_str!("../web/app.js")),
    ("api.js", JS, include_str!("../web/api.js")),
    ("session.js", JS, include_str!("../web/session.js")),
    ("live.js", JS, include_str!("../web/live.js")),
    ("i18n.js", JS, include_str!("../web/i18n.js")),
    ("dom.js", JS, include_str!("../web/dom.js")),
    ("forms.js", JS, include_str!("../web/forms.js")),
    ("model.js", JS, include_str!("../web/model.js")),
    ("view-login.js", JS, include_str!("../web/view-login.js")),
    (
        "view-password.js",
        JS,
        include_str!("../web/view-password.js"),
    ),
    ("view-import.js", JS, include_str!("../web/view-import.js")),
    ("view-teams.js", JS, include_str!("../web/view-teams.js")),
    (
        "view-calendars.js",
        JS,
        include_str!("../web/view-calendars.js"),
    ),
    ("view-sla.js", JS, include_str!("../web/view-sla.js")),
    (
        "view-tickets.js",
        JS,
        include_str!("../web/view-tickets.js"),
    ),
    ("view-board.js", JS, include_str!("../web/view-board.js")),
    ("view-ticket.js", JS, include_str!("../web/view-ticket.js")),
    (
        "view-ticket-links.js",
        JS,
        include_str!("../web/view-ticket-links.js"),
    ),
    (
        "view-ticket-tags.js",
        JS,
        include_str!("../web/view-ticket-tags.js"),
    ),
    (
        "view-ticket-files.js",
        JS,
        include_str!("../web/view-ticket-files.js"),
    ),
    ("view-new.js", JS, include_str!("../web/view-new.js")),
    ("view-fields.js", JS, include_str!("../web/view-fields.js")),
    ("view-users.js", JS, include_str!("../web/view-users.js")),
    ("view-user.js", JS, include_str!("../web/view-user.js")),
    (
        "view-integrations.js",
        JS,
        include_str!("../web/view-integrations.js"),
    ),
    (
        "view-webhooks.js",
        JS,
        include_str!("../web/view-webhooks.js"),
    ),
    (
        "view-channels.js",
        JS,
        include_str!("../web/view-channels.js"),
    ),
    ("view-rules.js", JS, include_str!("../web/view-rules.js")),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// `/` and `/app/{file}`, merged at the server root.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/app/{file}", get(asset))
}

async fn index() -> Response {
    serve(HTML, INDEX)
}

/// A name that is not UTF-8 (`%ff`) names no file: 404 as for any other unknown name.
async fn asset(file: Result<Path<String>, PathRejection>) -> Response {
    let file = file.map(|Path(file)| file).unwrap_or_default();
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, text)) => serve(content_type, text),
        None => ApiError::NotFound("no such file".into()).into_response(),
    }
}

fn serve(content_type: &'static str, text: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // The files change with the binary, so the browser asks again each time (a 200 of a
        // few kilobytes on a page load) rather than keep a stale module after an upgrade.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
        std::iter::once(("index.html", INDEX)).chain(ASSETS.iter().map(|(n, _, t)| (*n, *t)))
    }

    #[test]
    fn the_policy_allows_only_this_origin() {
        assert!(POLICY.starts_with("default-src 'none';"));
        assert!(POLICY.contains("script-src 'self';"));
        assert!(!POLICY.contains("unsafe"), "no inline script or eval");
        assert!(!POLICY.contains("http"), "no other origin");
    }

    #[test]
    fn no_file_has_inline_script_style_or_handlers_nor_loads_from_elsewhere() {
        for (name, text) in files() {
            assert!(!text.contains("innerHTML"), "{name}: innerHTML");
            assert!(!text.contains("outerHTML"), "{name}: outerHTML");
            assert!(!text.contains("insertAdjacentHTML"), "{name}");
            assert!(!text.contains("eval("), "{name}: eval");
            assert!(!text.contains("new Function"), "{name}: new Function");
            assert!(!text.contains("https://"), "{name}: another origin");
            assert!(!text.contains("style=\""), "{name}: inline style");
            let handler = text.match_indices(" on").any(|(i, _)| {
                let name: String = text[i + 3..]
                    .chars()
                    .take_while(char::is_ascii_lowercase)
                    .collect();
                !name.is_empty() && text[i + 3 + name.len()..].starts_with("=\"")
            });
            assert!(!handler, "{name}: inline event handler");
        }
        assert!(!INDEX.contains("<script>"), "no inline script");
        assert!(!INDEX.contains("<style>"), "no inline style");
    }

    #[test]
    fn every_module_the_app_imports_is_served() {
        for (name, text) in files() {
            for part in text.split("from \"./").skip(1) {
                let Some(end) = part.find('"') else { continue };
                let imported = &part[..end];
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == imported),
                    "{name} imports {imported}, which is not served"
                );
            }
        }
    }
}
