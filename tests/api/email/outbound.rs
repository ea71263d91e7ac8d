//! Mail out: staff's public comments and closes reach the requester once, threaded.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::support::*;
use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestUser};

fn mailing(sink: &Sink) -> impl FnOnce(&mut ticketd::settings::Settings) + '_ {
    move |s| {
        listening(s);
        s.email.smtp_url = Some(sink.url().into());
    }
}

async fn comment(app: &TestApp, ticket: Uuid, user: &TestUser, body: &str, internal: bool) {
    let response = app
        .post(
            &format!("/tickets/{ticket}/comments"),
            user,
            json!({"body": body, "internal": internal}),
        )
        .await;
    assert!(
        response.status().is_success(),
        "comment: {}",
        response.status()
    );
}

fn header(mail: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    mail.header_raw(name).map(|v| v.trim().to_string())
}

async fn outbox_ids(app: &TestApp, ticket: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT message_id FROM email_outbox WHERE ticket_id = $1 ORDER BY position")
        .bind(ticket)
        .fetch_all(&app.pool)
        .await
        .expect("read the outbox")
}

#[tokio::test]
async fn staff_comments_and_closes_are_mailed_once_threaded_and_internal_notes_never() {
    // Arrange
    let sink = Sink::start().await;
    let app = spawn_app_with(mailing(&sink)).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;

    // Act: the requester's own comment, an internal note, a public answer, a close.
    comment(&app, ticket, &requester, "Any news?", false).await;
    comment(&app, ticket, &agent, "Toner is low (internal)", true).await;
    comment(&app, ticket, &agent, "We are on it.", false).await;
    let closed = app
        .post(
            &format!("/tickets/{ticket}/close"),
            &agent,
            json!({"resolution": "Toner replaced"}),
        )
        .await;
    assert!(closed.status().is_success());

    // Assert: two mails to the requester, no more.
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.mails().len(),
        2,
        "exactly one mail per public staff event"
    );
    let number = app.stored_events(ticket).await[0].2["number"]
        .as_i64()
        .expect("a number");
    let ids = outbox_ids(&app, ticket).await;
    assert_eq!(ids.len(), 2);
    for (mail, id) in mails.iter().zip(&ids) {
        assert_eq!(
            mail.subject(),
            Some(format!("[#{number}] Printer on floor 3 is jammed").as_str())
        );
        assert_eq!(
            mail.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some(requester.email.as_str())
        );
        assert_eq!(
            mail.from()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("support@helpdesk.test")
        );
        assert_eq!(
            mail.message_id(),
            Some(id.as_str()),
            "the recorded Message-ID"
        );
    }
    let text =
        |m: &mail_parser::Message<'_>| m.body_text(0).map(|t| t.to_string()).unwrap_or_default();
    assert!(text(&mails[0]).contains("We are on it."));
    assert!(!text(&mails[0]).contains("internal"));
    assert!(text(&mails[1]).contains("Toner replaced"));
    assert_eq!(
        header(&mails[0], "In-Reply-To"),
        None,
        "the first mail of the thread"
    );
    assert_eq!(
        header(&mails[1], "In-Reply-To"),
        Some(format!("<{}>", ids[0]))
    );

    // Act: the requester answers the close by mail (threading back).
    let reply = message_id();
    let raw = mail(
        &requester.email,
        &format!("Re: [#{number}] Printer on floor 3 is jammed"),
        &reply,
        &format!("In-Reply-To: <{}>\r\n", ids[1]),
        "Jammed again.",
    );
    deliver(smtp_port(&app).await, &requester.email, raw.as_bytes())
        .await
        .expect("accepted");

    // Assert: her comment on the ticket (reopened), and no mail for her own comment.
    assert_eq!(recorded(&app, &reply).await.2, Some(ticket));
    let last = app.stored_events(ticket).await.pop().expect("events");
    assert_eq!(last.1, "ticket.commented");
    assert_eq!(last.2["via"]["message_id"], reply);
    let (_, body) = app.readyz().await;
    assert_eq!(body["email"]["outbound"]["state"], "up", "{body}");
    assert_eq!(body["email"]["outbound"]["backlog"]["unsent"], 0, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 2);
}

#[tokio::test]
async fn mail_out_waits_through_an_smtp_outage_and_sends_once_when_it_ends() {
    // Arrange: nothing listens where mail should go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = spawn_app_with(|s| {
        listening(s);
        s.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
    })
    .await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;

    // Act: a public answer while the SMTP server is down.
    comment(&app, ticket, &agent, "Hello from the desk.", false).await;

    // Assert: queued, reported as failing, then sent once the server is back.
    eventually(
        "readyz reports the failing channel and its backlog",
        || async {
            let (status, body) = app.readyz().await;
            status.is_success()
                && body["email"]["outbound"]["state"] == "failing"
                && body["email"]["outbound"]["backlog"]["unsent"] == 1
        },
    )
    .await;
    let sink = Sink::start_on(port).await;
    let mails = sink.wait_for(1).await;
    assert!(mails[0]
        .body_text(0)
        .unwrap_or_default()
        .contains("Hello from the desk."));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sink.mails().len(), 1);
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM email_outbox WHERE ticket_id = $1")
            .bind(ticket)
            .fetch_one(&app.pool)
            .await
            .expect("the outbox row");
    assert!(attempts >= 2, "retried: {attempts}");
}

#[tokio::test]
async fn a_mail_is_sent_once_after_the_engine_is_killed_between_commit_and_send() {
    // Arrange: the API in the test process writes the events; mail out runs in an engine
    // process whose SMTP server takes the data and never answers.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;
    comment(&app, ticket, &agent, "First answer.", false).await;
    let sink = Sink::start().await;
    sink.hang.store(true, Ordering::SeqCst);
    let env = [("SMTP_URL", sink.url()), ("EMAIL_FROM", FROM.to_string())];
    let engine = Engine::start(&app, &env).await;
    eventually("the engine is sending the mail", || async {
        sink.hung.load(Ordering::SeqCst) == 1
    })
    .await;

    // Act: kill -9 while the mail is in flight, then start again with a working server.
    engine.kill().await;
    sink.hang.store(false, Ordering::SeqCst);
    comment(&app, ticket, &agent, "Second answer.", false).await;
    let engine = Engine::start(&app, &env).await;

    // Assert: each event's mail exactly once.
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    engine.kill().await;
    let engine = Engine::start(&app, &env).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    engine.kill().await;
    let mails_after = sink.mails();
    assert_eq!(
        mails_after.len(),
        2,
        "one mail per event through the kill and two restarts"
    );
    let bodies: Vec<String> = mails
        .iter()
        .map(|m| m.body_text(0).unwrap_or_default().to_string())
        .collect();
    assert!(bodies[0].contains("First answer."), "{bodies:?}");
    assert!(bodies[1].contains("Second answer."), "{bodies:?}");
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE sent_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn asking_for_information_mails_the_requester_and_her_mailed_answer_resumes_the_ticket() {
    // Arrange
    let sink = Sink::start().await;
    let app = spawn_app_with(mailing(&sink)).await;
    let requester = app.user("requester").await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&requester).await;

    // Act: staff ask for information.
    let pending = app
        .post(
            &format!("/tickets/{ticket}/pending"),
            &agent,
            json!({"reason": "Which floor exactly?"}),
        )
        .await;
    assert_eq!(pending.status(), 200);

    // Assert: one mail to the requester, with the question.
    let mails = sink.wait_for(1).await;
    let number = app.stored_events(ticket).await[0].2["number"]
        .as_i64()
        .expect("a number");
    assert_eq!(
        mails[0].subject(),
        Some(format!("[#{number}] Printer on floor 3 is jammed").as_str())
    );
    assert_eq!(
        mails[0]
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some(requester.email.as_str())
    );
    let text = mails[0]
        .body_text(0)
        .map(|t| t.to_string())
        .unwrap_or_default();
    assert!(text.contains("Which floor exactly?"), "{text}");
    let ids = outbox_ids(&app, ticket).await;
    assert_eq!(ids.len(), 1);

    // Act: she answers by mail, threaded on that mail.
    let reply = message_id();
    let raw = mail(
        &requester.email,
        &format!("Re: [#{number}] Printer on floor 3 is jammed"),
        &reply,
        &format!("In-Reply-To: <{}>\r\n", ids[0]),
        "Floor 3, by the window.",
    );
    deliver(smtp_port(&app).await, &requester.email, raw.as_bytes())
        .await
        .expect("accepted");

    // Assert: her comment, then the ticket resumed by the requester; no mail for either.
    assert_eq!(recorded(&app, &reply).await.2, Some(ticket));
    let events = app.stored_events(ticket).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["ticket.pending", "ticket.commented", "ticket.resumed"]
    );
    assert_eq!(events[events.len() - 1].2["by"], "requester");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.mails().len(), 1);
}

/// `POST /users/{dup}/merge {into: kept}` as `admin`.
async fn merge(app: &TestApp, admin: &TestUser, dup: Uuid, kept: Uuid) {
    let merged = app
        .post(&format!("/users/{dup}/merge"), admin, json!({"into": kept}))
        .await;
    assert!(merged.status().is_success(), "merge: {}", merged.status());
}

fn recipient(mail: &mail_parser::Message<'_>) -> Option<String> {
    mail.to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_string)
}

#[tokio::test]
async fn a_merged_requesters_tickets_are_mailed_to_the_user_kept_or_to_their_own_address() {
    // Arrange: Bo opened a ticket, then turned out to be Ann's duplicate; Cy opened one and was
    // merged into Di, whom the directory knows by phone only.
    let sink = Sink::start().await;
    let app = spawn_app_with(mailing(&sink)).await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let (bo, ann) = (app.user("requester").await, app.user("requester").await);
    let bos_ticket = app.create_ticket(&bo).await;
    merge(&app, &admin, bo.id, ann.id).await;
    let cy = app.user("requester").await;
    let cys_ticket = app.create_ticket(&cy).await;
    let di = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, phone, name, role, origin)
         VALUES ($1, '+5511955554444', 'Di', 'requester', 'intake')",
    )
    .bind(di)
    .execute(&app.pool)
    .await
    .expect("a user without an address");
    merge(&app, &admin, cy.id, di).await;

    // Act: staff answer both old tickets.
    comment(&app, bos_ticket, &agent, "Your printer is fixed.", false).await;
    let mails = sink.wait_for(1).await;
    comment(&app, cys_ticket, &agent, "Your VPN is back.", false).await;
    let mails_after = sink.wait_for(2).await;

    // Assert: the answer on Bo's ticket went to Ann, the person kept, and not to Bo's address;
    // Di has no address, so Cy's own (the same person's) is the one left.
    assert_eq!(mails.len(), 1);
    assert_eq!(recipient(&mails[0]).as_deref(), Some(ann.email.as_str()));
    assert!(mails[0]
        .body_text(0)
        .unwrap_or_default()
        .contains("Your printer is fixed."));
    assert_eq!(
        recipient(&mails_after[1]).as_deref(),
        Some(cy.email.as_str())
    );
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT recipient FROM email_outbox ORDER BY position")
            .fetch_all(&app.pool)
            .await
            .expect("the outbox");
    assert_eq!(recorded, [ann.email.clone(), cy.email.clone()]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.mails().len(), 2, "one mail per event");
}
