//! Attachments (CONTRACT 10): files stored through `object_store` (a local directory, or any
//! S3-compatible store), hashed while they stream in, named in `ticket.commented` with their
//! SHA-256 so that the hash chain covers their content.
//!
//! - [`names`]: making declared file names and media types safe to store and to serve.
//! - [`upload`]: streaming a file into the store while counting and hashing it.
//! - [`records`]: the files' metadata and which comment lists them.

pub mod names;
pub mod records;
pub mod upload;

use std::sync::Arc;

use anyhow::Context;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use uuid::Uuid;

use crate::settings::AttachmentSettings;

/// Orphans (uploaded, never listed by a comment) are removed after this long.
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The store of attachment contents; cheap to clone.
#[derive(Clone)]
pub struct Attachments {
    store: Arc<dyn ObjectStore>,
    /// The largest file accepted.
    pub max_bytes: u64,
    /// Size of the parts a file is written in: S3 wants at least 5 MiB per part; a local
    /// directory takes any, and smaller parts keep less of an upload in memory.
    part_size: usize,
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachments")
            .field("store", &self.store.to_string())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Attachments {
    /// Opens the configured store (creating the local directory if missing).
    pub fn open(settings: &AttachmentSettings) -> anyhow::Result<Self> {
        let (store, part_size): (Arc<dyn ObjectStore>, usize) = match &settings.store {
            Some(url) => {
                let parsed = url::Url::parse(url)
                    .with_context(|| format!("ATTACHMENT_STORE '{url}' is not a URL"))?;
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .with_context(|| format!("ATTACHMENT_STORE '{url}' names no bucket"))?;
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (key, value) in &settings.s3_options {
                    let key = key
                        .parse()
                        .with_context(|| format!("unknown S3 option '{key}'"))?;
                    builder = builder.with_config(key, value);
                }
                let s3 = builder.build().context("cannot configure the S3 store")?;
                let prefix = parsed.path().trim_matches('/');
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                };
                (store, 5 * 1024 * 1024)
            }
            None => {
                std::fs::create_dir_all(&settings.dir).with_context(|| {
                    format!("cannot create ATTACHMENT_DIR {}", settings.dir.display())
                })?;
                let local = LocalFileSystem::new_with_prefix(&settings.dir).with_context(|| {
                    format!("cannot open ATTACHMENT_DIR {}", settings.dir.display())
                })?;
                (Arc::new(local), 256 * 1024)
            }
        };
        Ok(Self {
            store,
            max_bytes: settings.max_bytes,
            part_size,
        })
    }

    /// The store itself (downloads, checks).
    pub fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }

    /// Where a file's content is: its id, never a name the uploader chose.
    pub fn location(id: Uuid) -> Path {
        Path::from(format!("attachments/{}", id.simple()))
    }

    /// Removes a file's content; one already gone is no error.
    pub async fn remove(&self, id: Uuid) -> anyhow::Result<()> {
        match self.store.delete(&Self::location(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove attachment {id}"))),
        }
    }

    /// The SHA-256 (lowercase hex) and size of a stored file, read through once.
    pub async fn digest(&self, id: Uuid) -> anyhow::Result<(String, u64)> {
        use futures::StreamExt;
        use sha2::{Digest, Sha256};
        let got = self
            .store
            .get(&Self::location(id))
            .await
            .with_context(|| format!("cannot read attachment {id}"))?;
        let mut stream = got.into_stream();
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("cannot read attachment {id}"))?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((hex::encode(hasher.finalize()), size))
    }
}

/// Removes files no comment listed within [`ORPHAN_AGE`] (content first, then metadata, so a
/// failure leaves the metadata to retry with). Returns how many went.
pub async fn sweep_orphans(
    pool: &sqlx::PgPool,
    attachments: &Attachments,
    age: std::time::Duration,
) -> anyhow::Result<usize> {
    let orphans = records::orphans(pool, age)
        .await
        .context("cannot list orphan attachments")?;
    for (id, ticket) in &orphans {
        attachments.remove(*id).await?;
        records::delete(pool, *id)
            .await
            .with_context(|| format!("cannot forget attachment {id}"))?;
        tracing::info!(attachment_id = %id, ticket_id = ?ticket, "orphan attachment removed");
    }
    Ok(orphans.len())
}
