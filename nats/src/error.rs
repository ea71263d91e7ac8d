//! What can go wrong on the NATS side.

/// A boxed error from a lower layer (the NATS client, or a relay's event source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of this crate: what failed, and the error that made it fail as its `source`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The [`Config`](crate::Config) cannot be used.
    #[error("invalid nats configuration: {0}")]
    Config(String),
    /// A request to NATS or JetStream failed (`what` says which).
    #[error("{what}")]
    Nats {
        /// What failed, e.g. "cannot publish tickets.v1.….created".
        what: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },
    /// A message could not be encoded or decoded.
    #[error("{what}")]
    Json {
        /// What failed.
        what: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// The relay's event source (the engine's event store) failed.
    #[error("cannot {what} in the relay's event source")]
    Source {
        /// What failed, e.g. "read events".
        what: &'static str,
        /// The source's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// A NATS error with what failed.
    pub fn nats(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Nats {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// `error: cause: cause…`, the whole chain on one line, for logs.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_what_failed_then_why() {
        let error = Error::nats("cannot create stream TICKETS", "timed out");
        assert_eq!(chain(&error), "cannot create stream TICKETS: timed out");
    }
}
