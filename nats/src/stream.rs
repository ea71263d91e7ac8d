//! Connecting to NATS and making sure the stream exists.

use async_nats::jetstream::{self, stream};
use async_nats::{Client, ConnectOptions, ServerAddr};

use crate::config::{Config, MIN_DUPLICATE_WINDOW};
use crate::error::Error;
use crate::subject;

/// Connects to NATS at `urls` (one URL, or several separated by commas for a cluster) without
/// waiting for a server.
///
/// The connection is made in the background and re-made whenever it drops, forever: a caller is
/// never blocked or failed by NATS being down, and requests made meanwhile fail with a timeout
/// (the relay then backs off and retries). Only a malformed URL is an error.
pub async fn connect(urls: &str, client_name: &str) -> Result<Client, Error> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse::<ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("bad NATS url {urls:?}: {e}")))?;
    if addrs.is_empty() {
        return Err(Error::Config("no NATS url given".into()));
    }
    ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(addrs.as_slice())
        .await
        .map_err(|e| Error::nats(format!("cannot connect to NATS at {urls}"), e))
}

/// A JetStream context whose requests and publish acknowledgements time out after
/// `config.ack_timeout`.
pub fn jetstream(client: Client, config: &Config) -> jetstream::Context {
    let mut context = jetstream::new(client);
    context.set_timeout(config.ack_timeout);
    context
}

/// The stream as the engine creates it: `<prefix>.>`, file storage, limits retention, the
/// configured duplicate window and replicas. Only settings that nats-server 2.9 knows.
pub fn stream_config(config: &Config) -> stream::Config {
    stream::Config {
        name: config.stream.clone(),
        description: Some("ticketd events (copies; Postgres is the source of truth)".into()),
        subjects: subject::stream_subjects(&config.subject_prefix),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        num_replicas: config.replicas,
        duplicate_window: config.duplicate_window,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_consumers: -1,
        ..stream::Config::default()
    }
}

/// Returns the stream's description, creating the stream first if it does not exist.
///
/// An existing stream is used as it is (in production it is created by hand, replicated), but
/// it must capture the configured subjects; a duplicate window shorter than two minutes is
/// logged as a warning, since the relay relies on it to drop the repeats a restart makes.
pub async fn ensure_stream(
    context: &jetstream::Context,
    config: &Config,
) -> Result<stream::Info, Error> {
    config.validate()?;
    let mut stream = match context.get_stream(&config.stream).await {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref js)
                    if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            tracing::info!(stream = %config.stream, "creating the JetStream stream");
            match context.create_stream(stream_config(config)).await {
                Ok(stream) => stream,
                // Another engine created it in between: use theirs.
                Err(e)
                    if matches!(
                        e.kind(),
                        jetstream::context::CreateStreamErrorKind::JetStream(ref js)
                            if js.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST
                    ) =>
                {
                    context.get_stream(&config.stream).await.map_err(|e| {
                        Error::nats(format!("cannot read stream {}", config.stream), e)
                    })?
                }
                Err(e) => {
                    return Err(Error::nats(
                        format!("cannot create stream {}", config.stream),
                        e,
                    ))
                }
            }
        }
        Err(e) => {
            return Err(Error::nats(
                format!("cannot read stream {}", config.stream),
                e,
            ))
        }
    };
    let info = stream
        .info()
        .await
        .map_err(|e| Error::nats(format!("cannot read stream {}", config.stream), e))?
        .clone();
    check_existing(&info.config, config)?;
    add_sibling_subjects(context, info, config).await
}

/// A stream made before users (or custom fields) had streams of their own captures tickets
/// only: it gets the missing subjects added, so that publishing such an event never fails for
/// want of a stream.
async fn add_sibling_subjects(
    context: &jetstream::Context,
    info: stream::Info,
    config: &Config,
) -> Result<stream::Info, Error> {
    let missing = missing_subjects(&info.config.subjects, &config.subject_prefix);
    if missing.is_empty() {
        return Ok(info);
    }
    let mut updated = info.config.clone();
    updated.subjects.extend(missing);
    tracing::info!(stream = %config.stream, subjects = ?updated.subjects, "adding the users and fields subjects to the stream");
    context
        .update_stream(&updated)
        .await
        .map_err(|e| Error::nats(format!("cannot update stream {}", config.stream), e))
}

/// The users and fields subjects that none of `subjects` captures.
fn missing_subjects(subjects: &[String], prefix: &str) -> Vec<String> {
    [
        subject::users_prefix(prefix),
        subject::fields_prefix(prefix),
    ]
    .iter()
    .map(|sibling| subject::all(sibling))
    .filter(|wanted| {
        !subjects
            .iter()
            .any(|s| s == ">" || s == wanted || wanted.starts_with(s.trim_end_matches('>')))
    })
    .collect()
}

fn check_existing(existing: &stream::Config, config: &Config) -> Result<(), Error> {
    let prefix = &config.subject_prefix;
    let covering = [
        ">".to_string(),
        subject::all(prefix),
        format!("{prefix}.{}.>", subject::VERSION),
    ];
    if !existing.subjects.iter().any(|s| covering.contains(s)) {
        return Err(Error::Config(format!(
            "stream {} captures {:?}, not {}",
            config.stream,
            existing.subjects,
            subject::all(prefix)
        )));
    }
    if existing.duplicate_window < MIN_DUPLICATE_WINDOW {
        tracing::warn!(
            stream = %config.stream,
            duplicate_window = ?existing.duplicate_window,
            "the stream's duplicate window is shorter than two minutes: a relay restart may publish repeats"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_stream_follows_the_contract() {
        let created = stream_config(&Config::default());
        assert_eq!(created.name, "TICKETS");
        assert_eq!(created.subjects, ["tickets.>", "users.>", "fields.>"]);
        assert_eq!(created.storage, stream::StorageType::File);
        assert!(created.duplicate_window >= MIN_DUPLICATE_WINDOW);
        check_existing(&created, &Config::default()).unwrap();
    }

    #[test]
    fn an_older_stream_gets_the_subjects_it_lacks() {
        let subjects = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            missing_subjects(&subjects(&["tickets.>", "users.>"]), "tickets"),
            ["fields.>"]
        );
        assert_eq!(
            missing_subjects(&subjects(&["tickets.>"]), "tickets"),
            ["users.>", "fields.>"]
        );
        assert!(missing_subjects(&subjects(&[">"]), "tickets").is_empty());
        assert!(missing_subjects(&subjects(&["t1.>"]), "t1").is_empty());
    }

    #[test]
    fn a_stream_on_other_subjects_is_refused() {
        let mut other = stream_config(&Config::default());
        other.subjects = vec!["orders.>".into()];
        assert!(check_existing(&other, &Config::default()).is_err());
        other.subjects = vec!["tickets.v1.>".into()];
        check_existing(&other, &Config::default()).unwrap();
    }
}
