//! Logging: `tracing` spans and fields, as text or JSON.

use tracing::subscriber::set_global_default;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// A subscriber writing to `sink`, filtered by `RUST_LOG` or else `default_filter`.
pub fn get_subscriber<Sink>(
    default_filter: &str,
    format: LogFormat,
    sink: Sink,
) -> Box<dyn Subscriber + Send + Sync>
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().with_current_span(true).finish()),
    }
}

/// Installs `subscriber` for the whole process; a second call is ignored.
pub fn init_subscriber(subscriber: Box<dyn Subscriber + Send + Sync>) {
    let _ = set_global_default(subscriber);
}
