//! The streaming pipeline: raw chunks → zstd (multi-threaded, in a blocking thread) →
//! sha256 → multipart upload, and stored chunks → zstd decoder → raw chunks. Memory is
//! bounded by channel capacities and part sizes, never by the dump's size.

use crate::StorageError;
use bytes::Bytes;
use cairn_domain::Failure;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

/// An artifact being written. Nothing is visible under its final name until `finish`.
pub struct Upload {
    _private: (),
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
}

/// Counters the pipeline bumps as it goes (raw bytes in, stored bytes out).
pub trait ProgressSink: Send + Sync + 'static {
    fn raw(&self, n: u64);
    fn stored(&self, n: u64);
}

/// Compresses everything received on `raw` into `upload` until the channel closes.
/// Returns the upload, all bytes written but not yet committed: call `Upload::finish`
/// when the producer succeeded, `Upload::abort` when it failed.
pub async fn compress(
    raw: mpsc::Receiver<Bytes>,
    upload: Upload,
    level: i32,
    progress: std::sync::Arc<dyn ProgressSink>,
) -> Result<Upload, StorageError> {
    let _ = (raw, upload, level, progress);
    unimplemented!()
}

impl Upload {
    /// Commits the artifact under its final name; returns sizes and sha256.
    pub async fn finish(self) -> Result<Stored, StorageError> {
        unimplemented!()
    }
    /// Discards everything written.
    pub async fn abort(self) -> Result<(), StorageError> {
        unimplemented!()
    }
}

/// Decompresses a stored artifact stream into raw chunks on a bounded channel. An error
/// reading or decoding arrives as an `Err` item, after which the channel closes.
pub fn decompress(
    stored: BoxStream<'static, Result<Bytes, StorageError>>,
    progress: std::sync::Arc<dyn ProgressSink>,
) -> mpsc::Receiver<Result<Bytes, Failure>> {
    let _ = (stored, progress);
    unimplemented!()
}
