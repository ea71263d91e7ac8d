//! The web app at `/` (CONTRACT 12): served without a token, self-contained, under a strict
//! Content-Security-Policy. What it does is tested in a browser (`web`).

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_dashboard_is_served_at_the_root_without_a_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{}",
        header("content-type")
    );
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    // The app's scripts are files of this origin now, not one inline block allowed by hash.
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    assert!(policy.contains("connect-src 'self' ws: wss:"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let page = response.text().await.unwrap();
    assert!(page.contains("<title>ticketd</title>"));
    assert!(page.contains(r#"<script type="module" src="/app/app.js"></script>"#));
    // Self-contained: nothing is loaded from elsewhere, nothing runs inline.
    assert!(!page.contains("<script>"));
    assert!(!page.contains("https://"));
    assert!(!page.contains("http://"));
}

#[tokio::test]
async fn the_app_s_files_are_served_with_their_types_and_the_same_policy() {
    let app = spawn_app().await;
    for (file, content_type, must_contain) in [
        ("api.js", "text/javascript", "/api/v1"),
        ("live.js", "text/javascript", "/api/v1/ws"),
        ("view-board.js", "text/javascript", "/board"),
        ("view-ticket.js", "text/javascript", "/history"),
        ("app.css", "text/css", "body"),
    ] {
        let response = app
            .client
            .get(format!("{}/app/{file}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header("content-type").starts_with(content_type), "{file}");
        assert!(header("content-security-policy").starts_with("default-src 'none'"));
        assert_eq!(header("x-content-type-options"), "nosniff", "{file}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains(must_contain),
            "{file} mentions {must_contain}"
        );
    }
}

#[tokio::test]
async fn other_root_paths_and_unknown_app_files_are_still_not_found() {
    let app = spawn_app().await;
    for path in ["/nope", "/app/nope.js", "/app/../Cargo.toml", "/app/%ff"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{path}"
        );
    }
}
