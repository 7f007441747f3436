//! An artifact being written: a multipart upload that hashes and counts exactly the bytes
//! it stores. Parts are 8 MiB with at most two in flight on an object store, 4 MiB with one
//! in flight on a local folder (a local write is quick: buffering more only costs memory),
//! so memory stays bounded whatever the artifact's size. Nothing is visible under the final name until `finish`.

use crate::{local, StorageError};
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Size of each uploaded part on an object store (S3 wants at least 5 MiB for all but the
/// last, and at most 10,000 parts: 80 GB of stored bytes at this size).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts being uploaded at once to an object store; the writer waits before starting another.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Size of each part written to a local folder (no minimum, no part limit there).
pub const LOCAL_PART_SIZE: usize = 4 * 1024 * 1024;
/// Parts being written at once to a local folder.
pub const LOCAL_PARTS_IN_FLIGHT: usize = 1;

/// An artifact being written. Nothing is visible under its final name until `finish`.
pub struct Upload {
    store: Arc<dyn ObjectStore>,
    location: Path,
    /// The backup folder on disk (local backend only), removed on abort if left empty.
    local_dir: Option<PathBuf>,
    writer: WriteMultipart,
    /// This backend's part size and parts in flight.
    part_size: usize,
    in_flight: usize,
    /// Bytes in the part being filled (not yet handed to an upload task).
    buffered: usize,
    hasher: Sha256,
    stored_bytes: u64,
    raw_bytes: u64,
    /// The storage's encryptor, until `compress` takes it.
    encryptor: Option<age::Encryptor>,
    /// The scheme the written bytes are encrypted with, once `compress` took the encryptor.
    encryption: Option<&'static str>,
}

/// What a finished upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Raw bytes that went in (before compression).
    pub size_bytes: u64,
    /// Compressed bytes stored.
    pub stored_bytes: u64,
    /// Hex sha256 of the stored bytes.
    pub sha256: String,
    /// How the stored bytes are encrypted (`age`), for the manifest; `None` in clear.
    pub encryption: Option<String>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("location", &self.location.as_ref())
            .field("stored_bytes", &self.stored_bytes)
            .field("raw_bytes", &self.raw_bytes)
            .finish_non_exhaustive()
    }
}

impl Upload {
    pub(crate) async fn begin(
        store: Arc<dyn ObjectStore>,
        location: Path,
        local_dir: Option<PathBuf>,
        encryptor: Option<age::Encryptor>,
    ) -> Result<Self, StorageError> {
        if let Some(dir) = &local_dir {
            local::private_backup_dir(dir.clone()).await?;
        }
        let multipart = store.put_multipart(&location).await?;
        let (part_size, in_flight) = match local_dir {
            Some(_) => (LOCAL_PART_SIZE, LOCAL_PARTS_IN_FLIGHT),
            None => (PART_SIZE, MAX_PARTS_IN_FLIGHT),
        };
        Ok(Self {
            store,
            location,
            local_dir,
            writer: WriteMultipart::new_with_chunk_size(multipart, part_size),
            part_size,
            in_flight,
            buffered: 0,
            hasher: Sha256::new(),
            stored_bytes: 0,
            raw_bytes: 0,
            encryptor,
            encryption: None,
        })
    }

    /// Appends bytes to the artifact as they are (no compression: `pipeline::compress` is
    /// the usual writer). Waits while the backend's parts in flight are all uploading. `Stored::size_bytes`
    /// counts only raw bytes that went through `compress`.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let len = chunk.len();
        let parts_started = (self.buffered + len) / self.part_size;
        if parts_started > 0 {
            // wait_for_capacity(n) returns once fewer than n parts are in flight.
            let capacity = (self.in_flight + 1).saturating_sub(parts_started);
            self.writer.wait_for_capacity(capacity).await?;
        }
        self.hasher.update(&chunk);
        self.stored_bytes += len as u64;
        self.buffered = (self.buffered + len) % self.part_size;
        self.writer.put(chunk);
        Ok(())
    }

    /// The storage's encryptor (once): whoever takes it encrypts what it writes.
    pub(crate) fn take_encryptor(&mut self) -> Option<age::Encryptor> {
        let encryptor = self.encryptor.take();
        if encryptor.is_some() {
            self.encryption = Some(crate::crypto::AGE);
        }
        encryptor
    }

    /// Records raw (uncompressed) bytes that produced what was written.
    pub(crate) fn add_raw(&mut self, n: u64) {
        self.raw_bytes += n;
    }

    /// Compressed bytes written so far.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// Where the artifact will appear (`<target>/<backup>/<artifact>`).
    pub fn location(&self) -> &str {
        self.location.as_ref()
    }

    /// Commits the artifact under its final name; returns sizes and sha256.
    pub async fn finish(self) -> Result<Stored, StorageError> {
        let Upload {
            location,
            local_dir,
            writer,
            hasher,
            stored_bytes,
            raw_bytes,
            encryption,
            ..
        } = self;
        // On error WriteMultipart aborts the upload itself (the staging file goes).
        if let Err(e) = writer.finish().await {
            if let Some(dir) = local_dir {
                local::remove_dir_if_empty(dir).await;
            }
            return Err(e.into());
        }
        if let (Some(dir), Some(name)) = (local_dir, location.filename()) {
            local::private_file(dir.join(name)).await?;
        }
        let sha256 = hex::encode(hasher.finalize());
        tracing::debug!(location = %location, stored_bytes, raw_bytes, %sha256, "artifact stored");
        Ok(Stored {
            size_bytes: raw_bytes,
            stored_bytes,
            sha256,
            encryption: encryption.map(str::to_string),
        })
    }

    /// Discards everything written: the multipart upload (for the local backend, its staging
    /// file), anything already at the artifact's name, and the backup folder if that leaves
    /// it empty.
    pub async fn abort(self) -> Result<(), StorageError> {
        let aborted = self.writer.abort().await;
        let deleted = match self.store.delete(&self.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        };
        if let Some(dir) = self.local_dir {
            local::remove_dir_if_empty(dir).await;
        }
        tracing::debug!(location = %self.location, "upload aborted");
        aborted?;
        deleted?;
        Ok(())
    }
}
