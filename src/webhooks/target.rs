//! The webhook URL policy (CONTRACT 8): `https`, or `http` to an allow-listed host; no host
//! that resolves to an internal address unless allow-listed. Checked when an endpoint is
//! created or changed ([`check`]) and again by every delivery: the delivery client resolves
//! names through [`CheckedResolver`], so the addresses it connects to are the ones it checked
//! (a second lookup could answer differently), and [`check_literal`] covers URLs that name an
//! address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use super::address;
use super::config::WebhookSettings;

/// The longest URL an endpoint may have.
pub const URL_MAX: usize = 2048;

/// Checks a URL's syntax and scheme, without resolving it.
pub fn parse(text: &str, settings: &WebhookSettings) -> Result<Url, String> {
    if text.len() > URL_MAX {
        return Err(format!("must be at most {URL_MAX} characters"));
    }
    let url = Url::parse(text.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("must name a host".into());
    };
    match url.scheme() {
        "https" => {}
        "http" if WebhookSettings::listed(&settings.allow_http_hosts, host) => {}
        "http" => {
            return Err(format!(
                "must be https (http only to a host in WEBHOOK_ALLOW_HTTP_HOSTS, not {host})"
            ))
        }
        other => return Err(format!("must be https, not {other}")),
    }
    // Credentials in a URL end up in logs and in the deliveries' errors.
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    Ok(url)
}

/// Checks a URL fully: syntax, scheme, and every address its host resolves to.
pub async fn check(text: &str, settings: &WebhookSettings) -> Result<Url, String> {
    let url = parse(text, settings)?;
    let host = url.host_str().unwrap_or_default().to_string();
    if WebhookSettings::listed(&settings.allow_private_hosts, &host) {
        return Ok(url);
    }
    if let Some(ip) = literal(&url) {
        refuse(&host, &[ip])?;
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses = lookup(&host, port).await?;
    refuse(
        &host,
        &addresses.iter().map(SocketAddr::ip).collect::<Vec<_>>(),
    )?;
    Ok(url)
}

/// At delivery: refuses a URL whose host is an internal address literal (names are checked by
/// [`CheckedResolver`] as the client connects).
pub fn check_literal(url: &Url, settings: &WebhookSettings) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    match literal(url) {
        Some(ip) if !WebhookSettings::listed(&settings.allow_private_hosts, host) => {
            refuse(host, &[ip])
        }
        _ => Ok(()),
    }
}

fn literal(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

fn refuse(host: &str, addresses: &[IpAddr]) -> Result<(), String> {
    match addresses
        .iter()
        .find_map(|ip| address::refusal(*ip).map(|why| (ip, why)))
    {
        Some((ip, why)) => Err(format!(
            "{host} resolves to {ip}, {why} (allowed only for hosts in WEBHOOK_ALLOW_PRIVATE_HOSTS)"
        )),
        None => Ok(()),
    }
}

async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve ({e})"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addresses)
}

/// The delivery client's resolver: resolves once and hands the client only addresses that
/// passed the policy, so that a DNS answer cannot change between the check and the connection.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    allow_private_hosts: Arc<Vec<String>>,
}

impl CheckedResolver {
    /// A resolver enforcing `settings`' private-host allow-list.
    pub fn new(settings: &WebhookSettings) -> Self {
        Self {
            allow_private_hosts: Arc::new(settings.allow_private_hosts.clone()),
        }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allow_private_hosts.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            // The client puts the URL's port back on each address.
            let addresses = lookup(&host, 0).await?;
            if !WebhookSettings::listed(&allowed, &host) {
                refuse(
                    &host,
                    &addresses.iter().map(SocketAddr::ip).collect::<Vec<_>>(),
                )?;
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            allow_http_hosts: vec!["127.0.0.1".into(), "localhost".into()],
            ..WebhookSettings::default()
        }
    }

    #[test]
    fn only_https_or_allow_listed_http_passes() {
        let s = settings();
        assert!(parse("https://example.com/hook", &s).is_ok());
        assert!(parse("http://127.0.0.1:9/hook", &s).is_ok());
        for bad in [
            "not a url",
            "file:///etc/passwd",
            "ftp://example.com/",
            "http://example.com/",
            "https://user:pw@example.com/",
            "https://",
        ] {
            assert!(parse(bad, &s).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn internal_literals_and_loopback_names_are_refused() {
        let s = WebhookSettings {
            allow_http_hosts: vec!["169.254.169.254".into(), "[::1]".into(), "localhost".into()],
            ..WebhookSettings::default()
        };
        for bad in [
            "http://169.254.169.254/",
            "http://[::1]/",
            "https://10.0.0.1/",
            "https://[::ffff:10.0.0.1]/",
            "http://localhost:8080/",
        ] {
            let error = check(bad, &s).await.expect_err(bad);
            assert!(error.contains("resolves to"), "{bad}: {error}");
        }
        let allowed = WebhookSettings {
            allow_private_hosts: vec!["localhost".into()],
            ..s
        };
        assert!(check("http://localhost:8080/", &allowed).await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_for_loopback_and_passes_an_allowed_one() {
        let strict = CheckedResolver::new(&WebhookSettings::default());
        let name = || "localhost".parse::<Name>().expect("a name");
        assert!(strict.resolve(name()).await.is_err());
        let lenient = CheckedResolver::new(&WebhookSettings {
            allow_private_hosts: vec!["localhost".into()],
            ..WebhookSettings::default()
        });
        let addresses: Vec<SocketAddr> = lenient.resolve(name()).await.expect("resolved").collect();
        assert!(addresses.iter().all(|a| a.ip().is_loopback()));
    }
}
