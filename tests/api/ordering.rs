//! The global order and the projection runtime: dense positions under concurrent writers, late
//! commits, append-only storage, exactly-once projectors and rebuilds.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{RequesterRef, SlaDue, TicketCreated};
use ticket_nats::{Channel, Envelope, Priority, TicketEvent, Timestamp, GENESIS_HASH};
use ticket_projections::listen::Notifications;
use ticket_projections::read_models::tickets::TicketViewProjection;
use ticket_projections::rebuild::rebuild_with;
use ticket_projections::runtime::{Projection, Runner, RunnerOptions};
use ticket_projections::{CancellationToken, StoredEvent};
use uuid::Uuid;

use ticketd::business_clock::LoadedCalendars;

use crate::helpers::{spawn_app, TestApp, TestUser};

/// Waits until every stored event has its position; returns how many there are.
pub async fn wait_all_positioned(pool: &PgPool) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (total, unpositioned): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE position IS NULL) FROM events")
                .fetch_one(pool)
                .await
                .unwrap();
        if unpositioned == 0 {
            return total;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unpositioned} of {total} events still have no position"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One page of `GET /events`: (events, next_after, X-Projection-Position).
pub async fn feed_page(
    app: &TestApp,
    user: &TestUser,
    after: i64,
    limit: i64,
) -> (Vec<Value>, i64, i64) {
    let response = app
        .get(&format!("/events?after={after}&limit={limit}"), user)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let head: i64 = response.headers()["x-projection-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let events = body["events"].as_array().unwrap().clone();
    (events, body["next_after"].as_i64().unwrap(), head)
}

/// Creates a ticket and comments on it `comments` times, as `user`.
async fn write_ticket(app: &TestApp, user: &TestUser, comments: usize) -> Uuid {
    let id = app.create_ticket(user).await;
    for i in 0..comments {
        let r = app
            .post(
                &format!("/tickets/{id}/comments"),
                user,
                json!({"body": format!("note {i}")}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "comment {i}");
    }
    id
}

#[tokio::test]
async fn the_feed_returns_every_event_once_with_dense_positions_under_concurrent_writers() {
    // Arrange: 8 writers, 50 commands each (one create, 49 comments).
    let app = Arc::new(spawn_app().await);
    let auditor = app.user("auditor").await;
    let mut writers = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        let user = app.user("agent").await;
        writers.push(tokio::spawn(async move {
            write_ticket(&app, &user, 49).await;
        }));
    }
    // Act: page through the feed while they write, with an odd page size.
    let mut seen: Vec<Value> = Vec::new();
    let mut after = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (events, next_after, head) = feed_page(&app, &auditor, after, 37).await;
        assert!(head >= next_after, "the header is the store's head");
        if events.is_empty() {
            assert_eq!(next_after, after, "an empty page keeps `after`");
        }
        after = next_after;
        seen.extend(events);
        let done = writers.iter().all(|w| w.is_finished());
        if done && seen.len() as i64 == app.event_count().await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "feed did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // Assert
    assert_eq!(seen.len(), 400);
    let positions: Vec<i64> = seen
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=400).collect::<Vec<_>>(), "dense, in order");
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 400, "every event exactly once");
    let (empty, next, _) = feed_page(&app, &auditor, 400, 10).await;
    assert!(empty.is_empty());
    assert_eq!(next, 400);
}

/// The `metadata` column of an envelope, as the engine writes it.
pub(crate) fn stored_metadata(envelope: &Envelope) -> Value {
    json!({
        "specversion": envelope.specversion, "source": envelope.source, "time": envelope.time,
        "datacontenttype": envelope.datacontenttype, "actorid": envelope.actorid,
        "actorname": envelope.actorname, "actorrole": envelope.actorrole,
        "correlationid": envelope.correlationid, "hash": envelope.hash,
        "prevhash": envelope.prevhash,
    })
}

/// Appends `envelope` to the store as a writer outside the engine would (a tool, an older build),
/// through `executor` (a pool, or an open transaction that keeps it uncommitted).
pub(crate) async fn insert_event<'e>(executor: impl sqlx::PgExecutor<'e>, envelope: &Envelope) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('ticket', $1, $2, $3, '1.0', $4::json, $5::json)",
    )
    .bind(&envelope.subject)
    .bind(envelope.seq)
    .bind(&envelope.event_type)
    .bind(envelope.data.to_string())
    .bind(stored_metadata(envelope).to_string())
    .execute(executor)
    .await
    .expect("insert an event");
}

/// A well-formed `ticket.created` envelope for a new ticket.
pub(crate) fn created_envelope(ticket: Uuid, number: i64, requester: &TestUser) -> Envelope {
    let actor = Actor {
        id: requester.id.to_string(),
        name: requester.name.clone(),
        role: requester.role.clone(),
    };
    let now = Timestamp::now();
    let event = TicketEvent::Created(TicketCreated {
        number,
        title: "Written by a slow transaction".into(),
        description: "It commits late.".into(),
        category: "other".into(),
        priority: Priority::Low,
        channel: Channel::Api,
        requester: RequesterRef {
            id: requester.id,
            name: requester.name.clone(),
            email: Some(requester.email.clone()),
        },
        sla: SlaDue {
            first_response_due: now.plus(chrono::TimeDelta::hours(24)),
            resolution_due: now.plus(chrono::TimeDelta::hours(72)),
        },
        integration: None,
        metadata: None,
        fields: None,
    });
    Envelope::seal(
        EnvelopeHeader {
            source: "ticketd",
            ticket_id: ticket,
            seq: 1,
            time: now,
            actor: &actor,
            correlation_id: "late-commit",
        },
        &event,
        GENESIS_HASH,
    )
}

#[tokio::test]
async fn a_late_commit_waits_for_nothing_else_and_is_never_skipped() {
    // Arrange
    let app = spawn_app().await;
    let auditor = app.user("auditor").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let busy = write_ticket(&app, &agent, 2).await;
    wait_all_positioned(&app.pool).await;
    let (before, _, _) = feed_page(&app, &auditor, 0, 1000).await;
    assert_eq!(before.len(), 3);

    // Act: a transaction inserts an event and holds it uncommitted while others write.
    let late = Uuid::now_v7();
    let mut slow = PgConnection::connect(&app.database_url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    let number: i64 = sqlx::query_scalar("SELECT nextval('ticket_numbers')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let envelope = created_envelope(late, number, &requester);
    insert_event(&mut *tx, &envelope).await;
    for i in 0..5 {
        let r = app
            .post(
                &format!("/tickets/{busy}/comments"),
                &agent,
                json!({"body": format!("while the slow one is open {i}")}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Events committed after the slow transaction began do not wait for it: a reader sees them
    // at once, and the slow event, invisible until it commits, takes a later position.
    let held: i64 = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (page, _, _) = feed_page(&app, &auditor, 3, 1000).await;
            if page.len() == 5 || tokio::time::Instant::now() > deadline {
                break page.len() as i64;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    assert_eq!(
        held, 5,
        "later commits are positioned while the slow one is open"
    );
    let (read_while_open, next_after, _) = feed_page(&app, &auditor, 3, 1000).await;
    assert_eq!(next_after, 8);
    assert!(read_while_open
        .iter()
        .all(|e| e["subject"] == busy.to_string()));
    tx.commit().await.unwrap();

    // Assert: the feed, read on from where the reader stood, shows the late event, once.
    wait_all_positioned(&app.pool).await;
    let (page, next_after, _) = feed_page(&app, &auditor, 8, 1000).await;
    assert_eq!(next_after, 9);
    let ids: Vec<&str> = page.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![format!("{late}:1")],
        "the late event comes once, after"
    );
    assert_eq!(page[0]["position"], 9);
    assert_eq!(page[0]["hash"], envelope.hash);
    let (all, _, _) = feed_page(&app, &auditor, 0, 1000).await;
    let positions: Vec<i64> = all
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=9).collect::<Vec<_>>(), "dense");
    let verified: Value = app
        .get(&format!("/tickets/{late}/verify"), &auditor)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["valid"], true);
}

#[tokio::test]
async fn stored_events_cannot_be_updated_or_deleted_through_sql() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = write_ticket(&app, &agent, 1).await;
    wait_all_positioned(&app.pool).await;
    let refused = |result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match result {
        Err(sqlx::Error::Database(db)) => {
            assert_eq!(db.code().as_deref(), Some("42501"), "{db}");
            assert!(db.message().contains("append-only"), "{db}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Act + Assert
    refused(
        sqlx::query("UPDATE events SET payload = '{}'::json WHERE aggregate_id = $1")
            .bind(id.to_string())
            .execute(&app.pool)
            .await,
    );
    refused(
        sqlx::query(
            "UPDATE events SET metadata = '{}'::json WHERE aggregate_id = $1 AND sequence = 2",
        )
        .bind(id.to_string())
        .execute(&app.pool)
        .await,
    );
    refused(
        sqlx::query("UPDATE events SET position = position + 100")
            .execute(&app.pool)
            .await,
    );
    refused(
        sqlx::query("UPDATE events SET position = NULL")
            .execute(&app.pool)
            .await,
    );
    refused(
        sqlx::query("DELETE FROM events WHERE aggregate_id = $1")
            .bind(id.to_string())
            .execute(&app.pool)
            .await,
    );
    refused(sqlx::query("TRUNCATE events").execute(&app.pool).await);
    assert_eq!(app.stored_events(id).await.len(), 2, "nothing changed");
}

/// A test read model: a log of every applied event (no unique key, so a second application
/// would show as a duplicate) and a count per ticket. It can fail once, on purpose, after
/// writing part of a batch.
pub(crate) struct EventLog {
    fail_at: Option<i64>,
    failed: AtomicBool,
    /// Slows every batch a little, so that a kill lands mid-batch.
    delay: Duration,
    batches: AtomicI64,
}

impl EventLog {
    pub(crate) fn new(fail_at: Option<i64>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            fail_at,
            failed: AtomicBool::new(false),
            delay,
            batches: AtomicI64::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Projection for EventLog {
    fn name(&self) -> &'static str {
        "test_event_log"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_event_log", "test_event_counts"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        batch: &[StoredEvent],
    ) -> Result<(), sqlx::Error> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        for event in batch {
            sqlx::query(
                "INSERT INTO test_event_log (position, event_id, event_type) VALUES ($1, $2, $3)",
            )
            .bind(event.position)
            .bind(&event.envelope.id)
            .bind(event.event.event_type())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO test_event_counts (ticket_id, events) VALUES ($1, 1)
                 ON CONFLICT (ticket_id) DO UPDATE SET events = test_event_counts.events + 1",
            )
            .bind(&event.envelope.subject)
            .execute(&mut *conn)
            .await?;
            if self.fail_at == Some(event.position) && !self.failed.swap(true, Ordering::SeqCst) {
                return Err(sqlx::Error::Protocol("injected failure mid-batch".into()));
            }
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(())
    }
}

pub(crate) async fn create_log_tables(pool: &PgPool) {
    sqlx::query(
        "CREATE TABLE test_event_log (position bigint NOT NULL, event_id text NOT NULL,
                                      event_type text NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TABLE test_event_counts (ticket_id text PRIMARY KEY, events bigint NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Asserts that the log holds positions 1..=n, each exactly once, and the counts match the
/// store.
async fn assert_log_exact(pool: &PgPool, n: i64) {
    let (rows, distinct, min, max): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT position), min(position), max(position)
         FROM test_event_log",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(rows, n, "every event applied once (no loss, no repeat)");
    assert_eq!(distinct, n, "no event applied twice");
    assert_eq!((min, max), (Some(1), Some(n)));
    let counts: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT ticket_id, events FROM test_event_counts")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let expected: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT aggregate_id, count(*) FROM events GROUP BY aggregate_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
            .bind("test_event_log")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(checkpoint, n);
}

fn options(batch_size: i64) -> RunnerOptions {
    RunnerOptions {
        batch_size,
        poll_interval: Duration::from_millis(100),
        ..RunnerOptions::default()
    }
}

#[tokio::test]
async fn a_projector_that_fails_or_is_killed_mid_batch_applies_each_event_exactly_once() {
    // Arrange: 60 events, a projection that fails once mid-batch at position 17.
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    for _ in 0..4 {
        write_ticket(&app, &agent, 14).await;
    }
    let n = wait_all_positioned(&app.pool).await;
    assert_eq!(n, 60);
    create_log_tables(&app.pool).await;
    let log = EventLog::new(Some(17), Duration::from_millis(30));

    // Act 1: a runner fails once (rolled back, retried), then is killed mid-way.
    let first = Runner::with_options(app.pool.clone(), vec![log.clone()], options(7));
    let stop_first = CancellationToken::new();
    let handle = first.start(&notifications(&app, &stop_first), stop_first.clone());
    assert!(
        first
            .wait_for(Some("test_event_log"), 28, Duration::from_secs(20))
            .await,
        "the runner gets past the failing batch"
    );
    assert!(log.failed.load(Ordering::SeqCst), "the failure happened");
    // A kill, not a graceful stop: the batch in flight is abandoned (and rolled back).
    handle.abort();
    let _ = handle.await;
    let killed_at: i64 =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
            .bind("test_event_log")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(killed_at < n, "killed before the end (at {killed_at})");

    // Act 2: two runners (two "instances") restart on the same checkpoint.
    let stop = CancellationToken::new();
    let second = Runner::with_options(app.pool.clone(), vec![log.clone()], options(5));
    let third = Runner::with_options(app.pool.clone(), vec![log.clone()], options(9));
    let h2 = second.start(&notifications(&app, &stop), stop.clone());
    let h3 = third.start(&notifications(&app, &stop), stop.clone());
    assert!(
        second
            .wait_for(Some("test_event_log"), n, Duration::from_secs(30))
            .await
    );
    assert!(third.wait_for(None, n, Duration::from_secs(30)).await);

    // Assert
    assert_log_exact(&app.pool, n).await;
    let status = second.status();
    assert_eq!(status[0].name, "test_event_log");
    assert_eq!(status[0].position, n);
    assert_eq!(status[0].lag, 0);
    stop.cancel();
    h2.await.unwrap();
    h3.await.unwrap();
}

#[tokio::test]
async fn a_rebuild_while_writers_run_equals_the_live_model() {
    // Arrange: a live projector over a store that keeps growing.
    let app = Arc::new(spawn_app().await);
    let agent = app.user("agent").await;
    for _ in 0..3 {
        write_ticket(&app, &agent, 9).await;
    }
    wait_all_positioned(&app.pool).await;
    create_log_tables(&app.pool).await;
    let log = EventLog::new(None, Duration::ZERO);
    let live = Runner::with_options(app.pool.clone(), vec![log.clone()], options(50));
    let stop = CancellationToken::new();
    let handle = live.start(&notifications(&app, &stop), stop.clone());
    assert!(live.wait_for(None, 30, Duration::from_secs(20)).await);
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let app = app.clone();
            let agent = agent.clone();
            tokio::spawn(async move {
                write_ticket(&app, &agent, 10).await;
            })
        })
        .collect();

    // Act: rebuild aside (small batches, so it overlaps the writers) and swap in.
    let report = rebuild_with(&app.pool, log.as_ref(), 4).await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let n = wait_all_positioned(&app.pool).await;
    assert_eq!(n, 63);
    assert!(live.wait_for(None, n, Duration::from_secs(20)).await);

    // Assert: the swapped-in model is exactly what the live one would be, and keeps following.
    assert!(report.position >= 30 && report.position <= n);
    assert_eq!(report.events, report.position);
    assert_log_exact(&app.pool, n).await;
    let leftover: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rebuild_test_event_log')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!leftover, "the shadow schema is gone");
    let key: Option<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
         AND tablename = 'test_event_counts'",
    )
    .fetch_optional(&app.pool)
    .await
    .unwrap();
    assert!(key.is_some(), "indexes are carried over");
    // A second rebuild of an idle store gives the same model.
    let again = rebuild_with(&app.pool, log.as_ref(), 1000).await.unwrap();
    assert_eq!(again.position, n);
    assert_log_exact(&app.pool, n).await;
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn readyz_reports_each_projector_and_the_head() {
    // Arrange
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    write_ticket(&app, &agent, 1).await;
    let n = wait_all_positioned(&app.pool).await;
    // Act: the runner learns the head from the sequencer's notification or its poll.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body: Value = app.root_json("/readyz").await;
        let caught_up = body["head_position"] == n
            && body["projections"]
                .as_array()
                .is_some_and(|ps| ps.iter().all(|p| p["lag"] == 0));
        if caught_up {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Assert
    for projection in body["projections"].as_array().unwrap() {
        assert!(projection["name"].is_string());
        assert_eq!(projection["position"], n);
    }
    let metrics = app.root_text("/metrics").await;
    if !body["projections"].as_array().unwrap().is_empty() {
        assert!(metrics.contains("ticketd_projection_position{projection="));
        assert!(metrics.contains("ticketd_projection_lag{projection="));
    }
}

/// Every row of the real read models' tables, in a stable order, as text (JSON would drop an
/// array's bounds, which hold the buckets of a histogram).
async fn read_model_rows(pool: &PgPool) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for projection in crate::helpers::read_models() {
        for table in projection.tables() {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM {table} t ORDER BY t::text"))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            all.insert(table.to_string(), rows);
        }
    }
    all
}

/// Three tickets through comments, assignments, closes, a reopening, tags, a new title and a
/// new assignee, requesters with one and two tickets, and a ticket and a comment whose text
/// holds what `COPY` escapes; the live projectors caught up with them: the last position and
/// the real read models' rows.
async fn mixed_history(app: &TestApp) -> (i64, BTreeMap<String, Vec<String>>) {
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let id = write_ticket(app, &requester, 2).await;
        let r = app
            .post(
                &format!("/tickets/{id}/assign"),
                &agent,
                json!({"assignee_id": agent.id}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .post(
                &format!("/tickets/{id}/comments"),
                &agent,
                json!({"body": "internal", "internal": true}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        tickets.push(id);
    }
    // Answered, closed and reopened: histogram buckets filled and emptied again.
    for id in &tickets[..2] {
        let r = app
            .post(
                &format!("/tickets/{id}/comments"),
                &agent,
                json!({"body": "on it"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        crate::queries::close(app, *id, &agent).await;
    }
    let r = app
        .post(
            &format!("/tickets/{}/reopen", tickets[0]),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Tags put on and taken off in batches that a rebuild's lanes merge: counts summed, and a
    // tag no ticket carries any more gone.
    for (id, tags) in [
        (tickets[0], json!(["vpn", "laptop"])),
        (tickets[1], json!(["vpn"])),
        (tickets[0], json!(["laptop"])),
        (tickets[2], json!(["printer"])),
        (tickets[2], json!([])),
    ] {
        let r = app
            .client
            .put(app.api(&format!("/tickets/{id}/tags")))
            .bearer_auth(&agent.token)
            .json(&json!({ "tags": tags }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Requesters with one ticket and with two: the totals of requesters and of recurring
    // ones (which a rebuild counts from its copied rows) tell them apart.
    let (once, twice) = (app.user("requester").await, app.user("requester").await);
    for user in [&once, &twice, &twice] {
        app.create_ticket(user).await;
    }
    // Text with what `COPY`'s text format gives a meaning (a rebuild copies new rows in).
    let odd = app
        .create_ticket_with(
            &requester,
            json!({
                "title": "Tab\there, back\\slash, \\N, \"quoted\" {x,y} ü 🎫",
                "description": "line 1\nline 2\r\n\tindented \\.\n\\.\nend\\",
            }),
        )
        .await;
    let r = app
        .post(
            &format!("/tickets/{odd}/comments"),
            &requester,
            json!({"body": "a\tb\\c\r\nd \\N {\"x\"}\n\\."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A new title late in a ticket's life: its searchable text is written again.
    let r = app
        .patch(
            &format!("/tickets/{}", tickets[2]),
            &agent,
            json!({"title": "Printer on fire"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // And another assignee: the first one's row goes.
    let other = app.user("agent").await;
    let r = app
        .post(
            &format!("/tickets/{}/assign", tickets[2]),
            &agent,
            json!({"assignee_id": other.id}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let n = wait_all_positioned(&app.pool).await;
    let names: Vec<&str> = crate::helpers::read_models()
        .iter()
        .map(|p| p.name())
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let at: Vec<i64> =
            sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = ANY($1)")
                .bind(&names)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        if at.len() == names.len() && at.iter().all(|p| *p == n) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "live projectors at {at:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (n, read_model_rows(&app.pool).await)
}

#[tokio::test]
async fn the_cli_rebuilds_the_real_read_models_to_the_rows_the_live_projectors_wrote() {
    // Arrange
    let app = spawn_app().await;
    let (n, live) = mixed_history(&app).await;
    let names: Vec<&str> = crate::helpers::read_models()
        .iter()
        .map(|p| p.name())
        .collect();
    let indexes = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT tablename || ': ' || regexp_replace(indexdef, 'INDEX \\S+ ON', 'INDEX ON')
             FROM pg_indexes WHERE schemaname = 'public'
               AND tablename IN ('ticket_view', 'ticket_recency', 'ticket_comments')
             ORDER BY 1",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let indexes_before = indexes().await;
    // Act: batches of a few events, so that a ticket's events fall in several of them.
    let out = app
        .run_ticketd(&["projections", "rebuild", "--batch-size", "3"])
        .await;
    // Assert
    assert!(out.status.success(), "{out:?}");
    let reports: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), names.len());
    assert!(reports.iter().all(|r| r["position"] == n));
    assert_eq!(read_model_rows(&app.pool).await, live);
    // Indexes are dropped while the copy fills and rebuilt before the swap: all are back.
    assert_eq!(indexes().await, indexes_before);
    // So are storage parameters (the ticket view keeps room for in-place updates).
    let options: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT reloptions FROM pg_class WHERE oid = 'public.ticket_view'::regclass",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(options, Some(vec!["fillfactor=75".to_string()]));
    // And the planner has statistics of every new table: it would guess without them.
    let tables: Vec<&str> = crate::helpers::read_models()
        .iter()
        .flat_map(|p| p.tables().iter().copied())
        .collect();
    let unanalyzed: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_stat_user_tables
         WHERE schemaname = 'public' AND relname = ANY($1) AND last_analyze IS NULL",
    )
    .bind(&tables)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(unanalyzed, Vec::<String>::new());
    let out = app
        .run_ticketd(&["projections", "rebuild", "no_such_model"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let out = app
        .run_ticketd(&["projections", "rebuild", "--batch-size", "0"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[tokio::test]
async fn a_rebuild_holding_two_rows_ends_with_the_rows_the_live_projectors_wrote() {
    // Arrange
    let app = spawn_app().await;
    let (n, live) = mixed_history(&app).await;
    let projection =
        TicketViewProjection::new(Arc::new(LoadedCalendars::default())).holding_in_rebuild(2);
    // Act: batches of three events and room for two rows, so that rows are let go, read back,
    // changed and let go again, as over years of tickets.
    let report = rebuild_with(&app.pool, &projection, 3).await.unwrap();
    // Assert
    assert_eq!(report.position, n);
    assert_eq!(read_model_rows(&app.pool).await, live);
}

/// The store's notifications for one runner "instance" of a test.
fn notifications(app: &TestApp, stop: &CancellationToken) -> Notifications {
    Notifications::start(app.pool.clone(), stop.clone()).0
}
