//! Attachments (CONTRACT 10): uploads streamed and hashed, the hash in `ticket.commented`,
//! downloads only to readers of the comment, the limits, hostile names, cut uploads, orphans,
//! `ticketd verify --files`, and an S3-compatible store.

mod hostile;
mod intake;
mod s3;
mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{failing_fields, problem, spawn_app, spawn_app_with};
use support::{comment_with, raw_upload, stored_files, upload, Upload};

#[tokio::test]
async fn a_file_on_a_comment_is_listed_with_its_sha256_and_downloads_byte_for_byte() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let expected = hex::encode(Sha256::digest(&content));

    // Act
    let uploaded = upload(
        &app,
        id,
        &requester,
        Upload::file("log.txt", "text/plain", &content),
    )
    .await;
    let status = uploaded.status();
    let info: Value = uploaded.json().await.unwrap();
    let commented = comment_with(&app, id, &requester, json!([info["id"]]), false).await;
    let commented_status = commented.status();
    let download = app
        .get(
            &format!("/attachments/{}", info["id"].as_str().unwrap()),
            &requester,
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(info["filename"], "log.txt");
    assert_eq!(info["content_type"], "text/plain");
    assert_eq!(info["size"], content.len());
    assert_eq!(info["sha256"], expected);
    assert_eq!(commented_status, StatusCode::OK);
    let events = app.stored_events(id).await;
    let (_, _, data, _) = events
        .iter()
        .find(|(_, t, _, _)| t == "ticket.commented")
        .unwrap();
    assert_eq!(
        data["attachments"],
        json!([{"id": info["id"], "filename": "log.txt", "content_type": "text/plain",
                "size": content.len(), "sha256": expected}])
    );
    assert_eq!(download.status(), StatusCode::OK);
    let headers = download.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"log.txt\"; filename*=UTF-8''log.txt"
    );
    assert_eq!(headers["accept-ranges"], "bytes");
    let body = download.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        expected,
        "recomputed independently"
    );
}

#[tokio::test]
async fn a_range_request_gets_206_with_those_bytes_and_one_past_the_end_gets_416() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
    let info: Value = upload(&app, id, &agent, Upload::file("a.bin", "", &content))
        .await
        .json()
        .await
        .unwrap();
    comment_with(&app, id, &agent, json!([info["id"]]), false).await;
    let url = app.api(&format!("/attachments/{}", info["id"].as_str().unwrap()));

    // Act
    let part = app
        .client
        .get(&url)
        .bearer_auth(&agent.token)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    let tail = app
        .client
        .get(&url)
        .bearer_auth(&agent.token)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    let past = app
        .client
        .get(&url)
        .bearer_auth(&agent.token)
        .header("range", "bytes=10000-")
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(
        info["content_type"], "application/octet-stream",
        "none declared"
    );
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &content[100..200]);
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &content[9990..]);
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers()["content-range"], "bytes */10000");
}

#[tokio::test]
async fn a_requester_never_gets_an_internal_comments_file_nor_another_requesters() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let stranger = app.user("requester").await;
    let agent = app.user("agent").await;
    let auditor = app.user("auditor").await;
    let id = app.create_ticket(&requester).await;
    let internal: Value = upload(
        &app,
        id,
        &agent,
        Upload::file("secret.txt", "text/plain", b"internal"),
    )
    .await
    .json()
    .await
    .unwrap();
    let public: Value = upload(
        &app,
        id,
        &agent,
        Upload::file("public.txt", "text/plain", b"public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let unlisted: Value = upload(
        &app,
        id,
        &agent,
        Upload::file("draft.txt", "text/plain", b"draft"),
    )
    .await
    .json()
    .await
    .unwrap();
    comment_with(&app, id, &agent, json!([internal["id"]]), true).await;
    comment_with(&app, id, &agent, json!([public["id"]]), false).await;
    let path = |v: &Value| format!("/attachments/{}", v["id"].as_str().unwrap());

    // Act
    let requester_internal = app.get(&path(&internal), &requester).await;
    let requester_public = app.get(&path(&public), &requester).await;
    let stranger_public = app.get(&path(&public), &stranger).await;
    let agent_internal = app.get(&path(&internal), &agent).await;
    let auditor_internal = app.get(&path(&internal), &auditor).await;
    let unlisted_by_agent = app.get(&path(&unlisted), &agent).await;
    let unknown = app.get("/attachments/not-an-id", &agent).await;

    // Assert
    problem(requester_internal, StatusCode::NOT_FOUND).await;
    assert_eq!(requester_public.status(), StatusCode::OK);
    problem(stranger_public, StatusCode::NOT_FOUND).await;
    assert_eq!(agent_internal.status(), StatusCode::OK);
    assert_eq!(auditor_internal.status(), StatusCode::OK);
    problem(unlisted_by_agent, StatusCode::NOT_FOUND).await;
    problem(unknown, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn uploads_are_refused_to_auditors_and_to_requesters_of_other_tickets() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let stranger = app.user("requester").await;
    let auditor = app.user("auditor").await;
    let id = app.create_ticket(&requester).await;

    // Act
    let by_stranger = upload(&app, id, &stranger, Upload::file("a", "", b"x")).await;
    let by_auditor = upload(&app, id, &auditor, Upload::file("a", "", b"x")).await;
    let no_ticket = upload(
        &app,
        uuid::Uuid::now_v7(),
        &requester,
        Upload::file("a", "", b"x"),
    )
    .await;

    // Assert
    problem(by_stranger, StatusCode::NOT_FOUND).await;
    problem(by_auditor, StatusCode::FORBIDDEN).await;
    problem(no_ticket, StatusCode::NOT_FOUND).await;
    assert!(stored_files(&app).await.is_empty());
}

#[tokio::test]
async fn a_comment_may_list_only_its_authors_unused_uploads_to_that_ticket() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&requester).await;
    let other = app.create_ticket(&requester).await;
    let agents: Value = upload(&app, id, &agent, Upload::file("a", "", b"a"))
        .await
        .json()
        .await
        .unwrap();
    let elsewhere: Value = upload(&app, other, &requester, Upload::file("b", "", b"b"))
        .await
        .json()
        .await
        .unwrap();
    let used: Value = upload(&app, id, &requester, Upload::file("c", "", b"c"))
        .await
        .json()
        .await
        .unwrap();
    comment_with(&app, id, &requester, json!([used["id"]]), false).await;
    let before = app.stored_events(id).await.len();

    // Act
    let someone_elses = comment_with(&app, id, &requester, json!([agents["id"]]), false).await;
    let other_ticket = comment_with(&app, id, &requester, json!([elsewhere["id"]]), false).await;
    let again = comment_with(&app, id, &requester, json!([used["id"]]), false).await;
    let unknown = comment_with(&app, id, &requester, json!([uuid::Uuid::now_v7()]), false).await;
    let not_ids = comment_with(&app, id, &requester, json!(["x"]), false).await;
    let repeated = comment_with(&app, id, &requester, json!([used["id"], used["id"]]), false).await;

    // Assert
    for refused in [
        someone_elses,
        other_ticket,
        again,
        unknown,
        not_ids,
        repeated,
    ] {
        let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&body), vec!["attachment_ids"]);
    }
    assert_eq!(
        app.stored_events(id).await.len(),
        before,
        "nothing recorded"
    );
}

#[tokio::test]
async fn a_file_over_the_limit_is_413_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app_with(|s| s.attachments.max_bytes = 64 * 1024).await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let big = vec![7u8; 200 * 1024];

    // Act
    let streamed = upload(
        &app,
        id,
        &requester,
        Upload::file("big.bin", "", &big).chunked(),
    )
    .await;
    let exact = upload(
        &app,
        id,
        &requester,
        Upload::file("ok.bin", "", &big[..64 * 1024]),
    )
    .await;

    // Assert
    problem(streamed, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(
        exact.status(),
        StatusCode::CREATED,
        "the limit itself is allowed"
    );
    assert_eq!(
        stored_files(&app).await.len(),
        1,
        "only the file within the limit"
    );
}

#[tokio::test]
async fn a_declared_2_gib_upload_is_refused_before_its_body_is_read() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;

    // Act: the headers promise 2 GiB; a few bytes follow and the connection stays open.
    let started = std::time::Instant::now();
    let answer = raw_upload(
        &app,
        id,
        &requester,
        2 * 1024 * 1024 * 1024,
        b"--x\r\n",
        false,
    )
    .await;

    // Assert
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(stored_files(&app).await.is_empty());
}

#[tokio::test]
async fn an_upload_cut_mid_stream_leaves_nothing_stored_or_recorded() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let mut partial =
        b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n"
            .to_vec();
    partial.extend(vec![1u8; 512 * 1024]);

    // Act: a million bytes announced, half a megabyte sent, then the connection closes.
    raw_upload(&app, id, &requester, 1_000_000, &partial, true).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // Assert
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0);
    assert!(stored_files(&app).await.is_empty(), "no partial file left");
}

#[tokio::test]
async fn orphans_go_after_their_age_and_listed_files_stay() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let listed: Value = upload(&app, id, &requester, Upload::file("kept", "", b"k"))
        .await
        .json()
        .await
        .unwrap();
    upload(&app, id, &requester, Upload::file("orphan", "", b"o")).await;
    comment_with(&app, id, &requester, json!([listed["id"]]), false).await;
    // A lost mark: the event log still lists the file.
    sqlx::query("UPDATE attachments SET referenced_at = NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let store = &app.state.attachments;

    // Act
    let young =
        ticketd::attachments::sweep_orphans(&app.pool, store, ticketd::attachments::ORPHAN_AGE)
            .await
            .unwrap();
    let old = ticketd::attachments::sweep_orphans(&app.pool, store, std::time::Duration::ZERO)
        .await
        .unwrap();

    // Assert
    assert_eq!(young, 0, "nothing is 24 h old yet");
    assert_eq!(old, 1);
    assert_eq!(stored_files(&app).await.len(), 1);
    let download = app
        .get(
            &format!("/attachments/{}", listed["id"].as_str().unwrap()),
            &requester,
        )
        .await;
    assert_eq!(download.status(), StatusCode::OK);
}

#[tokio::test]
async fn verify_files_reports_an_altered_file_and_passes_an_intact_one() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let info: Value = upload(&app, id, &requester, Upload::file("a.txt", "", b"original"))
        .await
        .json()
        .await
        .unwrap();
    comment_with(&app, id, &requester, json!([info["id"]]), false).await;
    let ticket = id.to_string();

    // Act
    let intact = support::run_ticketd(&app, &["verify", &ticket, "--files"]).await;
    let files = stored_files(&app).await;
    std::fs::write(&files[0], b"tampered").unwrap();
    let altered = support::run_ticketd(&app, &["verify", "--all", "--files"]).await;

    // Assert
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    let line: Value =
        serde_json::from_slice(intact.stdout.split(|b| *b == b'\n').nth(1).unwrap()).unwrap();
    assert_eq!(line["valid"], true);
    assert!(!altered.status.success());
    let out = String::from_utf8_lossy(&altered.stdout);
    let report: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(report["attachment_id"], info["id"]);
    assert_eq!(report["valid"], false);
}

#[tokio::test]
async fn a_retried_comment_with_files_gets_its_first_answer_again() {
    // Arrange
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let id = app.create_ticket(&requester).await;
    let info: Value = upload(&app, id, &requester, Upload::file("a", "", b"a"))
        .await
        .json()
        .await
        .unwrap();
    let send = || {
        app.client
            .post(app.api(&format!("/tickets/{id}/comments")))
            .bearer_auth(&requester.token)
            .header("idempotency-key", "comment-with-file-1")
            .json(&json!({"body": "see the file", "attachment_ids": [info["id"]]}))
            .send()
    };

    // Act
    let first = send().await.unwrap();
    let first_status = first.status();
    let first_body: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    let again_status = again.status();
    let again_body: Value = again.json().await.unwrap();

    // Assert
    assert_eq!(first_status, StatusCode::OK);
    assert_eq!(again_status, StatusCode::OK, "{again_body}");
    assert_eq!(again_body["version"], first_body["version"]);
    let comments = app
        .stored_events(id)
        .await
        .into_iter()
        .filter(|(_, t, _, _)| t == "ticket.commented")
        .count();
    assert_eq!(comments, 1);
}
