//! What the mail tests share: an engine with its mail channels, a real SMTP client (lettre) and
//! a raw one for exact reply codes, an SMTP receiver for mail out, and IMAP mailboxes on the
//! local dovecot (deploy/services.sh).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::Value;
use ticketd::settings::Settings;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::helpers::TestApp;

/// The address the test engines accept mail for.
pub const SUPPORT: &str = "support@helpdesk.test";
/// The sender of the test engines' mail.
pub const FROM: &str = "Helpdesk <support@helpdesk.test>";

/// Settings for an engine with an SMTP listener on a free port.
pub fn listening(s: &mut Settings) {
    s.email.listen_addr = Some("127.0.0.1:0".parse().expect("an address"));
    s.email.inbound_addresses = vec![SUPPORT.into()];
    s.email.from = Some(FROM.into());
}

/// The port of the engine's SMTP listener, from `/readyz`.
pub async fn smtp_port(app: &TestApp) -> u16 {
    let (_, body) = app.readyz().await;
    body["email"]["smtp_listener"]["address"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the listener's address in /readyz: {body}"))
}

/// A mail as a client writes it.
pub fn mail(from: &str, subject: &str, message_id: &str, headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n{headers}\r\n{body}\r\n"
    )
}

/// A fresh message id.
pub fn message_id() -> String {
    format!("{}@client.test", Uuid::new_v4().simple())
}

/// Delivers `raw` with lettre's SMTP client, as a relaying mail server would.
pub async fn deliver(port: u16, from: &str, raw: &[u8]) -> Result<(), String> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(Duration::from_secs(20)))
        .build();
    let envelope = Envelope::new(
        Some(from.parse().map_err(|e| format!("{e}"))?),
        vec![SUPPORT.parse().expect("an address")],
    )
    .map_err(|e| e.to_string())?;
    transport
        .send_raw(&envelope, raw)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A bare SMTP session for exact reply codes.
pub struct RawSmtp {
    read: BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl RawSmtp {
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the listener");
        let (read, write) = stream.into_split();
        let mut session = Self {
            read: BufReader::new(read),
            write,
        };
        assert_eq!(session.reply().await, 220, "greeting");
        session
    }

    /// The code of the next (possibly multi-line) reply.
    pub async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            self.read.read_line(&mut line).await.expect("read a reply");
            assert!(line.len() >= 4, "a reply line: {line:?}");
            if line.as_bytes()[3] != b'-' {
                return line[..3].parse().expect("a reply code");
            }
        }
    }

    /// Sends one command line and returns the reply's code.
    pub async fn command(&mut self, line: &str) -> u16 {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.expect("write");
    }
}

/// Waits until `email_inbound` has the row of `message_id`: (outcome, reason, ticket).
pub async fn recorded(app: &TestApp, message_id: &str) -> (String, Option<String>, Option<Uuid>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row: Option<(String, Option<String>, Option<Uuid>)> = sqlx::query_as(
            "SELECT outcome, reason, ticket_id FROM email_inbound WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&app.pool)
        .await
        .expect("read email_inbound");
        if let Some(row) = row {
            return row;
        }
        assert!(Instant::now() < deadline, "{message_id} was never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stored events' types and payloads of a ticket.
pub async fn events_of(app: &TestApp, ticket: Uuid) -> Vec<(String, Value)> {
    app.stored_events(ticket)
        .await
        .into_iter()
        .map(|(_, kind, payload, _)| (kind, payload))
        .collect()
}

/// An SMTP receiver in the test process: keeps every mail it accepts. While `hang` is set it
/// takes the data and never answers it (a server that dies between data and its 250).
#[derive(Clone)]
pub struct Sink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Vec<u8>>>>,
    pub hang: Arc<AtomicBool>,
    /// Mails whose data arrived while hanging (never answered, never kept).
    pub hung: Arc<AtomicUsize>,
}

impl Sink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// A receiver on `port` (0: any free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let sink = Self {
            port: listener.local_addr().expect("an address").port(),
            received: Arc::default(),
            hang: Arc::default(),
            hung: Arc::default(),
        };
        let this = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move {
                    let _ = this.session(stream).await;
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            let answer: &[u8] = match verb.as_str() {
                "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                "DATA" => {
                    write.write_all(b"354 go on\r\n").await?;
                    let mut data = Vec::new();
                    loop {
                        let mut line = Vec::new();
                        if read.read_until(b'\n', &mut line).await? == 0 {
                            return Ok(());
                        }
                        if line == b".\r\n" {
                            break;
                        }
                        data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
                    }
                    if self.hang.load(Ordering::SeqCst) {
                        self.hung.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await;
                    }
                    self.received.lock().expect("lock").push(data);
                    b"250 kept\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"250 ok\r\n",
            };
            write.write_all(answer).await?;
        }
    }

    /// The mails received so far, parsed.
    pub fn mails(&self) -> Vec<mail_parser::Message<'static>> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|raw| {
                mail_parser::MessageParser::default()
                    .parse(raw)
                    .map(|m| m.into_owned())
            })
            .collect()
    }

    /// Waits until `n` mails arrived, and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<mail_parser::Message<'static>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} mails arrived",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The test IMAP server (deploy/services.sh): host, port, user, password.
fn imap_server() -> (String, u16, String, String) {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    (
        var("IMAP_HOST", "127.0.0.1"),
        var("IMAP_PORT", "1143").parse().expect("IMAP_PORT"),
        var("IMAP_TEST_USER", "ticketd"),
        var("IMAP_TEST_PASSWORD", "ticketd"),
    )
}

/// The authority that signed the test IMAP server's TLS certificate (deploy/services.sh).
pub fn imap_test_authority() -> std::path::PathBuf {
    let dir = std::env::var("DOVECOT_DIR").unwrap_or_else(|_| "/var/lib/ticketd-dovecot".into());
    std::path::Path::new(&dir).join("tls").join("ca.pem")
}

/// A mailbox of this test's own on the test IMAP server.
pub struct Mailbox {
    session: async_imap::Session<TcpStream>,
    pub name: String,
}

impl Mailbox {
    /// A new mailbox.
    pub async fn create() -> Self {
        let mut session = Self::session().await;
        let name = format!("test-{}", Uuid::new_v4().simple());
        session.create(&name).await.expect("create a mailbox");
        Self { session, name }
    }

    /// Another session on mailbox `name`.
    pub async fn open(name: &str) -> Self {
        Self {
            session: Self::session().await,
            name: name.into(),
        }
    }

    async fn session() -> async_imap::Session<TcpStream> {
        let (host, port, user, password) = imap_server();
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .expect("the test IMAP server runs (deploy/services.sh starts it)");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(user, password)
            .await
            .map_err(|(e, _)| e)
            .expect("log in to the test IMAP server")
    }

    /// `IMAP_URL` for this mailbox.
    pub fn url(&self) -> String {
        let (host, port, user, password) = imap_server();
        format!("imap://{user}:{password}@{host}:{port}/{}", self.name)
    }

    /// `IMAP_URL` for this mailbox over TLS (`IMAPS_PORT`, default 1993).
    pub fn tls_url(&self) -> String {
        let (host, _, user, password) = imap_server();
        let port = std::env::var("IMAPS_PORT").unwrap_or_else(|_| "1993".into());
        format!("imaps://{user}:{password}@{host}:{port}/{}", self.name)
    }

    pub async fn append(&mut self, raw: &str) {
        self.session
            .append(&self.name, None, None, raw.as_bytes())
            .await
            .expect("append a message");
    }

    /// How many messages are marked seen.
    pub async fn seen(&mut self) -> usize {
        self.session.select(&self.name).await.expect("select");
        self.session.uid_search("SEEN").await.expect("search").len()
    }

    pub async fn remove(mut self) {
        let _ = self.session.delete(&self.name).await;
        let _ = self.session.logout().await;
    }
}

/// Waits until `check` holds, polling.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `ticketd serve` process on the test's database, for tests that kill the engine.
pub struct Engine {
    child: tokio::process::Child,
}

impl Engine {
    /// Starts the engine binary with `env` added, and waits until it answers `/healthz`.
    pub async fn start(app: &TestApp, env: &[(&str, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketd"))
            .arg("serve")
            .env("DATABASE_URL", &app.database_url)
            .env("JWT_SECRET", crate::helpers::SECRET)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start ticketd serve");
        let client = reqwest::Client::new();
        eventually("the engine process answers /healthz", || {
            let client = client.clone();
            async move {
                client
                    .get(format!("http://127.0.0.1:{port}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        Self { child }
    }

    /// `kill -9`.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill the engine");
    }
}
