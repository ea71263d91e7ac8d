//! Streaming a file into the store: each chunk is counted and hashed as it passes, written in
//! parts of a bounded size (never the whole file in memory), and the upload is aborted (nothing
//! left in the store) when the file goes past the limit or its stream breaks.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::WriteMultipart;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Attachments;

/// A file stored whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Bytes written.
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// Why a file was not stored (nothing of it is left in the store).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Over the limit: reading stopped there.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The sender's stream broke (a cut connection, a malformed multipart body).
    #[error("the upload was cut: {0}")]
    Cut(String),
    /// The store failed.
    #[error("cannot store the file")]
    Store(#[source] anyhow::Error),
}

impl Attachments {
    /// Streams `body` into the store as attachment `id`.
    pub async fn receive<E: std::fmt::Display>(
        &self,
        id: Uuid,
        body: impl Stream<Item = Result<Bytes, E>>,
    ) -> Result<Stored, UploadError> {
        let location = Self::location(id);
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(|e| UploadError::Store(e.into()))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        let mut body = std::pin::pin!(body);
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(UploadError::Cut(e.to_string())),
                Some(Ok(chunk)) => chunk,
            };
            size += chunk.len() as u64;
            if size > self.max_bytes {
                break Some(UploadError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            hasher.update(&chunk);
            // One part in flight at most: memory stays within about two parts.
            if let Err(e) = writer.wait_for_capacity(1).await {
                break Some(UploadError::Store(e.into()));
            }
            writer.put(chunk);
        };
        match failure {
            None => {
                writer
                    .finish()
                    .await
                    .map_err(|e| UploadError::Store(e.into()))?;
                Ok(Stored {
                    size,
                    sha256: hex::encode(hasher.finalize()),
                })
            }
            Some(failure) => {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(attachment_id = %id, error = %e, "cannot abort a failed upload");
                }
                Err(failure)
            }
        }
    }
}
