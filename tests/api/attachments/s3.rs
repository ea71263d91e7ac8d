//! The same uploads and downloads against an S3-compatible store: moto's server mode, started
//! on a free port (or the one `S3_TEST_ENDPOINT` names), each test with its own bucket.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::support::{comment_with, upload, Upload};
use crate::helpers::spawn_app_with;

/// A moto server for one test, stopped when dropped.
struct S3Server {
    endpoint: String,
    _child: Option<tokio::process::Child>,
}

async fn s3_server() -> S3Server {
    if let Ok(endpoint) = std::env::var("S3_TEST_ENDPOINT") {
        return S3Server {
            endpoint,
            _child: None,
        };
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto_server (deploy/services.sh installs it)");
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(&endpoint).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    S3Server {
        endpoint,
        _child: Some(child),
    }
}

#[tokio::test]
async fn files_go_to_an_s3_compatible_store_under_the_prefix_and_come_back_whole() {
    // Arrange
    let server = s3_server().await;
    let bucket = format!("ticketd-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", server.endpoint))
        .send()
        .await
        .expect("create the bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let endpoint = server.endpoint.clone();
    let store = format!("s3://{bucket}/tickets/files");
    let app = spawn_app_with(move |s| {
        s.attachments.store = Some(store);
        s.attachments.s3_options = [
            ("aws_endpoint", endpoint.as_str()),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
            ("aws_allow_http", "true"),
            ("aws_virtual_hosted_style_request", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    })
    .await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    // Over one 5 MiB part, so that the multipart upload has several parts.
    let content: Vec<u8> = (0..(6 * 1024 * 1024 + 123))
        .map(|i: u32| (i % 253) as u8)
        .collect();

    // Act
    let info: Value = upload(&app, id, &requester, Upload::file("dump.bin", "", &content))
        .await
        .json()
        .await
        .unwrap();
    comment_with(&app, id, &requester, json!([info["id"]]), false).await;
    let got = app
        .get(
            &format!("/attachments/{}", info["id"].as_str().unwrap()),
            &requester,
        )
        .await;
    let listing = reqwest::get(format!("{}/{bucket}?list-type=2", server.endpoint))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Assert
    assert_eq!(info["sha256"], hex::encode(Sha256::digest(&content)));
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().as_ref(), content.as_slice());
    let key = format!(
        "tickets/files/attachments/{}",
        uuid::Uuid::parse_str(info["id"].as_str().unwrap())
            .unwrap()
            .simple()
    );
    assert!(listing.contains(&key), "{listing}");
}
