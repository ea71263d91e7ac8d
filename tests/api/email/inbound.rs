//! Mail in: by SMTP to the engine's listener and by IMAP from a mailbox it polls.

use serde_json::json;

use super::support::*;
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_mail_opens_a_ticket_for_its_sender_and_replies_thread_onto_it() {
    // Arrange
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let first = message_id();

    // Act: a new mail from an unknown address.
    let raw = mail(
        "Rita Requester <Rita@Client.test>",
        "Printer jammed",
        &first,
        "",
        "It blinks orange.",
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert: a ticket on channel email, its requester created from From.
    let (outcome, _, ticket) = recorded(&app, &first).await;
    assert_eq!(outcome, "created");
    let ticket = ticket.expect("a ticket");
    let events = events_of(&app, ticket).await;
    let created = &events[0].1;
    assert_eq!(events[0].0, "ticket.created");
    assert_eq!(created["channel"], "email");
    assert_eq!(created["title"], "Printer jammed");
    assert_eq!(created["description"], "It blinks orange.");
    // Stored as the directory keeps contacts: normalized (trimmed, lower case; CONTRACT 7).
    assert_eq!(created["requester"]["email"], "rita@client.test");
    assert_eq!(created["requester"]["name"], "Rita Requester");
    let (role, password): (String, Option<String>) = sqlx::query_as(
        "SELECT role, password_hash FROM users WHERE lower(email) = 'rita@client.test'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the requester was added");
    assert_eq!((role.as_str(), password), ("requester", None));
    let number = created["number"].as_i64().expect("a number");

    // Act: a reply by In-Reply-To, and one naming the ticket only by [#number].
    let reply = message_id();
    let raw = mail(
        "rita@client.test",
        "Re: Printer jammed",
        &reply,
        &format!("In-Reply-To: <{first}>\r\nReferences: <{first}>\r\n"),
        "Still jammed.",
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");
    let by_number = message_id();
    let raw = mail(
        "rita@client.test",
        &format!("Re: [#{number}] Printer jammed"),
        &by_number,
        "",
        "Any news?",
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert: both are her comments on the ticket, with the message that carried them.
    assert_eq!(
        recorded(&app, &reply).await,
        ("commented".into(), None, Some(ticket))
    );
    assert_eq!(recorded(&app, &by_number).await.2, Some(ticket));
    let events = events_of(&app, ticket).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[1].0, "ticket.commented");
    assert_eq!(events[1].1["body"], "Still jammed.");
    assert_eq!(events[1].1["author"]["role"], "requester");
    assert_eq!(events[1].1["internal"], false);
    assert_eq!(
        events[1].1["via"],
        json!({"channel": "email", "message_id": reply})
    );
    assert_eq!(events[2].1["body"], "Any news?");
    let actor = &app.stored_events(ticket).await[1].3["actorid"];
    assert_eq!(actor, &json!(created["requester"]["id"]));
}

#[tokio::test]
async fn a_staff_reply_is_a_public_comment_and_a_strangers_or_forged_reply_a_new_ticket() {
    // Arrange: Rita's ticket, by mail.
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let agent = app.user("agent").await;
    let first = message_id();
    let raw = mail("rita@client.test", "VPN down", &first, "", "No VPN.");
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");
    let ticket = recorded(&app, &first).await.2.expect("a ticket");
    let answering = |from: &str, id: &str| {
        mail(
            from,
            "Re: VPN down",
            id,
            &format!("In-Reply-To: <{first}>\r\n"),
            "Answer.",
        )
    };

    // Act: the agent answers by mail; a stranger forges an In-Reply-To naming Rita's mail.
    let by_agent = message_id();
    deliver(
        port,
        &agent.email,
        answering(&agent.email, &by_agent).as_bytes(),
    )
    .await
    .expect("accepted");
    let forged = message_id();
    deliver(
        port,
        "mallory@evil.test",
        answering("mallory@evil.test", &forged).as_bytes(),
    )
    .await
    .expect("accepted");

    // Assert: the agent's reply is a public comment by the agent; the forged one opened a
    // ticket of Mallory's own and left Rita's alone.
    assert_eq!(recorded(&app, &by_agent).await.2, Some(ticket));
    let events = events_of(&app, ticket).await;
    assert_eq!(
        events.len(),
        2,
        "only the agent's comment joined: {events:?}"
    );
    assert_eq!(events[1].1["author"]["id"], json!(agent.id));
    assert_eq!(events[1].1["internal"], false);
    let (outcome, reason, other) = recorded(&app, &forged).await;
    assert_eq!(outcome, "created");
    assert!(
        reason.unwrap_or_default().contains("neither"),
        "the reason says why"
    );
    let other = other.expect("a ticket");
    assert_ne!(other, ticket);
    let created = &events_of(&app, other).await[0].1;
    assert_eq!(created["requester"]["email"], "mallory@evil.test");
}

#[tokio::test]
async fn a_reply_to_a_closed_ticket_reopens_it() {
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let agent = app.user("agent").await;
    let first = message_id();
    deliver(
        port,
        "rita@client.test",
        mail("rita@client.test", "Mouse", &first, "", "Broken.").as_bytes(),
    )
    .await
    .expect("accepted");
    let ticket = recorded(&app, &first).await.2.expect("a ticket");
    let closed = app
        .post(
            &format!("/tickets/{ticket}/close"),
            &agent,
            json!({"resolution": "new mouse"}),
        )
        .await;
    assert!(closed.status().is_success(), "{}", closed.status());

    let reply = message_id();
    let raw = mail(
        "rita@client.test",
        "Re: Mouse",
        &reply,
        &format!("In-Reply-To: <{first}>\r\n"),
        "Still broken.",
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    assert_eq!(recorded(&app, &reply).await.0, "commented");
    let kinds: Vec<String> = events_of(&app, ticket)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            "ticket.created",
            "ticket.closed",
            "ticket.reopened",
            "ticket.commented"
        ]
    );
}

#[tokio::test]
async fn the_listener_refuses_unknown_recipients_with_550_and_large_mail_with_552() {
    // Arrange: a 1 MB limit, so that the test sends little.
    let app = spawn_app_with(|s| {
        listening(s);
        s.email.max_bytes = 1_000_000;
    })
    .await;
    let port = smtp_port(&app).await;
    let before = app.event_count().await;
    let mut smtp = RawSmtp::connect(port).await;
    assert_eq!(smtp.command("EHLO client.test").await, 250);

    // Act / Assert: recipients.
    assert_eq!(smtp.command("MAIL FROM:<a@client.test>").await, 250);
    assert_eq!(
        smtp.command("RCPT TO:<someone@else.test>").await,
        550,
        "not ours"
    );
    assert_eq!(smtp.command("DATA").await, 503, "no recipient accepted yet");
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{}>", SUPPORT.to_uppercase()))
            .await,
        250
    );

    // Act / Assert: a mail above the limit is read to its end and refused at DATA.
    assert_eq!(smtp.command("DATA").await, 354);
    smtp.send(b"From: a@client.test\r\nSubject: big\r\n\r\n")
        .await;
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..1_100 {
        smtp.send(line.as_bytes()).await;
    }
    smtp.send(b".\r\n").await;
    assert_eq!(smtp.reply().await, 552);
    // A declared size above the limit is refused before any data.
    assert_eq!(
        smtp.command("MAIL FROM:<a@client.test> SIZE=2000000").await,
        552
    );

    // Assert: nothing stored, and the same session still takes a mail.
    assert_eq!(app.event_count().await, before);
    assert_eq!(smtp.command("MAIL FROM:<a@client.test>").await, 250);
    assert_eq!(smtp.command(&format!("RCPT TO:<{SUPPORT}>")).await, 250);
    assert_eq!(smtp.command("DATA").await, 354);
    let id = message_id();
    smtp.send(mail("a@client.test", "small", &id, "", "fine").as_bytes())
        .await;
    assert_eq!(smtp.command(".").await, 250);
    assert_eq!(smtp.command("QUIT").await, 221);
    assert_eq!(recorded(&app, &id).await.0, "created");
}

#[tokio::test]
async fn the_listener_refuses_a_30_mb_mail_at_the_default_limit() {
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let before = app.event_count().await;
    let body = "y".repeat(76) + "\r\n";
    let raw = mail(
        "a@client.test",
        "huge",
        &message_id(),
        "",
        &body.repeat(30 * 1024 * 1024 / 78),
    );

    let refused = deliver(port, "a@client.test", raw.as_bytes()).await;

    let error = refused.expect_err("refused");
    assert!(error.contains("552"), "{error}");
    assert_eq!(app.event_count().await, before);
    let (status, _) = app.readyz().await;
    assert!(status.is_success(), "the engine keeps serving");
}

#[tokio::test]
async fn loops_and_unreadable_mail_are_recorded_as_ignored_and_change_nothing() {
    // Arrange
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let before = app.event_count().await;
    let users_before: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .expect("count users");
    let mut nested = String::from("Content-Type: multipart/mixed; boundary=b0\r\n");
    let mut nested_body = String::new();
    for i in 1..=60 {
        nested_body.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=b{i}\r\n\r\n",
            i - 1
        ));
    }
    nested_body.push_str("--b60\r\nContent-Type: text/plain\r\n\r\nbottom");
    nested.push_str("MIME-Version: 1.0\r\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "an auto-reply",
            mail("a@client.test", "Out of office", &message_id(), "Auto-Submitted: auto-replied\r\n", "away").into_bytes(),
            "Auto-Submitted",
        ),
        (
            "bulk mail",
            mail("a@client.test", "Newsletter", &message_id(), "Precedence: bulk\r\n", "news").into_bytes(),
            "Precedence: bulk",
        ),
        (
            "a mailing list",
            mail("a@client.test", "List", &message_id(), "Precedence: list\r\n", "list").into_bytes(),
            "Precedence: list",
        ),
        (
            "our own mail coming back",
            mail(SUPPORT, "[#1] Looping", &message_id(), "", "loop").into_bytes(),
            "own address",
        ),
        (
            "no From",
            format!("To: {SUPPORT}\r\nSubject: anonymous\r\nMessage-ID: <{}>\r\n\r\nwho?\r\n", message_id()).into_bytes(),
            "no From",
        ),
        (
            "8-bit header bytes",
            [b"From: a@client.test\r\nSubject: caf\xe9 cr\xe8me\r\nMessage-ID: <8bit@client.test>\r\n\r\nbody\r\n".as_slice()].concat(),
            "8-bit",
        ),
        (
            "an unknown charset",
            mail("a@client.test", "charset", &message_id(), "Content-Type: text/plain; charset=x-unknown-42\r\n", "body").into_bytes(),
            "unknown charset",
        ),
        (
            "deeply nested multipart",
            mail("a@client.test", "nested", &message_id(), &nested, &nested_body).into_bytes(),
            "nested deeper",
        ),
        (
            "malformed MIME",
            b"\x00\x01garbage without headers\r\n\r\n".to_vec(),
            "not a MIME message",
        ),
    ];

    for (case, raw, reason) in cases {
        // Act
        deliver(port, "a@client.test", &raw)
            .await
            .unwrap_or_else(|e| panic!("{case}: the listener answers: {e}"));
        // Assert: recorded with its reason.
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT outcome, reason FROM email_inbound ORDER BY received_at DESC LIMIT 1",
        )
        .fetch_optional(&app.pool)
        .await
        .expect("read email_inbound");
        let (outcome, recorded_reason) = row.unwrap_or_else(|| panic!("{case}: recorded"));
        assert_eq!(outcome, "ignored", "{case}");
        let recorded_reason = recorded_reason.unwrap_or_default();
        assert!(
            recorded_reason.contains(reason),
            "{case}: {recorded_reason}"
        );
    }

    // Assert: nothing stored changed, and the engine serves.
    assert_eq!(app.event_count().await, before);
    let users_after: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .expect("count users");
    assert_eq!(users_after, users_before, "no user made for ignored mail");
    let ignored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_inbound WHERE outcome = 'ignored'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(ignored, 9);
    assert!(app.readyz().await.0.is_success());
}

#[tokio::test]
async fn imap_mail_becomes_tickets_once_and_is_marked_seen_even_when_smtp_brings_it_too() {
    // Arrange: a mailbox of this test's own, polled, and the SMTP listener too.
    let mut mailbox = Mailbox::create().await;
    let url = mailbox.url();
    let app = spawn_app_with(|s| {
        listening(s);
        s.email.imap_url = Some(url.into());
        s.email.imap_poll = std::time::Duration::from_millis(100);
    })
    .await;
    let port = smtp_port(&app).await;
    let both = message_id();
    let only_imap = message_id();
    let raw = mail(
        "ivy@client.test",
        "Both ways",
        &both,
        "",
        "Twice delivered.",
    );

    // Act: one mail by SMTP and by IMAP, another by IMAP only, and the first by SMTP again.
    deliver(port, "ivy@client.test", raw.as_bytes())
        .await
        .expect("accepted");
    mailbox.append(&raw).await;
    mailbox
        .append(&mail(
            "ivy@client.test",
            "IMAP only",
            &only_imap,
            "",
            "Polled.",
        ))
        .await;
    deliver(port, "ivy@client.test", raw.as_bytes())
        .await
        .expect("accepted again");

    // Assert: two tickets, one per Message-ID; both IMAP messages marked seen.
    let ticket = recorded(&app, &both).await.2.expect("a ticket");
    let (outcome, _, polled) = recorded(&app, &only_imap).await;
    assert_eq!(outcome, "created");
    eventually("both IMAP messages are marked seen", || async {
        let mut probe = Mailbox::open(&mailbox.name).await;
        probe.seen().await == 2
    })
    .await;
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ticket.created'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(created, 2, "one ticket per message");
    assert_ne!(Some(ticket), polled);
    assert_eq!(events_of(&app, ticket).await.len(), 1);
    let (_, body) = app.readyz().await;
    assert_eq!(body["email"]["imap"]["state"], "up", "{body}");
    assert_eq!(body["email"]["smtp_listener"]["state"], "up", "{body}");
    assert_eq!(body["email"]["outbound"]["state"], "disabled", "{body}");
    mailbox.remove().await;
}

#[tokio::test]
async fn without_mail_settings_readyz_says_each_channel_is_disabled() {
    let app = crate::helpers::spawn_app().await;

    let (status, body) = app.readyz().await;

    assert!(status.is_success());
    for channel in ["smtp_listener", "imap", "outbound"] {
        assert_eq!(
            body["email"][channel]["state"], "disabled",
            "{channel}: {body}"
        );
    }
}

#[tokio::test]
async fn concurrent_deliveries_of_one_new_mail_open_one_ticket_for_one_new_user() {
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let id = message_id();
    let raw = mail(
        "nina@client.test",
        "Race",
        &id,
        "",
        "Sent four times at once.",
    );

    let deliveries: Vec<_> = (0..4)
        .map(|_| {
            let raw = raw.clone();
            tokio::spawn(async move { deliver(port, "nina@client.test", raw.as_bytes()).await })
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("joined").expect("accepted");
    }

    recorded(&app, &id).await;
    let (tickets, users): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE event_type = 'ticket.created'),
                (SELECT count(*) FROM users WHERE lower(email) = 'nina@client.test')",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!((tickets, users), (1, 1));
}

#[tokio::test]
async fn a_mail_delivered_again_after_a_crash_before_its_row_applies_nothing_and_is_recorded() {
    // Arrange: a mail applied, then its email_inbound row lost, as a crash between the event's
    // commit and the row's write would leave it.
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let id = message_id();
    let raw = mail("olga@client.test", "Crash", &id, "", "Once only.");
    deliver(port, "olga@client.test", raw.as_bytes())
        .await
        .expect("accepted");
    let ticket = recorded(&app, &id).await.2;
    sqlx::query("DELETE FROM email_inbound WHERE message_id = $1")
        .bind(&id)
        .execute(&app.pool)
        .await
        .expect("lose the row");
    let before = app.event_count().await;

    // Act: the sending server delivers it again.
    deliver(port, "olga@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert: the row is back, naming the first ticket; no event was added.
    assert_eq!(recorded(&app, &id).await, ("created".into(), None, ticket));
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn an_imap_message_above_the_limit_is_recorded_as_ignored_and_marked_seen() {
    let mut mailbox = Mailbox::create().await;
    let url = mailbox.url();
    let app = spawn_app_with(|s| {
        s.email.imap_url = Some(url.into());
        s.email.imap_poll = std::time::Duration::from_millis(100);
        s.email.max_bytes = 1_000;
    })
    .await;
    let id = message_id();

    mailbox
        .append(&mail(
            "big@client.test",
            "Large",
            &id,
            "",
            &"z".repeat(5_000),
        ))
        .await;

    let (outcome, reason, ticket) = recorded(&app, &id).await;
    assert_eq!((outcome.as_str(), ticket), ("ignored", None));
    assert!(reason.unwrap_or_default().contains("larger than the 1000"));
    eventually("the message is marked seen", || async {
        Mailbox::open(&mailbox.name).await.seen().await == 1
    })
    .await;
    assert_eq!(app.event_count().await, 0);
    mailbox.remove().await;
}

#[tokio::test]
async fn a_reply_from_the_user_a_duplicate_was_merged_into_comments_on_the_duplicates_ticket() {
    // Arrange: Rita wrote from her old address; that user was merged into her new one.
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let admin = app.user("admin").await;
    let first = message_id();
    let old = mail("rita.old@client.test", "VPN down", &first, "", "No VPN.");
    deliver(port, "rita.old@client.test", old.as_bytes())
        .await
        .expect("accepted");
    let ticket = recorded(&app, &first).await.2.expect("a ticket");
    let other = message_id();
    let new = mail("rita@client.test", "Printer", &other, "", "Jammed.");
    deliver(port, "rita@client.test", new.as_bytes())
        .await
        .expect("accepted");
    recorded(&app, &other).await.2.expect("a ticket");
    let user = |email: &'static str| {
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&app.pool)
    };
    let (kept, dup) = (
        user("rita@client.test").await.expect("Rita"),
        user("rita.old@client.test").await.expect("her old self"),
    );
    let merged = app
        .post(
            &format!("/users/{dup}/merge"),
            &admin,
            json!({"into": kept}),
        )
        .await;
    assert!(merged.status().is_success());

    // Act: she answers the old thread from her new address.
    let reply = message_id();
    let raw = mail(
        "rita@client.test",
        "Re: VPN down",
        &reply,
        &format!("In-Reply-To: <{first}>\r\n"),
        "Still down.",
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert: a comment by her on that ticket, not a new ticket.
    let (outcome, _, on) = recorded(&app, &reply).await;
    assert_eq!((outcome.as_str(), on), ("commented", Some(ticket)));
    let events = events_of(&app, ticket).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].1["author"]["id"], json!(kept));
}

#[tokio::test]
async fn a_replys_attached_file_is_stored_and_listed_on_its_comment_with_its_hash() {
    use sha2::{Digest, Sha256};
    // Arrange
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let first = message_id();
    let raw = mail(
        "rita@client.test",
        "Printer jammed",
        &first,
        "",
        "It blinks.",
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");
    let ticket = recorded(&app, &first).await.2.expect("a ticket");
    let reply = message_id();
    let headers = format!(
        "In-Reply-To: <{first}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n"
    );
    let body = "--b\r\nContent-Type: text/plain\r\n\r\nPhoto attached.\r\n--b\r\n\
                Content-Type: image/png; name=\"jam.png\"\r\n\
                Content-Disposition: attachment; filename=\"jam.png\"\r\n\
                Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--";

    // Act
    let raw = mail(
        "rita@client.test",
        "Re: Printer jammed",
        &reply,
        &headers,
        body,
    );
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert
    let events = events_of(&app, ticket).await;
    let (_, comment) = events
        .iter()
        .find(|(t, _)| t == "ticket.commented")
        .expect("the reply's comment");
    let png = [0x89u8, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    assert_eq!(comment["body"], "Photo attached.");
    assert_eq!(comment["attachments"][0]["filename"], "jam.png");
    assert_eq!(comment["attachments"][0]["content_type"], "image/png");
    assert_eq!(comment["attachments"][0]["size"], png.len());
    assert_eq!(
        comment["attachments"][0]["sha256"],
        hex::encode(Sha256::digest(png))
    );
}

#[tokio::test]
async fn a_mail_that_opens_a_ticket_has_its_files_listed_with_their_hashes_on_a_comment_recorded_with_it(
) {
    use sha2::{Digest, Sha256};
    // Arrange
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let agent = app.user("agent").await;
    let first = message_id();
    let headers = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n";
    let body = "--b\r\nContent-Type: text/plain\r\n\r\nIt blinks, photo attached.\r\n--b\r\n\
                Content-Type: image/png; name=\"jam.png\"\r\n\
                Content-Disposition: attachment; filename=\"jam.png\"\r\n\
                Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--";

    // Act
    let raw = mail("rita@client.test", "Printer jammed", &first, headers, body);
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert
    let (outcome, _, ticket) = recorded(&app, &first).await;
    assert_eq!(outcome, "created");
    let ticket = ticket.expect("a ticket");
    let events = events_of(&app, ticket).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["ticket.created", "ticket.commented"]);
    let (created, comment) = (&events[0].1, &events[1].1);
    assert_eq!(created["description"], "It blinks, photo attached.");
    let png = [0x89u8, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    assert_eq!(comment["author"]["id"], created["requester"]["id"]);
    assert_eq!(comment["internal"], false);
    assert_eq!(comment["via"]["message_id"], first);
    assert_eq!(comment["body"], "jam.png");
    let file = &comment["attachments"][0];
    assert_eq!(file["filename"], "jam.png");
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], png.len());
    assert_eq!(file["sha256"], hex::encode(Sha256::digest(png)));
    let download = app
        .get(
            &format!("/attachments/{}", file["id"].as_str().unwrap()),
            &agent,
        )
        .await;
    assert_eq!(download.status(), reqwest::StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().as_ref(), png);

    // A second delivery of the same mail changes nothing.
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");
    assert_eq!(events_of(&app, ticket).await.len(), 2);
}

#[tokio::test]
async fn a_mail_that_opens_a_ticket_without_files_records_its_creation_alone() {
    // Arrange
    let app = spawn_app_with(listening).await;
    let port = smtp_port(&app).await;
    let first = message_id();

    // Act
    let raw = mail("rita@client.test", "VPN down", &first, "", "Since noon.");
    deliver(port, "rita@client.test", raw.as_bytes())
        .await
        .expect("accepted");

    // Assert
    let ticket = recorded(&app, &first).await.2.expect("a ticket");
    let kinds: Vec<String> = events_of(&app, ticket)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["ticket.created"]);
}
