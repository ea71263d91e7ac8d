//! A local stand-in for the Telegram Bot API and Slack incoming webhooks: a real HTTP server on
//! loopback that records every request and answers as the real services document, from a
//! script (then its last answer for ever).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    /// Telegram's success: `{"ok":true,"result":<Message>}`.
    pub fn telegram_ok() -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: json!({"ok": true, "result": {
                "message_id": 7, "date": 1_764_900_000,
                "chat": {"id": -100123, "type": "supergroup", "title": "Helpdesk"},
                "text": "…"}})
            .to_string(),
        }
    }

    /// Telegram's flood control: 429 with `parameters.retry_after`.
    pub fn telegram_too_many(retry_after: u64) -> Self {
        Self {
            status: 429,
            headers: vec![("content-type", "application/json".into())],
            body: json!({"ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after}"),
                "parameters": {"retry_after": retry_after}})
            .to_string(),
        }
    }

    /// Telegram refusing for good (a chat the bot cannot write to).
    pub fn telegram_chat_not_found() -> Self {
        Self {
            status: 400,
            headers: vec![("content-type", "application/json".into())],
            body: json!({"ok": false, "error_code": 400,
                "description": "Bad Request: chat not found"})
            .to_string(),
        }
    }

    /// Slack's success: 200 with the body `ok`.
    pub fn slack_ok() -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "text/plain".into())],
            body: "ok".into(),
        }
    }

    /// Slack's rate limit: 429 with `Retry-After` in seconds.
    pub fn slack_too_many(retry_after: u64) -> Self {
        Self {
            status: 429,
            headers: vec![("retry-after", retry_after.to_string())],
            body: "rate_limited".into(),
        }
    }
}

/// One request the server got.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Request>>>,
}

/// The server; it stops when dropped.
pub struct ChatApi {
    pub port: u16,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChatApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChatApi {
    /// Answers with `script` in order, repeating its last answer.
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the chat API");
        let port = listener.local_addr().expect("an address").port();
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            received: Arc::default(),
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, shared, task }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Request> {
        self.shared.received.lock().expect("a lock").clone()
    }

    /// Waits until at least `n` requests came, or panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Request> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} request(s); received {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn answer(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.received.lock().expect("a lock").push(Request {
        method,
        path: uri.path().to_string(),
        headers,
        body,
        at: Instant::now(),
    });
    let reply = {
        let mut script = shared.script.lock().expect("a lock");
        if script.len() > 1 {
            script.pop_front()
        } else {
            script.front().cloned()
        }
    };
    let Some(reply) = reply else {
        return StatusCode::OK.into_response();
    };
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
