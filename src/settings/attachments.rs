//! `ATTACHMENT_*`: where attachments are stored and how large they may be (CONTRACT 10).

use std::path::PathBuf;

/// Default of `ATTACHMENT_MAX_BYTES`: 20 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;

/// Where files go.
#[derive(Debug, Clone)]
pub struct AttachmentSettings {
    /// `ATTACHMENT_STORE`: `s3://bucket/prefix` for an S3-compatible store (credentials, region
    /// and endpoint from the usual `AWS_*` variables); absent → the local directory.
    pub store: Option<String>,
    /// `ATTACHMENT_DIR`: the local directory (default `attachments`, created if missing).
    pub dir: PathBuf,
    /// `ATTACHMENT_MAX_BYTES`: the largest file accepted (default 20 MiB).
    pub max_bytes: u64,
    /// Options of the S3 client (`aws_endpoint`, `aws_access_key_id`, …) given beside the
    /// environment's, e.g. by tests that start their own store.
    pub s3_options: Vec<(String, String)>,
}

impl AttachmentSettings {
    /// Reads the variables through `var`; the error names the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, (&'static str, String)> {
        let max_bytes = match var("ATTACHMENT_MAX_BYTES") {
            None => DEFAULT_MAX_BYTES,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(("ATTACHMENT_MAX_BYTES", "must be a positive integer".into()))?,
        };
        let store = var("ATTACHMENT_STORE").filter(|s| !s.trim().is_empty());
        if let Some(url) = &store {
            if !url.starts_with("s3://") {
                return Err(("ATTACHMENT_STORE", format!("'{url}' is not an s3:// URL")));
            }
        }
        Ok(Self {
            store,
            dir: var("ATTACHMENT_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("attachments")),
            max_bytes,
            s3_options: Vec::new(),
        })
    }

    /// A local directory of its own under the system's temporary directory (tests, tools).
    pub fn temporary() -> Self {
        Self {
            store: None,
            dir: std::env::temp_dir().join(format!(
                "ticketd-attachments-{}",
                uuid::Uuid::new_v4().simple()
            )),
            max_bytes: DEFAULT_MAX_BYTES,
            s3_options: Vec::new(),
        }
    }
}
