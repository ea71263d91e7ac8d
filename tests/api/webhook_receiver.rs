//! A real HTTP receiver of webhooks on loopback: records every request and answers as the test
//! says (a status, a hang, a redirect, a huge body). Signatures are checked with the
//! `standardwebhooks` crate, an implementation independent of the engine's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status, empty body.
    Status(u16),
    /// Never answers.
    Hang,
    /// `301` to this location.
    Redirect(String),
    /// `200` with a body of this many bytes, streamed.
    Huge(u64),
    /// This status after a pause.
    Slow(u16, Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn id(&self) -> String {
        self.header("webhook-id")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Checks the signature with the `standardwebhooks` crate.
    pub fn verify(&self, secret: &str) {
        let webhook = standardwebhooks::Webhook::new(secret).expect("a Standard Webhooks secret");
        webhook
            .verify(&self.body, &self.headers)
            .unwrap_or_else(|e| panic!("the signature of {} does not verify: {e:?}", self.id()));
    }
}

#[derive(Clone)]
struct Shared {
    answer: Arc<Mutex<Answer>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// The receiver; it stops when dropped.
pub struct Receiver {
    pub port: u16,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let port = listener.local_addr().expect("an address").port();
        let shared = Shared {
            answer: Arc::new(Mutex::new(answer)),
            received: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, shared, task }
    }

    /// The URL to register.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().expect("a lock") = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("a lock").clone()
    }

    /// Waits until `done` holds for what was received, or panics after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {} request(s)",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    shared.received.lock().expect("a lock").push(Received {
        headers,
        body,
        at: Instant::now(),
    });
    let answer = shared.answer.lock().expect("a lock").clone();
    match answer {
        Answer::Status(code) => status(code).into_response(),
        Answer::Hang => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        Answer::Redirect(location) => {
            (StatusCode::MOVED_PERMANENTLY, [("location", location)]).into_response()
        }
        Answer::Huge(size) => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = size.div_ceil(chunk.len() as u64);
            let stream = futures::stream::iter(
                (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            (StatusCode::OK, Body::from_stream(stream)).into_response()
        }
        Answer::Slow(code, pause) => {
            tokio::time::sleep(pause).await;
            status(code).into_response()
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("a status code")
}
