//! The dashboard at `/` (CONTRACT 6): served without a token, one self-contained page.

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
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    assert!(policy.contains("connect-src 'self' ws: wss:"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let page = response.text().await.unwrap();
    assert!(page.contains("<title>ticketd dashboard</title>"));
    assert!(page.contains("/api/v1/ws"));
    assert!(page.contains("/board") && page.contains("/stats") && page.contains("/history"));
    // Self-contained: nothing is loaded from elsewhere.
    assert!(!page.contains("<script src"));
    assert!(!page.contains("<link rel=\"stylesheet\""));
    assert!(!page.contains("https://"));
}

#[tokio::test]
async fn other_root_paths_are_still_not_found() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
