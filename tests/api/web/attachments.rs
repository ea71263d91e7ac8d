//! Attachments in the web app: a requester attaches a file to a comment, sees it listed under
//! the comment as a download, and the comment's event holds the file's SHA-256.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use ticketd::domain::Role;

use super::browser::{finish, person, Driver};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_requester_attaches_a_file_to_a_comment_and_sees_it_listed() {
    // Arrange
    let app = spawn_app().await;
    let rita = person(&app, Role::Requester, "Rita Requester").await;
    let ticket = app
        .create_ticket_with(&rita.user, json!({"title": "Screen flickers"}))
        .await;
    let dir =
        std::env::temp_dir().join(format!("ticketd-upload-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a directory for the file");
    let path = dir.join("flicker-log.txt");
    let content = b"12:00 flicker\n12:01 flicker again\n";
    std::fs::write(&path, content).expect("write the file");
    let mut driver = Driver::start().await;
    let browser = driver.open(&app, "en-US").await;

    let outcome: Result<()> = async {
        browser.visit("/").await?;
        browser.sign_in(&rita).await?;
        browser.follow("Screen flickers").await?;

        // Act
        browser.fill("Comment", "Here is the log").await?;
        browser
            .by_label("Attach files")
            .await?
            .send_keys(path.to_str().context("a UTF-8 path")?)
            .await
            .context("pick the file")?;
        browser.press("Comment").await?;

        // Assert
        browser.sees("Here is the log").await?;
        browser.by_role("button", "flicker-log.txt").await?;
        browser.accessible("ticket-attachments").await?;
        Ok(())
    }
    .await;
    let history: Value = app
        .get(&format!("/tickets/{ticket}/history"), &rita.user)
        .await
        .json()
        .await
        .unwrap_or_default();
    let outcome = outcome.and_then(|()| {
        let files = history["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["type"] == "ticket.commented"))
            .map(|e| e["data"]["attachments"].clone())
            .unwrap_or_default();
        ensure!(
            files[0]["sha256"] == hex::encode(Sha256::digest(content)),
            "the comment lists the file with its hash: {files}"
        );
        ensure!(files[0]["filename"] == "flicker-log.txt", "{files}");
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    finish("requester_attaches", outcome, vec![("requester", browser)]).await;
}
