//! The IMAP poller (`IMAP_URL`): unseen messages of one mailbox become tickets or comments, and
//! each is marked `\Seen` only after its event committed (or it was recorded as ignored), so a
//! crash or a database outage leaves it unseen for the next poll, and the Message-ID key makes
//! the second look apply nothing twice.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::TryStreamExt;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};
use ticket_nats::backoff::Backoff;
use ticket_projections::listen::sleep_or_cancel;
use ticket_projections::CancellationToken;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::inbound::{Applied, Inbox, Route};
use super::status::ChannelStatus;

/// Messages fetched per round.
const ROUND: usize = 100;

/// Where to poll, from `IMAP_URL` (`imaps://user:pass@host[:993]/INBOX`, or `imap://` for a
/// server on loopback without TLS).
#[derive(Clone)]
pub struct ImapTarget {
    /// `imaps://`: TLS from the first byte.
    pub tls: bool,
    host: String,
    port: u16,
    user: String,
    password: SecretString,
    /// The mailbox (default `INBOX`).
    pub mailbox: String,
}

impl std::fmt::Debug for ImapTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.display())
    }
}

impl ImapTarget {
    /// Reads an `IMAP_URL`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        let tls = match url.scheme() {
            "imaps" => true,
            "imap" => false,
            other => return Err(format!("scheme must be imaps or imap, not {other}")),
        };
        let host = url.host_str().ok_or("no host")?.to_string();
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let user = decode(url.username());
        let password = decode(url.password().unwrap_or(""));
        if user.is_empty() || password.is_empty() {
            return Err("user and password must be given in the URL".into());
        }
        let mailbox = decode(url.path().trim_start_matches('/'));
        Ok(Self {
            tls,
            port: url.port().unwrap_or(if tls { 993 } else { 143 }),
            host,
            user,
            password: SecretString::from(password),
            mailbox: if mailbox.is_empty() {
                "INBOX".into()
            } else {
                mailbox
            },
        })
    }

    /// The target without its password, for logs and `/readyz`.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "imaps" } else { "imap" };
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.user, self.host, self.port, self.mailbox
        )
    }
}

/// The TLS client settings for an `imaps://` server: the public web PKI's authorities, and
/// those of `ca_file` (PEM, `IMAP_CA_FILE`) for a server with a private authority.
pub fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("IMAP_CA_FILE: cannot read {}", path.display()))?
        {
            let cert =
                cert.with_context(|| format!("IMAP_CA_FILE: {} is not PEM", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("IMAP_CA_FILE: a certificate of {}", path.display()))?;
            added += 1;
        }
        anyhow::ensure!(
            added > 0,
            "IMAP_CA_FILE: {} holds no certificate",
            path.display()
        );
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS setup")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What the poller needs.
pub struct Poller {
    /// Where to poll.
    pub target: ImapTarget,
    /// For an `imaps://` target: whom to trust ([`tls_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How long to wait between polls.
    pub interval: Duration,
    /// The largest mail applied; a larger one is recorded as ignored.
    pub max_bytes: usize,
    /// Where mail goes.
    pub inbox: Arc<Inbox>,
    /// Its state for `/readyz`.
    pub status: ChannelStatus,
}

impl Poller {
    /// Polls until `stop`, reconnecting with backoff after a failure.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(60));
        loop {
            let result = tokio::select! {
                () = stop.cancelled() => return,
                result = self.connect_and_poll(&stop) => result,
            };
            match result {
                Ok(()) => return,
                Err(error) => {
                    let error = format!("{error:#}");
                    tracing::warn!(target = %self.target.display(), %error, "IMAP poll failed");
                    self.status.failed(error);
                    if sleep_or_cancel(backoff.next_pause(), &stop).await {
                        return;
                    }
                }
            }
        }
    }

    async fn connect_and_poll(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .with_context(|| format!("cannot connect to {}", self.target.display()))?;
        if let Some(config) = &self.tls {
            let name = rustls::pki_types::ServerName::try_from(self.target.host.clone())
                .context("IMAP host name")?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .context("TLS handshake with the IMAP server")?;
            self.poll(tls, stop).await
        } else {
            self.poll(tcp, stop).await
        }
    }

    async fn poll<T>(&self, stream: T, stop: &CancellationToken) -> anyhow::Result<()>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .context("IMAP greeting")?
            .context("the IMAP server closed before greeting")?;
        let mut session = client
            .login(&self.target.user, self.target.password.expose_secret())
            .await
            .map_err(|(e, _)| e)
            .context("IMAP login")?;
        session
            .select(&self.target.mailbox)
            .await
            .with_context(|| format!("cannot select {}", self.target.mailbox))?;
        self.status.up();
        loop {
            let mut uids: Vec<u32> = session
                .uid_search("UNSEEN")
                .await
                .context("UID SEARCH UNSEEN")?
                .into_iter()
                .collect();
            uids.sort_unstable();
            for uid in uids.into_iter().take(ROUND) {
                if stop.is_cancelled() {
                    break;
                }
                if self.take(&mut session, uid).await? {
                    session
                        .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                        .await
                        .context("UID STORE \\Seen")?
                        .try_collect::<Vec<_>>()
                        .await
                        .context("UID STORE \\Seen")?;
                }
            }
            if sleep_or_cancel(self.interval, stop).await {
                let _ = session.logout().await;
                return Ok(());
            }
        }
    }

    /// Fetches and applies message `uid`; true when it may be marked seen.
    async fn take<T>(&self, session: &mut async_imap::Session<T>, uid: u32) -> anyhow::Result<bool>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), "(RFC822.SIZE BODY.PEEK[HEADER])")
            .await
            .context("UID FETCH size")?
            .try_collect()
            .await
            .context("UID FETCH size")?;
        let Some(head) = fetched.iter().find(|f| f.uid == Some(uid)) else {
            return Ok(false);
        };
        let size = head.size.unwrap_or(0) as usize;
        let applied = if size > self.max_bytes {
            let header = head.header().unwrap_or_default();
            self.inbox
                .too_large(header, size, self.max_bytes, Route::Imap)
                .await
        } else {
            let fetched: Vec<_> = session
                .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                .await
                .context("UID FETCH body")?
                .try_collect()
                .await
                .context("UID FETCH body")?;
            let Some(body) = fetched
                .iter()
                .find(|f| f.uid == Some(uid))
                .and_then(|f| f.body())
            else {
                return Ok(false);
            };
            self.inbox.deliver(body, Route::Imap).await
        };
        match applied {
            Ok(applied) => {
                if !matches!(applied, Applied::Ignored(_)) {
                    self.status.accepted();
                }
                Ok(true)
            }
            // Left unseen: the next poll tries it again.
            Err(error) => {
                let error = format!("{error:#}");
                tracing::warn!(uid, %error, "IMAP message not applied");
                self.status.failed(error);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_urls_give_credentials_mailbox_and_port() {
        let t = ImapTarget::parse("imaps://help%40corp.example:p%2Fss@mail.example/Support%20In")
            .unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("mail.example", 993));
        assert_eq!(t.user, "help@corp.example");
        assert_eq!(t.password.expose_secret(), "p/ss");
        assert_eq!(t.mailbox, "Support In");
        assert!(!t.display().contains("p/ss") && !format!("{t:?}").contains("p%2Fss"));

        let t = ImapTarget::parse("imap://u:p@127.0.0.1:1143").unwrap();
        assert_eq!((t.tls, t.port, t.mailbox.as_str()), (false, 1143, "INBOX"));

        for bad in [
            "http://u:p@h/INBOX",
            "imap://h/INBOX",
            "imap://u@h/",
            "not a url",
        ] {
            assert!(ImapTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_authority_file_that_is_missing_or_holds_no_certificate_is_named() {
        assert!(tls_config(None).is_ok());
        let missing = std::env::temp_dir().join(format!("no-such-{}.pem", uuid::Uuid::new_v4()));
        let error = format!("{:#}", tls_config(Some(&missing)).unwrap_err());
        assert!(error.starts_with("IMAP_CA_FILE: cannot read"), "{error}");
        let empty = std::env::temp_dir().join(format!("empty-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let error = format!("{:#}", tls_config(Some(&empty)).unwrap_err());
        std::fs::remove_file(&empty).unwrap();
        assert!(error.contains("holds no certificate"), "{error}");
    }
}
