//! The engine's SMTP listener (`SMTP_LISTEN_ADDR`), for a mail server to relay inbound mail to.
//!
//! A small RFC 5321 server state machine over tokio rather than a crate: the maintained embeddable
//! servers are synchronous (one thread per connection) or tied to another runtime, and what a
//! relay target needs is little: EHLO, MAIL, RCPT (only our addresses, else 550), DATA (up to a
//! size, else 552), RSET, NOOP, QUIT. A mail is answered 250 only once its event has committed,
//! so a crash before that leaves it with the sending server, which delivers it again; a database
//! outage answers 451 (try later). TLS is the relaying server's business on the way in, not this
//! listener's (it is meant for loopback or a private network).

use std::sync::Arc;
use std::time::Duration;

use ticket_projections::CancellationToken;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::inbound::{Applied, Inbox, Route};
use super::status::ChannelStatus;

/// Longest command line accepted (RFC 5321 allows 512 octets; extensions add parameters).
const LINE_MAX: usize = 4096;
/// Recipients per mail.
const RECIPIENTS_MAX: usize = 100;
/// How long the listener waits for a client's next line.
const IDLE: Duration = Duration::from_secs(300);
/// Unknown or out-of-order commands tolerated before the connection is closed.
const ERRORS_MAX: u32 = 10;

/// What the listener accepts.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The inbound addresses (`INBOUND_EMAIL_ADDRESSES`), lower case.
    pub recipients: Vec<String>,
    /// The largest mail accepted, in bytes (`EMAIL_MAX_BYTES`).
    pub max_bytes: usize,
    /// The name the listener greets with.
    pub hostname: String,
}

/// Accepts connections until `stop`; each session runs in its own task.
pub async fn serve(
    listener: Arc<TcpListener>,
    inbox: Arc<Inbox>,
    config: Arc<ListenerConfig>,
    status: ChannelStatus,
    stop: CancellationToken,
) {
    status.up();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (inbox, config, status, stop) =
                    (inbox.clone(), config.clone(), status.clone(), stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        result = session(stream, &inbox, &config, &status) => {
                            if let Err(error) = result {
                                tracing::debug!(%peer, %error, "SMTP session ended");
                            }
                        }
                    }
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(%error, "SMTP listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One SMTP session.
async fn session(
    stream: TcpStream,
    inbox: &Inbox,
    config: &ListenerConfig,
    status: &ChannelStatus,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut state = Envelope::default();
    let mut errors = 0_u32;
    reply(
        &mut write,
        &format!("220 {} ESMTP ticketd", config.hostname),
    )
    .await?;
    loop {
        let Some(line) = next_line(&mut read, LINE_MAX).await? else {
            return Ok(());
        };
        let Line::Complete(line) = line else {
            errors += 1;
            reply(&mut write, "500 5.5.2 line too long").await?;
            continue;
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                state = Envelope::default();
                format!(
                    "250-{}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING",
                    config.hostname, config.max_bytes
                )
            }
            "HELO" => {
                state = Envelope::default();
                format!("250 {}", config.hostname)
            }
            "MAIL" => match path_of(arg, "FROM:") {
                Some(_) if state.mail => "503 5.5.1 sender already given".into(),
                Some(_) if declared_size(arg).is_some_and(|s| s > config.max_bytes) => {
                    status.refused();
                    format!("552 5.3.4 message larger than {} bytes", config.max_bytes)
                }
                Some(_) => {
                    state.mail = true;
                    "250 2.1.0 ok".into()
                }
                None => "501 5.5.4 syntax: MAIL FROM:<address>".into(),
            },
            "RCPT" => match path_of(arg, "TO:") {
                _ if !state.mail => "503 5.5.1 MAIL first".into(),
                _ if state.recipients >= RECIPIENTS_MAX => "452 4.5.3 too many recipients".into(),
                Some(to) if config.recipients.contains(&to.to_ascii_lowercase()) => {
                    state.recipients += 1;
                    "250 2.1.5 ok".into()
                }
                Some(_) => {
                    status.refused();
                    "550 5.1.1 no such mailbox here".into()
                }
                None => "501 5.5.4 syntax: RCPT TO:<address>".into(),
            },
            "DATA" if state.recipients == 0 => "503 5.5.1 RCPT first".into(),
            "DATA" => {
                reply(&mut write, "354 end data with <CRLF>.<CRLF>").await?;
                let answer = match read_data(&mut read, config.max_bytes).await? {
                    Data::Complete(raw) => match inbox.deliver(&raw, Route::Smtp).await {
                        // Taken either way: an ignored mail (a loop, unreadable input) is
                        // recorded with its reason in `email_inbound`, and a bounce for it would
                        // only feed the loop.
                        Ok(Applied::Ignored(_)) => "250 2.0.0 ok".into(),
                        Ok(_) => {
                            status.accepted();
                            "250 2.0.0 ok".into()
                        }
                        Err(error) => {
                            tracing::warn!(
                                error = format!("{error:#}"),
                                "inbound mail not applied"
                            );
                            status.failed(format!("{error:#}"));
                            "451 4.3.0 cannot store the mail now, try again later".into()
                        }
                    },
                    Data::TooLarge => {
                        status.refused();
                        format!("552 5.3.4 message larger than {} bytes", config.max_bytes)
                    }
                    Data::Closed => return Ok(()),
                };
                state = Envelope::default();
                answer
            }
            "RSET" => {
                state = Envelope::default();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "VRFY" => "252 2.5.0 cannot verify".into(),
            "QUIT" => {
                reply(&mut write, "221 2.0.0 bye").await?;
                return Ok(());
            }
            _ => {
                errors += 1;
                "500 5.5.2 command not recognized".into()
            }
        };
        reply(&mut write, &answer).await?;
        if errors >= ERRORS_MAX {
            reply(&mut write, "421 4.7.0 too many errors").await?;
            return Ok(());
        }
    }
}

/// The transaction so far.
#[derive(Debug, Default)]
struct Envelope {
    mail: bool,
    recipients: usize,
}

async fn reply(write: &mut (impl AsyncWrite + Unpin), text: &str) -> std::io::Result<()> {
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\r\n").await?;
    write.flush().await
}

/// The address of `FROM:<a@b> SIZE=…` / `TO:<a@b>`; `<>` (the null sender) is an empty one.
fn path_of<'a>(arg: &'a str, prefix: &str) -> Option<&'a str> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].trim())
}

/// `SIZE=n` of a MAIL command.
fn declared_size(arg: &str) -> Option<usize> {
    arg.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("SIZE"))
        .and_then(|(_, v)| v.parse().ok())
}

enum Line {
    Complete(Vec<u8>),
    /// Longer than allowed: the rest of it was skipped.
    TooLong,
}

/// The next line (with its line end), at most `max` bytes kept; `None` at the end of input.
async fn next_line(
    read: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = match tokio::time::timeout(IDLE, read.fill_buf()).await {
            Ok(buf) => buf?,
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle")),
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                None
            } else {
                Some(Line::TooLong)
            });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (&buf[..=at], true),
            None => (buf, false),
        };
        let taken = chunk.len();
        if line.len() + taken > max {
            too_long = true;
        } else if !too_long {
            line.extend_from_slice(chunk);
        }
        read.consume(taken);
        if done {
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            }));
        }
    }
}

enum Data {
    Complete(Vec<u8>),
    /// Larger than the limit: read to its end and dropped.
    TooLarge,
    Closed,
}

/// The mail after DATA, dot-unstuffed, up to the `.` line.
async fn read_data(
    read: &mut (impl AsyncBufRead + Unpin),
    max_bytes: usize,
) -> std::io::Result<Data> {
    let mut data = Vec::new();
    let mut too_large = false;
    loop {
        // Data lines are at most 1,000 octets by RFC 5321; longer ones are kept whole up to
        // the mail's own limit rather than refused, as real clients send them.
        let Some(line) = next_line(read, max_bytes.saturating_add(2)).await? else {
            return Ok(Data::Closed);
        };
        let line = match line {
            Line::Complete(line) => line,
            Line::TooLong => {
                too_large = true;
                continue;
            }
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok(if too_large {
                Data::TooLarge
            } else {
                Data::Complete(data)
            });
        }
        if too_large {
            continue;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + line.len() > max_bytes {
            too_large = true;
            data = Vec::new();
            continue;
        }
        data.extend_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_with_or_without_parameters() {
        assert_eq!(path_of("FROM:<a@b> SIZE=10", "FROM:"), Some("a@b"));
        assert_eq!(path_of("from: <A@B>", "FROM:"), Some("A@B"));
        assert_eq!(path_of("FROM:<>", "FROM:"), Some(""));
        assert_eq!(path_of("TO:a@b", "TO:"), None);
        assert_eq!(path_of("FROM:<a@b>", "TO:"), None);
        assert_eq!(
            declared_size("FROM:<a@b> BODY=8BITMIME SIZE=1234"),
            Some(1234)
        );
        assert_eq!(declared_size("FROM:<a@b>"), None);
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_and_bounded() {
        let mut input: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\nbody\r\n.\r\nNEXT\r\n";
        let Data::Complete(raw) = read_data(&mut input, 1000).await.unwrap() else {
            panic!("complete")
        };
        assert_eq!(raw, b"Subject: x\r\n\r\n.leading dot\r\nbody\r\n");
        assert_eq!(
            input, b"NEXT\r\n",
            "the terminator ends the mail, the rest stays"
        );

        let big = format!("{}\r\n{}\r\n.\r\nNEXT\r\n", "x".repeat(60), "y".repeat(60));
        let mut input = big.as_bytes();
        assert!(matches!(
            read_data(&mut input, 100).await.unwrap(),
            Data::TooLarge
        ));
        assert_eq!(input, b"NEXT\r\n", "a mail too large is read to its end");
    }
}
