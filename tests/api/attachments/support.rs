//! Multipart bodies written out byte for byte (so that hostile names reach the engine as sent),
//! raw connections for cut and oversized uploads, and a look into the local store.

use reqwest::Response;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, SECRET};

const BOUNDARY: &str = "ticketd-test-boundary";

/// One file part.
pub struct Upload {
    body: Vec<u8>,
    chunked: bool,
}

impl Upload {
    /// A part named `file` with this file name and media type (none when empty).
    pub fn file(filename: &str, content_type: &str, content: &[u8]) -> Self {
        Self::part(
            format!("form-data; name=\"file\"; filename=\"{filename}\"").as_bytes(),
            content_type,
            content,
        )
    }

    /// A part named `file` with a `Content-Disposition` value written as given.
    pub fn part(disposition: &[u8], content_type: &str, content: &[u8]) -> Self {
        let mut body = format!("--{BOUNDARY}\r\nContent-Disposition: ").into_bytes();
        body.extend_from_slice(disposition);
        body.extend_from_slice(b"\r\n");
        if !content_type.is_empty() {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        Self {
            body,
            chunked: false,
        }
    }

    /// Sent without a length, in chunks: only the streaming check can stop it.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

/// `POST /tickets/{id}/attachments`.
pub async fn upload(app: &TestApp, ticket: Uuid, by: &TestUser, file: Upload) -> Response {
    upload_to(
        app,
        &format!("/tickets/{ticket}/attachments"),
        &by.token,
        file,
    )
    .await
}

/// `POST /intake/attachments` with an integration's key.
pub async fn intake_upload(app: &TestApp, key: &str, file: Upload) -> Response {
    upload_to(app, "/intake/attachments", key, file).await
}

async fn upload_to(app: &TestApp, path: &str, token: &str, file: Upload) -> Response {
    let request = app.client.post(app.api(path)).bearer_auth(token).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    let request = if file.chunked {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = file
            .body
            .chunks(16 * 1024)
            .map(|c| Ok(c.to_vec()))
            .collect();
        request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
    } else {
        request.body(file.body)
    };
    request.send().await.expect("upload")
}

/// `POST /tickets/{id}/comments` listing `ids`.
pub async fn comment_with(
    app: &TestApp,
    ticket: Uuid,
    by: &TestUser,
    ids: Value,
    internal: bool,
) -> Response {
    app.post(
        &format!("/tickets/{ticket}/comments"),
        by,
        json!({"body": "see the file", "internal": internal, "attachment_ids": ids}),
    )
    .await
}

/// Sends an upload's head declaring `length` bytes and then `sent`; closes the connection
/// (`cut`) or waits for the answer, which it returns.
pub async fn raw_upload(
    app: &TestApp,
    ticket: Uuid,
    by: &TestUser,
    length: u64,
    sent: &[u8],
    cut: bool,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/tickets/{ticket}/attachments HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=x\r\n\
         Content-Length: {length}\r\n\r\n",
        by.token
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    stream.write_all(sent).await.expect("send the body");
    if cut {
        drop(stream);
        return String::new();
    }
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .expect("read the answer");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

/// The files in the local store, staging files included.
pub async fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&app.settings.attachments.dir, &mut found);
    found
}

/// Runs the `ticketd` binary against the test's database and attachment directory.
pub async fn run_ticketd(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketd"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("JWT_SECRET", SECRET)
        .env("ATTACHMENT_DIR", &app.settings.attachments.dir)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run ticketd")
}
