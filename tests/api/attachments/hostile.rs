//! Hostile file names and media types: stored safely, served only as downloads.

use percent_encoding::percent_decode_str;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::support::{comment_with, stored_files, upload, Upload};
use crate::helpers::spawn_app;

fn decoded_filename_star(disposition: &str) -> String {
    let encoded = disposition
        .split("filename*=UTF-8''")
        .nth(1)
        .expect("a filename* parameter");
    percent_decode_str(encoded)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

#[tokio::test]
async fn hostile_names_are_stored_safely_and_served_with_an_rfc_6266_filename_star() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let long = format!("{}.txt", "é".repeat(4000));
    let cases: Vec<(String, &str)> = vec![
        ("../../etc/passwd".into(), "_.._etc_passwd"),
        ("report\u{202E}fdp.exe".into(), "reportfdp.exe"),
        (
            "quarterly \u{2067}results\u{2069}.pdf".into(),
            "quarterly results.pdf",
        ),
        ("..".into(), "attachment"),
    ];

    for (declared, kept) in cases {
        // Act
        let sent = upload(
            &app,
            id,
            &requester,
            Upload::file(&declared, "text/plain", b"x"),
        )
        .await;
        let status = sent.status();
        let info: Value = sent.json().await.unwrap();
        comment_with(&app, id, &requester, json!([info["id"]]), false).await;
        let got = app
            .get(
                &format!("/attachments/{}", info["id"].as_str().unwrap()),
                &requester,
            )
            .await;

        // Assert
        assert_eq!(status, StatusCode::CREATED, "{declared}");
        assert_eq!(info["filename"], kept, "{declared}");
        let disposition = got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(disposition.starts_with("attachment; "), "{disposition}");
        assert_eq!(decoded_filename_star(&disposition), kept);
    }
    let sent = upload(&app, id, &requester, Upload::file(&long, "", b"x")).await;
    let info: Value = sent.json().await.unwrap();
    assert_eq!(
        info["filename"].as_str().unwrap().chars().count(),
        255,
        "4,000 characters cut to 255"
    );
    for file in stored_files(&app).await {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.chars().all(|c| c.is_ascii_hexdigit()),
            "stored under its id only: {name}"
        );
    }
}

#[tokio::test]
async fn a_nul_in_the_raw_part_header_is_a_400_and_stores_nothing() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;

    // Act
    let sent = upload(
        &app,
        id,
        &requester,
        Upload::part(b"form-data; name=\"file\"; filename=\"a\0b.txt\"", "", b"x"),
    )
    .await;

    // Assert
    assert_eq!(sent.status(), StatusCode::BAD_REQUEST);
    assert!(stored_files(&app).await.is_empty());
}

#[tokio::test]
async fn text_html_is_served_as_a_download_never_rendered() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let page = b"<script>alert(document.cookie)</script>";
    let info: Value = upload(
        &app,
        id,
        &agent,
        Upload::file("page.html", "text/html", page),
    )
    .await
    .json()
    .await
    .unwrap();
    comment_with(&app, id, &agent, json!([info["id"]]), false).await;

    // Act
    let got = app
        .get(
            &format!("/attachments/{}", info["id"].as_str().unwrap()),
            &requester,
        )
        .await;

    // Assert
    let headers = got.headers().clone();
    assert_eq!(headers["content-type"], "text/html");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(got.bytes().await.unwrap().as_ref(), page);
}

#[tokio::test]
async fn a_multipart_body_without_a_file_part_names_file() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;

    // Act
    let sent = upload(
        &app,
        id,
        &requester,
        Upload::part(b"form-data; name=\"other\"", "", b"x"),
    )
    .await;
    let json_body = app
        .post(&format!("/tickets/{id}/attachments"), &requester, json!({}))
        .await;

    // Assert
    let body = crate::helpers::problem(sent, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(crate::helpers::failing_fields(&body), vec!["file"]);
    assert_eq!(json_body.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
