//! `imaps://`: the poller speaks TLS to the local dovecot, whose certificate a test authority
//! signed (deploy/services.sh), trusted through `IMAP_CA_FILE`; without it the certificate is
//! refused and nothing is read.

use std::time::Duration;

use super::support::*;
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn mail_polled_over_tls_from_a_server_of_a_trusted_authority_becomes_a_ticket() {
    // Arrange
    let mut mailbox = Mailbox::create().await;
    let url = mailbox.tls_url();
    let app = spawn_app_with(|s| {
        s.email.imap_url = Some(url.into());
        s.email.imap_poll = Duration::from_millis(100);
        s.email.imap_ca_file = Some(imap_test_authority());
    })
    .await;
    let id = message_id();

    // Act
    mailbox
        .append(&mail(
            "tls@client.test",
            "Over TLS",
            &id,
            "",
            "Polled over imaps.",
        ))
        .await;

    // Assert
    let (outcome, _, ticket) = recorded(&app, &id).await;
    assert_eq!(outcome, "created");
    let events = events_of(&app, ticket.expect("a ticket")).await;
    assert_eq!(events.len(), 1);
    eventually("the message is marked seen", || async {
        Mailbox::open(&mailbox.name).await.seen().await == 1
    })
    .await;
    let (_, body) = app.readyz().await;
    assert_eq!(body["email"]["imap"]["state"], "up", "{body}");
    assert!(
        body["email"]["imap"]["address"]
            .as_str()
            .is_some_and(|t| t.starts_with("imaps://") && !t.contains(":ticketd@")),
        "{body}"
    );
    mailbox.remove().await;
}

#[tokio::test]
async fn a_server_certificate_of_an_authority_not_trusted_is_refused_and_nothing_is_read() {
    // Arrange: the same server, without IMAP_CA_FILE.
    let mut mailbox = Mailbox::create().await;
    let url = mailbox.tls_url();
    let app = spawn_app_with(|s| {
        s.email.imap_url = Some(url.into());
        s.email.imap_poll = Duration::from_millis(100);
    })
    .await;
    let id = message_id();

    // Act
    mailbox
        .append(&mail(
            "tls@client.test",
            "Untrusted",
            &id,
            "",
            "Never read.",
        ))
        .await;

    // Assert
    eventually("readyz reports the TLS failure", || async {
        let (_, body) = app.readyz().await;
        body["email"]["imap"]["state"] == "failing"
            && body["email"]["imap"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("TLS"))
    })
    .await;
    assert_eq!(Mailbox::open(&mailbox.name).await.seen().await, 0);
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(created, 0, "nothing stored");
    mailbox.remove().await;
}
