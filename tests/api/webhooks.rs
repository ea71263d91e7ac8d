//! Webhooks (CONTRACT 8) through HTTP, delivered to a real receiver on loopback.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::settings::Settings;

use crate::helpers::{failing_fields, problem, spawn_app_with, TestApp, TestUser};
use crate::webhook_receiver::{Answer, Received, Receiver};

const WAIT: Duration = Duration::from_secs(15);

/// Loopback receivers allowed, retries after 200 ms, 400 ms, then the delivery fails.
fn local(settings: &mut Settings) {
    settings.webhooks.allow_http_hosts = vec!["127.0.0.1".into()];
    settings.webhooks.allow_private_hosts = vec!["127.0.0.1".into()];
    settings.webhooks.retry_schedule = vec![Duration::from_millis(200), Duration::from_millis(400)];
    settings.webhooks.timeout = Duration::from_millis(1500);
}

async fn create(app: &TestApp, admin: &TestUser, url: &str, types: Value) -> Value {
    let response = app
        .post(
            "/webhooks",
            admin,
            json!({"url": url, "event_types": types}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("a webhook")
}

async fn deliveries(app: &TestApp, admin: &TestUser, id: &str, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/webhooks/{id}/deliveries{query}"), admin)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("deliveries");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until the endpoint's deliveries satisfy `done`.
async fn wait_deliveries(
    app: &TestApp,
    admin: &TestUser,
    id: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let items = deliveries(app, admin, id, "").await;
        if done(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(received: &[Received]) -> Vec<String> {
    received.iter().map(Received::id).collect()
}

#[tokio::test]
async fn webhooks_are_for_admins_and_the_secret_is_shown_once() {
    let app = spawn_app_with(local).await;
    let admin = app.user("admin").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    for role in ["auditor", "agent", "requester"] {
        let user = app.user(role).await;
        problem(app.get("/webhooks", &user).await, StatusCode::FORBIDDEN).await;
        let response = app
            .post(
                "/webhooks",
                &user,
                json!({"url": receiver.url(), "event_types": ["*"]}),
            )
            .await;
        problem(response, StatusCode::FORBIDDEN).await;
    }
    let created = create(&app, &admin, &receiver.url(), json!(["ticket.closed"])).await;
    let secret = created["secret"].as_str().expect("a secret");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["event_types"], json!(["ticket.closed"]));
    let id = created["id"].as_str().expect("an id");

    let listed: Value = app
        .get("/webhooks", &admin)
        .await
        .json()
        .await
        .expect("a list");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert!(listed["items"][0].get("secret").is_none());
    let one: Value = app
        .get(&format!("/webhooks/{id}"), &admin)
        .await
        .json()
        .await
        .expect("one");
    assert!(one.get("secret").is_none());
    assert_eq!(one["url"], receiver.url());

    let response = app
        .patch(
            &format!("/webhooks/{id}"),
            &admin,
            json!({"description": "CRM", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.expect("the webhook");
    assert_eq!(patched["description"], "CRM");
    assert_eq!(patched["event_types"], json!(["*"]));

    let response = app
        .patch(
            &format!("/webhooks/{id}"),
            &admin,
            json!({"status": "paused", "event_types": []}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["event_types", "status"]);

    let deleted = app
        .client
        .delete(app.api(&format!("/webhooks/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&format!("/webhooks/{id}"), &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/webhooks/not-a-uuid", &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn matching_events_committed_after_creation_arrive_signed_per_standard_webhooks() {
    let app = spawn_app_with(local).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let before = app.create_ticket(&requester).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let created = create(
        &app,
        &admin,
        &receiver.url(),
        json!(["ticket.created", "ticket.closed"]),
    )
    .await;
    let secret = created["secret"].as_str().expect("a secret").to_string();
    let ticket = app.create_ticket(&requester).await;
    let response = app
        .post(
            &format!("/tickets/{ticket}/comments"),
            &requester,
            json!({"body": "any news?"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .post(&format!("/tickets/{ticket}/close"), &requester, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let received = receiver
        .wait_for(WAIT, "two deliveries", |r| r.len() >= 2)
        .await;
    // Give a wrongly matching event (the comment, the earlier ticket) the time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut received = if receiver.received().len() > received.len() {
        receiver.received()
    } else {
        received
    };
    // Deliveries run concurrently: they may arrive in any order.
    received.sort_by_key(|r| r.json()["seq"].as_i64());
    assert_eq!(
        ids(&received),
        [format!("{ticket}:1"), format!("{ticket}:3")]
    );
    assert!(!ids(&received)
        .iter()
        .any(|id| id.starts_with(&before.to_string())));
    for request in &received {
        request.verify(&secret);
        assert_eq!(request.header("content-type"), "application/json");
        let envelope = request.json();
        assert_eq!(envelope["id"], request.id());
        assert_eq!(envelope["specversion"], "1.0");
        assert!(envelope["position"].as_i64().is_some());
    }
    assert_eq!(received[0].json()["type"], "ticket.created");
    assert_eq!(received[1].json()["type"], "ticket.closed");
    // A signature made with another secret does not verify: the check is real.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let webhook = standardwebhooks::Webhook::new(other).expect("a secret");
    assert!(webhook
        .verify(&received[0].body, &received[0].headers)
        .is_err());

    let items = wait_deliveries(
        &app,
        &admin,
        created["id"].as_str().expect("id"),
        "two successes",
        |items| items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded"),
    )
    .await;
    assert_eq!(items[0]["attempts"], 1);
    assert_eq!(items[0]["last_status_code"], 200);
}

#[tokio::test]
async fn any_2xx_is_a_success() {
    let app = spawn_app_with(local).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    for code in [201_u16, 202, 204, 299] {
        let receiver = Receiver::start(Answer::Status(code)).await;
        let created = create(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;
        app.create_ticket(&requester).await;
        let id = created["id"].as_str().expect("id");
        let items = wait_deliveries(&app, &admin, id, "a success", |items| {
            items.iter().any(|d| d["status"] == "succeeded")
        })
        .await;
        assert_eq!(items[0]["last_status_code"], code);
        assert_eq!(receiver.received().len(), 1, "{code} is not retried");
        let response = app
            .patch(
                &format!("/webhooks/{id}"),
                &admin,
                json!({"status": "disabled"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn failures_are_retried_with_growing_pauses_then_the_delivery_fails() {
    let app = spawn_app_with(local).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let receiver = Receiver::start(Answer::Status(500)).await;
    let created = create(&app, &admin, &receiver.url(), json!(["*"])).await;
    let id = created["id"].as_str().expect("id");
    let started = Instant::now();
    app.create_ticket(&requester).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the command waited for the receiver"
    );
    let items = wait_deliveries(&app, &admin, id, "a failed delivery", |items| {
        items.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(items[0]["attempts"], 3);
    assert_eq!(items[0]["last_status_code"], 500);
    assert!(items[0]["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("500")));
    assert!(items[0]["next_attempt_at"].is_null());
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let first = received[1].at - received[0].at;
    let second = received[2].at - received[1].at;
    // 200 ms then 400 ms, each with up to 25 % jitter.
    assert!(first >= Duration::from_millis(200), "{first:?}");
    assert!(second >= Duration::from_millis(400), "{second:?}");
    assert!(second > first, "{first:?} then {second:?}");
    assert_eq!(
        ids(&received)
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        1
    );
    let failed = deliveries(&app, &admin, id, "?status=failed").await;
    assert_eq!(failed.len(), 1);
    assert!(deliveries(&app, &admin, id, "?status=succeeded")
        .await
        .is_empty());
    let response = app
        .get(
            &format!("/webhooks/{id}/deliveries?status=lost&limit=0"),
            &admin,
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(failing_fields(&body), ["limit", "status"]);
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_and_resumes_where_it_stopped() {
    let app = spawn_app_with(|s| {
        local(s);
        s.webhooks.retry_schedule = vec![Duration::from_millis(200); 50];
        s.webhooks.disable_after = Duration::from_secs(1);
    })
    .await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let receiver = Receiver::start(Answer::Status(503)).await;
    let created = create(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;
    let id = created["id"].as_str().expect("id");
    let first = app.create_ticket(&requester).await;
    let deadline = Instant::now() + WAIT;
    let disabled = loop {
        let one: Value = app
            .get(&format!("/webhooks/{id}"), &admin)
            .await
            .json()
            .await
            .expect("one");
        if one["status"] == "disabled" {
            break one;
        }
        assert!(Instant::now() < deadline, "never disabled: {one}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("503")),
        "{disabled}"
    );

    // While disabled nothing is sent, and events committed meanwhile wait.
    receiver.answer(Answer::Status(200));
    let attempts = receiver.received().len();
    let second = app.create_ticket(&requester).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), attempts);

    let response = app
        .patch(
            &format!("/webhooks/{id}"),
            &admin,
            json!({"status": "enabled"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let enabled: Value = response.json().await.expect("the webhook");
    assert!(enabled["disabled_reason"].is_null());
    let expected = [format!("{first}:1"), format!("{second}:1")];
    receiver
        .wait_for(WAIT, "both events after re-enabling", |r| {
            let ok: Vec<String> = r[attempts..].iter().map(Received::id).collect();
            expected.iter().all(|e| ok.contains(e))
        })
        .await;
    wait_deliveries(&app, &admin, id, "both succeeded", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_delays_neither_commands_nor_other_endpoints() {
    let app = spawn_app_with(|s| {
        local(s);
        s.webhooks.concurrency = 2;
        s.webhooks.timeout = Duration::from_secs(3);
    })
    .await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let hanging = Receiver::start(Answer::Hang).await;
    let healthy = Receiver::start(Answer::Status(200)).await;
    let stuck = create(&app, &admin, &hanging.url(), json!(["*"])).await;
    create(&app, &admin, &healthy.url(), json!(["*"])).await;
    let started = Instant::now();
    for _ in 0..6 {
        app.create_ticket(&requester).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "commands waited: {:?}",
        started.elapsed()
    );
    healthy
        .wait_for(
            Duration::from_secs(3),
            "six deliveries to the healthy endpoint",
            |r| r.len() >= 6,
        )
        .await;
    // At most `concurrency` requests at once to the hanging one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hanging.received().len(), 2);
    let items = wait_deliveries(
        &app,
        &admin,
        stuck["id"].as_str().expect("id"),
        "timeouts",
        |items| items.iter().any(|d| d["attempts"].as_i64() >= Some(1)),
    )
    .await;
    let timed_out = items
        .iter()
        .find(|d| d["attempts"].as_i64() >= Some(1))
        .expect("an attempt");
    assert!(
        timed_out["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("3000 ms")),
        "{timed_out}"
    );
    assert!(timed_out["last_status_code"].is_null());
    assert!(timed_out["next_attempt_at"].is_string());
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_a_huge_body_is_not_read() {
    let app = spawn_app_with(local).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let redirecting = Receiver::start(Answer::Redirect(
        "http://169.254.169.254/latest/meta-data".into(),
    ))
    .await;
    let huge = Receiver::start(Answer::Huge(1 << 30)).await;
    let moved = create(&app, &admin, &redirecting.url(), json!(["*"])).await;
    let big = create(&app, &admin, &huge.url(), json!(["*"])).await;
    let started = Instant::now();
    app.create_ticket(&requester).await;
    let items = wait_deliveries(
        &app,
        &admin,
        moved["id"].as_str().expect("id"),
        "the 301",
        |items| {
            items
                .first()
                .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        },
    )
    .await;
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["last_status_code"], 301);
    assert!(items[0]["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("not followed")));
    let items = wait_deliveries(
        &app,
        &admin,
        big["id"].as_str().expect("id"),
        "the huge answer",
        |items| items.first().is_some_and(|d| d["status"] == "succeeded"),
    )
    .await;
    assert_eq!(items[0]["last_status_code"], 200);
    // A gigabyte takes far longer than this on loopback: the body was not read.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn replay_delivers_again_with_the_original_ids() {
    let app = spawn_app_with(local).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let created = create(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;
    let id = created["id"].as_str().expect("id");
    let secret = created["secret"].as_str().expect("secret");
    let first = app.create_ticket(&requester).await;
    let second = app.create_ticket(&requester).await;
    let items = wait_deliveries(&app, &admin, id, "two successes", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let first_position = items[0]["position"].as_i64().expect("a position");
    let response = app
        .post(
            &format!("/webhooks/{id}/replay"),
            &admin,
            json!({"after_position": first_position}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("a count");
    assert_eq!(body["replayed"], 1);
    let received = receiver
        .wait_for(WAIT, "the replayed event", |r| r.len() >= 3)
        .await;
    // The first two were sent concurrently, in any order; the replay came after both.
    let mut initial = ids(&received[..2]);
    initial.sort();
    assert_eq!(initial, [format!("{first}:1"), format!("{second}:1")]);
    assert_eq!(received[2].id(), format!("{second}:1"));
    received[2].verify(secret);
    let original = received
        .iter()
        .find(|r| r.id() == received[2].id())
        .expect("the original");
    assert_eq!(received[2].json(), original.json());

    let response = app
        .post(
            &format!("/webhooks/{id}/replay"),
            &admin,
            json!({"after_position": -1}),
        )
        .await;
    assert_eq!(
        failing_fields(&problem(response, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["after_position"]
    );
    let response = app
        .post(
            &format!("/webhooks/{}/replay", uuid::Uuid::now_v7()),
            &admin,
            json!({"after_position": 0}),
        )
        .await;
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn urls_outside_the_policy_are_refused_naming_url() {
    // Plain http allowed to loopback names, but no internal address allow-listed.
    let app = spawn_app_with(|s| {
        s.webhooks.allow_http_hosts = vec![
            "169.254.169.254".into(),
            "[::1]".into(),
            "localhost".into(),
            "127.0.0.1".into(),
        ];
    })
    .await;
    let admin = app.user("admin").await;
    for url in [
        "not a url",
        "file:///etc/passwd",
        "http://169.254.169.254/",
        "http://[::1]/",
        "https://10.0.0.7/hook",
        "https://[::ffff:10.0.0.7]/hook",
        "http://localhost:9/hook",
        "http://127.0.0.1:9/hook",
        "http://example.com/hook",
        "https://0.0.0.0/",
    ] {
        let response = app
            .post(
                "/webhooks",
                &admin,
                json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&body), ["url"], "{url}");
    }
    let listed: Value = app
        .get("/webhooks", &admin)
        .await
        .json()
        .await
        .expect("a list");
    assert_eq!(listed["items"], json!([]));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_policy_is_checked_again_at_delivery() {
    // An endpoint stored when its host was allowed (here: written straight to the table, as
    // if DNS had answered differently then) is refused when the delivery is made.
    let app = spawn_app_with(|s| {
        local(s);
        s.webhooks.allow_private_hosts = Vec::new();
        s.webhooks.allow_http_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    })
    .await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let mut endpoints = Vec::new();
    for url in [
        receiver.url(),
        format!("http://localhost:{}/hook", receiver.port),
    ] {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO webhooks (id, url, event_types, secret, position, created_snapshot)
             VALUES ($1, $2, '{*}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
                     (SELECT coalesce(max(position), 0) FROM events), pg_current_snapshot())",
        )
        .bind(id)
        .bind(&url)
        .execute(&app.pool)
        .await
        .expect("insert a webhook");
        endpoints.push(id.to_string());
    }
    app.create_ticket(&requester).await;
    for id in &endpoints {
        let items = wait_deliveries(&app, &admin, id, "a refused attempt", |items| {
            items
                .first()
                .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        })
        .await;
        let error = items[0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("loopback"), "{error}");
        assert!(items[0]["last_status_code"].is_null());
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn readyz_and_metrics_report_each_endpoint_s_backlog() {
    let app = spawn_app_with(|s| {
        local(s);
        s.webhooks.retry_schedule = vec![Duration::from_secs(60)];
    })
    .await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let receiver = Receiver::start(Answer::Status(500)).await;
    let created = create(&app, &admin, &receiver.url(), json!(["*"])).await;
    let id = created["id"].as_str().expect("id");
    app.create_ticket(&requester).await;
    receiver
        .wait_for(WAIT, "an attempt", |r| !r.is_empty())
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = app.readyz().await;
        let endpoint = &body["webhooks"]["endpoints"][0];
        if endpoint["pending"] == 1 {
            assert_eq!(endpoint["id"], id);
            assert_eq!(body["webhooks"]["leader"], true);
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = app.root_text("/metrics").await;
        if metrics.contains(&format!("ticketd_webhook_backlog{{webhook=\"{id}\"}} 1"))
            && metrics.contains("ticketd_webhook_deliveries_total{outcome=\"retrying\"}")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn with_two_instances_one_delivers_each_event_once() {
    let app = spawn_app_with(local).await;
    let second = crate::helpers::spawn_second_instance(&app).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    create(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;
    let mut expected = Vec::new();
    for _ in 0..10 {
        expected.push(format!("{}:1", app.create_ticket(&requester).await));
    }
    receiver
        .wait_for(WAIT, "ten deliveries", |r| r.len() >= 10)
        .await;
    // Time for a second deliverer, if there were one, to send its copies.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = ids(&receiver.received());
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    second.stop().await;
}
