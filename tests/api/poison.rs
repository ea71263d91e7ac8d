//! No single event stops the read side (CONTRACT 6): an event that already holds U+0000 is
//! applied anyway, and a projector that fails on one event again and again is reported while
//! the relay and the WebSocket hub go on.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{AuthorRef, RequesterRef, SlaDue, TicketCommented, TicketCreated};
use ticket_nats::{Channel, Envelope, Priority, TicketEvent, Timestamp, GENESIS_HASH};
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestUser};
use crate::nats::{shared_nats_url, TestStream};
use crate::ordering::{insert_event, wait_all_positioned};
use crate::ws::{connect, events_until, subscribe};

/// How long a test waits for the read side to get somewhere.
const PATIENCE: Duration = Duration::from_secs(20);

/// The store's highest position, once every event has one.
async fn settled_head(app: &TestApp) -> i64 {
    wait_all_positioned(&app.pool).await;
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("the head")
}

/// A projection's checkpoint (0 before its first step).
async fn checkpoint(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT position FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(&app.pool)
        .await
        .expect("a checkpoint")
        .unwrap_or(0)
}

/// Polls `look` until it returns `Some`, failing the test after the patience.
async fn eventually<T, F, Fut>(what: &str, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A ticket created and commented on with U+0000 in its texts and in its actor's name, its
/// hash chain correct.
async fn poisoned_ticket(app: &TestApp, requester: &TestUser) -> (Uuid, Vec<Envelope>) {
    let ticket = Uuid::now_v7();
    let number: i64 = sqlx::query_scalar("SELECT nextval('ticket_numbers')")
        .fetch_one(&app.pool)
        .await
        .expect("a number");
    let actor = Actor {
        id: requester.id.to_string(),
        name: format!("{}\u{0}", requester.name),
        role: "requester".into(),
    };
    let now = Timestamp::now();
    let created = Envelope::seal(
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: ticket,
            seq: 1,
            time: now,
            actor: &actor,
            correlation_id: "written-before-the-fix",
        },
        &TicketEvent::Created(TicketCreated {
            number,
            title: "Printer\u{0}jam".into(),
            description: "a\u{0}b".into(),
            category: "printer".into(),
            priority: Priority::Low,
            channel: Channel::Api,
            requester: RequesterRef {
                id: requester.id,
                name: format!("{}\u{0}", requester.name),
                email: Some(requester.email.clone()),
            },
            sla: SlaDue {
                first_response_due: now.plus(chrono::TimeDelta::hours(24)),
                resolution_due: now.plus(chrono::TimeDelta::hours(72)),
            },
            integration: None,
            metadata: None,
            fields: None,
        }),
        GENESIS_HASH,
    );
    let commented = Envelope::seal(
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: ticket,
            seq: 2,
            time: now,
            actor: &actor,
            correlation_id: "written-before-the-fix",
        },
        &TicketEvent::Commented(TicketCommented {
            comment_id: Uuid::now_v7(),
            author: AuthorRef {
                id: requester.id,
                name: format!("{}\u{0}", requester.name),
                role: "requester".into(),
            },
            body: "still\u{0}\u{0}jammed".into(),
            internal: false,
            via: None,
            attachments: Vec::new(),
        }),
        &created.hash,
    );
    insert_event(&app.pool, &created).await;
    insert_event(&app.pool, &commented).await;
    (ticket, vec![created, commented])
}

#[tokio::test]
async fn a_stored_event_holding_u0000_is_applied_with_u_fffd_and_the_log_stays_as_it_was() {
    // Arrange: a store that already holds such events, then a command after them.
    let app = spawn_app().await;
    let requester = app.user("requester").await;
    let auditor = app.user("auditor").await;
    let (ticket, envelopes) = poisoned_ticket(&app, &requester).await;
    let later = app.create_ticket(&requester).await;

    // Act: every projector reaches the head.
    let head = settled_head(&app).await;
    eventually(&format!("ticket_view reaches the head {head}"), || async {
        (checkpoint(&app, "ticket_view").await >= head).then_some(())
    })
    .await;

    // Assert: the read models show U+FFFD, the log shows what was stored, the chain holds.
    let view: Value = app
        .get(&format!("/tickets/{ticket}"), &requester)
        .await
        .json()
        .await
        .expect("the ticket");
    assert_eq!(view["title"], "Printer\u{fffd}jam");
    assert_eq!(view["description"], "a\u{fffd}b");
    assert_eq!(view["comments"][0]["body"], "still\u{fffd}\u{fffd}jammed");
    assert_eq!(
        view["requester"]["name"],
        format!("{}\u{fffd}", requester.name)
    );
    let listed: Value = app
        .get("/tickets?q=jam", &requester)
        .await
        .json()
        .await
        .expect("a list");
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(ids.contains(&ticket.to_string().as_str()), "{listed}");
    let history: Value = app
        .get(&format!("/tickets/{ticket}/history"), &auditor)
        .await
        .json()
        .await
        .expect("the history");
    assert_eq!(history["events"][0]["data"]["title"], "Printer\u{0}jam");
    assert_eq!(
        history["events"][1]["data"]["body"],
        "still\u{0}\u{0}jammed"
    );
    assert_eq!(history["events"][1]["hash"], envelopes[1].hash);
    let verified: Value = app
        .get(&format!("/tickets/{ticket}/verify"), &auditor)
        .await
        .json()
        .await
        .expect("a verification");
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["events"], 2);
    let (status, ready) = app.readyz().await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["stalled_projections"], json!([]));
    let after = app.get(&format!("/tickets/{later}"), &requester).await;
    assert_eq!(after.status(), StatusCode::OK, "later tickets read as well");
    // A rebuild reads the events the same way.
    let rebuilt = app.run_ticketd(&["projections", "rebuild"]).await;
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let view: Value = app
        .get(&format!("/tickets/{ticket}"), &requester)
        .await
        .json()
        .await
        .expect("the ticket");
    assert_eq!(view["title"], "Printer\u{fffd}jam");
}

/// Makes `ticket_view`'s projector fail on every comment whose body is `poison`, as a bug or a
/// value the database refuses would.
async fn refuse_poison(app: &TestApp) {
    for statement in [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.body = 'poison' THEN
                 RAISE EXCEPTION 'refused by the test: %', NEW.body;
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON ticket_comments
         FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ] {
        sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect("install the trigger");
    }
}

#[tokio::test]
async fn a_projector_failing_on_one_event_is_reported_while_the_rest_of_the_read_side_goes_on() {
    // Arrange: NATS on, a board subscriber, a ticket, and a read model that refuses one row.
    let stream = TestStream::new(&shared_nats_url());
    let app = spawn_app_with(|s| stream.configure(s)).await;
    let agent = app.user("agent").await;
    let ticket = app.create_ticket(&agent).await;
    refuse_poison(&app).await;
    let mut ws = connect(app.port, &agent).await;
    let (_, subscribed) = subscribe(&mut ws, &["board"], None).await;
    let since = subscribed["position"].as_i64().expect("a position");

    // Act: the poison, then more commands behind it.
    for body in ["poison", "after the poison"] {
        let r = app
            .post(
                &format!("/tickets/{ticket}/comments"),
                &agent,
                json!({"body": body}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "the command itself succeeds");
    }
    let other = app.create_ticket(&agent).await;
    let head = settled_head(&app).await;

    // Assert: /readyz names the projector, the event and the error.
    let stalled = eventually("ticket_view is reported stalled", || async {
        let (status, body) = app.readyz().await;
        let stalled = body["stalled_projections"].as_array()?.first()?.clone();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        Some(stalled)
    })
    .await;
    assert_eq!(stalled["projection"], "ticket_view");
    assert_eq!(stalled["event_id"], format!("{ticket}:2"));
    assert!(
        stalled["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused by the test: poison")),
        "{stalled}"
    );
    assert!(stalled["attempts"].as_u64().is_some_and(|n| n >= 3));
    let metrics = app.root_text("/metrics").await;
    assert!(
        metrics.contains("ticketd_projection_stalled{projection=\"ticket_view\"} 1"),
        "{metrics}"
    );
    // It stands just before the poison, and never skipped it.
    let poison: i64 =
        sqlx::query_scalar("SELECT position FROM events WHERE aggregate_id = $1 AND sequence = 2")
            .bind(ticket.to_string())
            .fetch_one(&app.pool)
            .await
            .expect("the poison's position");
    assert_eq!(checkpoint(&app, "ticket_view").await, poison - 1);
    // The relay and the hub went on to the head.
    eventually("the relay publishes every event", || async {
        (stream.count().await >= head as u64).then_some(())
    })
    .await;
    let pushed = events_until(&mut ws, |frame| {
        frame["event"]["position"].as_i64() == Some(head)
    })
    .await;
    assert_eq!(pushed.len() as i64, head - since, "every event pushed once");

    // Act 2: the cause goes away (an upgrade, a fixed trigger).
    sqlx::query("DROP TRIGGER refuse_poison ON ticket_comments")
        .execute(&app.pool)
        .await
        .expect("drop the trigger");

    // Assert: the projector applies the event, catches up, and is no longer reported.
    eventually("ticket_view catches up", || async {
        (checkpoint(&app, "ticket_view").await >= head).then_some(())
    })
    .await;
    let body = eventually("/readyz is ready again", || async {
        let (status, body) = app.readyz().await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(body["stalled_projections"], json!([]));
    let metrics = app.root_text("/metrics").await;
    assert!(metrics.contains("ticketd_projection_stalled{projection=\"ticket_view\"} 0"));
    let view: Value = app
        .get(&format!("/tickets/{ticket}"), &agent)
        .await
        .json()
        .await
        .expect("the ticket");
    let bodies: Vec<&str> = view["comments"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["body"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(bodies, ["poison", "after the poison"]);
    assert_eq!(
        app.get(&format!("/tickets/{other}"), &agent).await.status(),
        StatusCode::OK
    );
}
