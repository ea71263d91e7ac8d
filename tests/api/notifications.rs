//! Notification channels (CONTRACT 8) through HTTP, sending to a local stand-in for the
//! Telegram Bot API and Slack incoming webhooks that answers as the real services document.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::settings::Settings;

use crate::chat_api::{ChatApi, Reply};
use crate::helpers::{failing_fields, problem, spawn_app_with, TestApp, TestUser};

const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "123456789:AAH-fake_token_for_tests";

/// Slack URLs on loopback allowed; retries after 100 ms, 200 ms, then failed.
fn local(settings: &mut Settings, telegram: &str) {
    settings.webhooks.allow_http_hosts = vec!["127.0.0.1".into()];
    settings.webhooks.allow_private_hosts = vec!["127.0.0.1".into()];
    settings.notify.telegram_api_url = telegram.to_string();
    settings.notify.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(200)];
}

async fn create_channel(app: &TestApp, admin: &TestUser, body: Value) -> Value {
    let response = app.post("/notification-channels", admin, body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create a channel");
    response.json().await.expect("a channel")
}

async fn notify_on_create(app: &TestApp, admin: &TestUser, channel: &Value, template: &str) {
    let response = app
        .post(
            "/rules",
            admin,
            json!({"name": "tell the chat", "when": {"event_types": ["ticket.created"]},
                   "then": [{"notify": channel["id"], "template": template}]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "create a rule");
}

async fn notification(app: &TestApp) -> (String, i32, Option<String>) {
    sqlx::query_as(
        "SELECT status, attempts, last_error FROM notifications
         WHERE rule_id NOT IN (SELECT id FROM rules WHERE name LIKE '%e-mail%' OR name LIKE 'Mail%' OR name LIKE 'Notify agents%')
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("a notification")
}

#[tokio::test]
async fn channels_are_for_admins_and_never_show_their_secrets() {
    let api = ChatApi::start(vec![Reply::slack_ok()]).await;
    let base = api.base();
    let app = spawn_app_with(|s| local(s, &base)).await;
    let admin = app.user("admin").await;
    for role in ["agent", "auditor", "requester"] {
        let user = app.user(role).await;
        problem(
            app.get("/notification-channels", &user).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let slack_url = format!("{}/services/T000/B000/XXXX", api.base());
    let telegram = create_channel(
        &app,
        &admin,
        json!({"name": "Ops chat", "kind": "telegram",
               "config": {"bot_token": TOKEN, "chat_id": -100123}}),
    )
    .await;
    let slack = create_channel(
        &app,
        &admin,
        json!({"name": "Ops Slack", "kind": "slack", "config": {"webhook_url": slack_url}}),
    )
    .await;
    assert_eq!(telegram["config"], json!({"chat_id": -100123}));
    assert_eq!(slack["config"], json!({}));
    let listed = app
        .get("/notification-channels", &admin)
        .await
        .text()
        .await
        .unwrap();
    let one = app
        .get(
            &format!(
                "/notification-channels/{}",
                telegram["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await
        .text()
        .await
        .unwrap();
    for text in [&listed, &one, &telegram.to_string(), &slack.to_string()] {
        assert!(
            !text.contains(TOKEN) && !text.contains("AAH-fake"),
            "a bot token shown: {text}"
        );
        assert!(
            !text.contains("/services/T000"),
            "a Slack URL shown: {text}"
        );
    }
    // A PATCH without the secret keeps it.
    let response = app
        .patch(
            &format!(
                "/notification-channels/{}",
                telegram["id"].as_str().unwrap()
            ),
            &admin,
            json!({"config": {"chat_id": "@helpdesk_ops"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let secret: Option<String> =
        sqlx::query_scalar("SELECT secret FROM notification_channels WHERE id = $1::uuid")
            .bind(telegram["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(secret.as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn bad_channels_are_refused_naming_the_member() {
    let app = spawn_app_with(|s| {
        local(s, "http://127.0.0.1:9");
        // The metadata address stays refused: only loopback is allow-listed.
    })
    .await;
    let admin = app.user("admin").await;
    let cases = [
        (
            json!({"name": "s", "kind": "slack", "config": {"webhook_url": "http://169.254.169.254/latest"}}),
            "config.webhook_url",
            "a link-local Slack URL",
        ),
        (
            json!({"name": "s", "kind": "slack", "config": {"webhook_url": "file:///etc/passwd"}}),
            "config.webhook_url",
            "a file URL",
        ),
        (
            json!({"name": "s", "kind": "slack", "config": {"webhook_url": "not a url"}}),
            "config.webhook_url",
            "not a URL",
        ),
        (
            json!({"name": "s", "kind": "slack", "config": {}}),
            "config.webhook_url",
            "no Slack URL",
        ),
        (
            json!({"name": "t", "kind": "telegram", "config": {"bot_token": "123/../../x", "chat_id": 1}}),
            "config.bot_token",
            "a token that would change the path",
        ),
        (
            json!({"name": "t", "kind": "telegram", "config": {"bot_token": TOKEN}}),
            "config.chat_id",
            "no chat",
        ),
        (
            json!({"name": "e", "kind": "email", "config": {"to": ["nobody"]}}),
            "config.to",
            "not an address",
        ),
        (
            json!({"name": "e", "kind": "email", "config": {"to_role": "boss"}}),
            "config.to_role",
            "an unknown role",
        ),
        (
            json!({"name": "x", "kind": "pigeon", "config": {}}),
            "kind",
            "an unknown kind",
        ),
    ];
    for (body, field, case) in cases {
        let response = app.post("/notification-channels", &admin, body).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            failing_fields(&problem).iter().any(|f| f == field),
            "{case}: expected {field} in {problem}"
        );
    }
}

#[tokio::test]
async fn telegram_gets_send_message_as_the_bot_api_expects_and_its_retry_after_is_honoured() {
    let api = ChatApi::start(vec![Reply::telegram_too_many(1), Reply::telegram_ok()]).await;
    let base = api.base();
    let app = spawn_app_with(|s| local(s, &base)).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let channel = create_channel(
        &app,
        &admin,
        json!({"name": "Ops chat", "kind": "telegram",
               "config": {"bot_token": TOKEN, "chat_id": -100123}}),
    )
    .await;
    notify_on_create(
        &app,
        &admin,
        &channel,
        "New #{{ticket.number}}: {{ticket.title}} <b>{{actor.name}}</b>",
    )
    .await;

    let ticket = app.create_ticket(&requester).await;
    let received = api.wait_for(2, WAIT).await;
    let number: i64 = sqlx::query_scalar(
        "SELECT (payload->>'number')::bigint FROM events WHERE aggregate_id = $1 AND sequence = 1",
    )
    .bind(ticket.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
        assert_eq!(
            request.headers["content-type"].to_str().unwrap(),
            "application/json"
        );
        // Plain text: no parse_mode, so the markup-looking name is sent as written.
        assert_eq!(
            request.json(),
            json!({"chat_id": -100123,
                   "text": format!("New #{number}: Printer on floor 3 is jammed <b>{}</b>", requester.name)})
        );
    }
    let waited = received[1].at - received[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before retry_after"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        api.received().len(),
        2,
        "a sent notification was sent again"
    );
    let (status, attempts, _) = notification(&app).await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
}

#[tokio::test]
async fn slack_gets_its_text_and_its_retry_after_is_honoured() {
    let api = ChatApi::start(vec![Reply::slack_too_many(1), Reply::slack_ok()]).await;
    let base = api.base();
    let app = spawn_app_with(|s| local(s, &base)).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let channel = create_channel(
        &app,
        &admin,
        json!({"name": "Ops Slack", "kind": "slack",
               "config": {"webhook_url": format!("{base}/services/T000/B000/XXXX")}}),
    )
    .await;
    notify_on_create(
        &app,
        &admin,
        &channel,
        "{{ticket.title}} ({{ticket.priority}})",
    )
    .await;

    app.create_ticket(&requester).await;
    let received = api.wait_for(2, WAIT).await;
    for request in &received {
        assert_eq!(request.path, "/services/T000/B000/XXXX");
        assert_eq!(
            request.json(),
            json!({"text": "Printer on floor 3 is jammed (medium)"})
        );
    }
    let waited = received[1].at - received[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before Retry-After"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api.received().len(),
        2,
        "a sent notification was sent again"
    );
}

#[tokio::test]
async fn a_refusal_for_good_is_not_retried_and_names_no_secret() {
    let api = ChatApi::start(vec![Reply::telegram_chat_not_found()]).await;
    let base = api.base();
    let app = spawn_app_with(|s| local(s, &base)).await;
    let admin = app.user("admin").await;
    let requester = app.user("requester").await;
    let channel = create_channel(
        &app,
        &admin,
        json!({"name": "Ops chat", "kind": "telegram",
               "config": {"bot_token": TOKEN, "chat_id": 42}}),
    )
    .await;
    notify_on_create(&app, &admin, &channel, "#{{ticket.number}}").await;
    app.create_ticket(&requester).await;
    api.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(api.received().len(), 1, "a 400 was retried");
    let (status, attempts, error) = notification(&app).await;
    assert_eq!((status.as_str(), attempts), ("failed", 1));
    let error = error.unwrap_or_default();
    assert!(error.contains("chat not found"), "{error}");
    assert!(
        !error.contains("AAH-fake"),
        "the token is in the error: {error}"
    );
}
