//! Backup storage: where artifacts live, how they are laid out, and the streaming
//! pipeline between engines and storage (zstd + sha256 + multipart upload, and back).
//!
//! Layout (design.md): `<target>/<YYYYMMDDTHHMMSSZ>-<short job id>/` holding
//! `dump.<ext>.zst` and `manifest.json`. The manifest is written last: a folder without
//! one is an incomplete upload that is never listed and that the sweeper removes.

pub mod pipeline;

use bytes::Bytes;
use cairn_domain::{BackupId, Failure, Manifest, StorageConfig, TargetName};
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use std::path::Path;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage error: {0}")]
    Backend(#[from] object_store::Error),
    #[error("backup {backup} of {target} not found; list backups with `cairn backups {target}`")]
    NotFound { target: String, backup: String },
    #[error("backup {backup}: artifact checksum mismatch (manifest sha256 {expected}, stored bytes hash to {actual}); the artifact is corrupt and will not be restored")]
    ChecksumMismatch {
        backup: String,
        expected: String,
        actual: String,
    },
    #[error("backup {backup}: artifact is {actual} bytes but the manifest says {expected}; the artifact is corrupt or truncated")]
    SizeMismatch {
        backup: String,
        expected: u64,
        actual: u64,
    },
    #[error("manifest of {0} is unreadable: {1}")]
    BadManifest(String, String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// As a job failure: checksum and size mismatches are permanent, backend hiccups retryable.
    pub fn to_failure(&self) -> Failure {
        match self {
            StorageError::ChecksumMismatch { .. } | StorageError::SizeMismatch { .. } => {
                Failure::permanent("checksum_mismatch", self.to_string())
            }
            StorageError::NotFound { .. } => {
                Failure::permanent("backup_not_found", self.to_string())
            }
            StorageError::BadManifest(..) => Failure::permanent("bad_manifest", self.to_string()),
            StorageError::Backend(_) | StorageError::Io(_) => {
                Failure::retryable("storage", self.to_string())
            }
        }
    }
}

/// A folder without a manifest: an upload that never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteUpload {
    pub target: String,
    pub folder: String,
    pub last_modified: DateTime<Utc>,
}

/// One storage (a local directory today; S3 later) seen as a set of backups.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    _private: (),
}

impl ArtifactStore {
    /// Opens (creating the directory if needed) the storage a config describes.
    pub fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        let _ = config;
        unimplemented!()
    }

    /// A local directory storage.
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        let _ = root;
        unimplemented!()
    }

    /// Starts writing a backup's artifact (`<target>/<backup>/<artifact>`).
    pub async fn begin_upload(
        &self,
        target: &TargetName,
        backup: &BackupId,
        artifact: &str,
    ) -> Result<pipeline::Upload, StorageError> {
        let _ = (target, backup, artifact);
        unimplemented!()
    }

    /// Writes `manifest.json`: the last step of a backup, which makes it listed.
    pub async fn write_manifest(&self, manifest: &Manifest) -> Result<(), StorageError> {
        let _ = manifest;
        unimplemented!()
    }

    /// Complete backups of a target (folders with a readable manifest), newest first.
    pub async fn list_backups(&self, target: &TargetName) -> Result<Vec<Manifest>, StorageError> {
        let _ = target;
        unimplemented!()
    }

    /// One complete backup's manifest, or `NotFound`.
    pub async fn manifest(
        &self,
        target: &TargetName,
        backup: &BackupId,
    ) -> Result<Manifest, StorageError> {
        let _ = (target, backup);
        unimplemented!()
    }

    /// Reads the whole artifact and checks its size and sha256 against the manifest.
    pub async fn verify(&self, manifest: &Manifest) -> Result<(), StorageError> {
        let _ = manifest;
        unimplemented!()
    }

    /// The stored (compressed) artifact as a stream of chunks.
    pub async fn read_artifact(
        &self,
        manifest: &Manifest,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let _ = manifest;
        unimplemented!()
    }

    /// Removes a backup folder and everything in it (complete or not).
    pub async fn remove_folder(
        &self,
        target: &TargetName,
        folder: &str,
    ) -> Result<(), StorageError> {
        let _ = (target, folder);
        unimplemented!()
    }

    /// Folders without a manifest (of one target, or of all).
    pub async fn incomplete_uploads(
        &self,
        target: Option<&TargetName>,
    ) -> Result<Vec<IncompleteUpload>, StorageError> {
        let _ = target;
        unimplemented!()
    }
}
