//! The path from a commit to the read models and the WebSocket feed is woken in-process, with no
//! fixed delay on it: with no notification ever delivered by Postgres and every poll an hour
//! away, each committed event still reaches a read model and the feed within the test's patience.
//! A delay or a missing wake-up on the path would leave the event waiting for the hourly poll.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use ticket_projections::listen::Notifications;
use ticket_projections::runtime::{Runner, RunnerOptions};
use ticket_projections::sequencer::{self, Announcer, SequencerOptions};
use ticket_projections::CancellationToken;
use ticketd::hub::{Hub, HubConfig};
use uuid::Uuid;

use crate::helpers::{admin_url, clean_up, database_url, test_pool, TestUser};
use crate::ordering::{create_log_tables, created_envelope, insert_event, EventLog};

/// Never, as far as a test is concerned.
const HOUR: Duration = Duration::from_secs(3600);
/// How long a test waits for what should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// A migrated database with no engine on it (an engine's sequencer would lead).
struct Database {
    name: String,
    pool: PgPool,
}

impl Database {
    async fn new() -> Self {
        let name = format!("ticketd_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut admin)
            .await
            .unwrap();
        let pool = test_pool(&database_url(&admin_url(), &name)).await;
        ticketd::startup::migrate(&pool).await.unwrap();
        Self { name, pool }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        clean_up(async move {
            if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

#[tokio::test]
async fn a_commit_reaches_the_read_models_and_the_feed_through_in_process_wakeups_alone() {
    // Arrange: notifications that never listen, a sequencer, a projector and the WebSocket
    // feed that poll once an hour, and an announcer whose `NOTIFY` task never runs.
    let db = Database::new().await;
    create_log_tables(&db.pool).await;
    let requester = TestUser {
        id: Uuid::now_v7(),
        email: "r@example.com".into(),
        name: "R".into(),
        role: "requester".into(),
        token: String::new(),
    };
    let notifications = Notifications::new();
    let stop = CancellationToken::new();
    let sequencer = tokio::spawn(sequencer::run(
        db.pool.clone(),
        SequencerOptions {
            idle_poll: HOUR,
            ..SequencerOptions::default()
        },
        notifications.clone(),
        stop.clone(),
    ));
    let runner = Runner::with_options(
        db.pool.clone(),
        vec![EventLog::new(None, Duration::ZERO)],
        RunnerOptions {
            poll_interval: HOUR,
            ..RunnerOptions::default()
        },
    );
    let projector = runner.start(&notifications, stop.clone());
    let hub = Hub::new(HubConfig {
        poll_interval: HOUR,
        ..HubConfig::default()
    });
    let mut pushed = hub.subscribe();
    let feed = hub.spawn_feed(db.pool.clone(), &notifications);
    let announcer = Announcer::new(&notifications);
    // The feed starts from the head it reads first: empty, so that it pushes event 1 too.
    let mut feed_head = hub.head_watch();
    tokio::time::timeout(PATIENCE, feed_head.wait_for(|h| *h >= 0))
        .await
        .unwrap()
        .unwrap();
    // Warm-up: the first event may be committed before the loops listen; asked for by hand.
    insert_event(&db.pool, &created_envelope(Uuid::now_v7(), 1, &requester)).await;
    announcer.announce();
    let warm = tokio::time::Instant::now() + PATIENCE;
    while !runner
        .wait_for(Some("test_event_log"), 1, Duration::from_millis(50))
        .await
    {
        assert!(
            tokio::time::Instant::now() < warm,
            "the first event is applied"
        );
        runner.refresh().await.unwrap();
    }
    let first = tokio::time::timeout(PATIENCE, pushed.recv()).await;
    assert_eq!(first.unwrap().unwrap().position(), 1);

    // Act + Assert: each later commit goes through the in-process wake-ups only.
    for n in 2..=4 {
        insert_event(&db.pool, &created_envelope(Uuid::now_v7(), n, &requester)).await;
        announcer.announce();
        assert!(
            runner.wait_for(Some("test_event_log"), n, PATIENCE).await,
            "event {n} applied without a notification or a poll"
        );
        let event = tokio::time::timeout(PATIENCE, pushed.recv())
            .await
            .unwrap_or_else(|_| panic!("event {n} pushed without a notification or a poll"));
        assert_eq!(event.unwrap().position(), n, "pushed once, in order");
    }
    stop.cancel();
    hub.shutdown();
    sequencer.await.unwrap();
    projector.await.unwrap();
    feed.await.unwrap();
}
