//! Backup storage: where artifacts live, how they are laid out, and the streaming
//! pipeline between engines and storage (zstd + sha256 + multipart upload, and back).
//!
//! Layout (design.md): `<target>/<YYYYMMDDTHHMMSSZ>-<short job id>/` holding
//! `dump.<ext>.zst` and `manifest.json`. The manifest is written last: a folder without
//! one is an incomplete upload that is never listed and that the sweeper removes.

pub mod crypto;
mod error;
mod layout;
mod listing;
mod local;
pub mod pipeline;
mod read;
mod s3;
mod upload;

pub use error::StorageError;
pub use layout::{backup_prefix, MANIFEST_FILE};
pub use listing::IncompleteUpload;

use bytes::Bytes;
use cairn_domain::storage::StorageEncryption;
use cairn_domain::{BackupId, Manifest, StorageConfig, StorageKind, TargetName};
use cairn_keyring::Keyring;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One storage (a local directory or an S3 bucket) seen as a set of backups.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    /// The directory behind a local store: its staging files and empty folders need
    /// cleaning that object_store does not do.
    local_root: Option<PathBuf>,
    /// The storage's name, for messages.
    name: String,
    encryption: Option<StorageEncryption>,
    /// Resolves the references of the storage's keys and passphrase.
    keyring: Option<Keyring>,
}

impl ArtifactStore {
    /// Opens the storage a config describes (creating a local directory if needed;
    /// reading an S3 storage's keys through `keyring`'s reference policy).
    pub fn open(config: &StorageConfig, keyring: &Keyring) -> Result<Self, StorageError> {
        let mut store = match &config.kind {
            StorageKind::Local { path } => Self::local(Path::new(path))?,
            StorageKind::S3(s3) => Self {
                store: s3::open(s3, Some(keyring))?,
                local_root: None,
                name: String::new(),
                encryption: None,
                keyring: None,
            },
        };
        store.name = config.name.to_string();
        store.encryption = config.encryption.clone();
        store.keyring = Some(keyring.clone());
        Ok(store)
    }

    /// Reads the storage's top level once: reachable, keys accepted, bucket there.
    pub async fn probe(&self) -> Result<(), StorageError> {
        self.store.list_with_delimiter(None).await?;
        Ok(())
    }

    /// The storage's name (empty for a store opened by path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A local directory storage (created 0700 when missing). Writes are fsynced when an
    /// artifact or manifest is committed, so a listed backup survives a power cut. Refused
    /// when the folder, links resolved, is `/` or inside `/proc`, `/sys` or `/dev`.
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        local::create_private_dir_all(root)?;
        let root = std::fs::canonicalize(root)?;
        if let Some(why) = cairn_domain::target::forbidden_storage_root(&root.to_string_lossy()) {
            return Err(StorageError::ForbiddenRoot(root.display().to_string(), why));
        }
        let store = LocalFileSystem::new_with_prefix(&root)?.with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            local_root: Some(root),
            name: String::new(),
            encryption: None,
            keyring: None,
        })
    }

    /// The directory of a backup folder on local disk (local backend only).
    fn local_dir(&self, target: &TargetName, folder: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        Some(root.join(target.as_str()).join(folder))
    }

    /// Starts writing a backup's artifact (`<target>/<backup>/<artifact>`).
    pub async fn begin_upload(
        &self,
        target: &TargetName,
        backup: &BackupId,
        artifact: &str,
    ) -> Result<pipeline::Upload, StorageError> {
        let location = layout::file_path(target, backup, artifact)?;
        let local_dir = self.local_dir(target, backup.as_str());
        let encryptor = match &self.encryption {
            Some(e) => Some(crypto::encryptor(e, self.keyring.as_ref())?),
            None => None,
        };
        pipeline::Upload::begin(Arc::clone(&self.store), location, local_dir, encryptor).await
    }

    /// Writes `manifest.json`: the last step of a backup, which makes it listed. Refuses
    /// (`NotFound`) when the artifact it describes is not there.
    pub async fn write_manifest(&self, manifest: &Manifest) -> Result<(), StorageError> {
        let artifact = layout::file_path(&manifest.target, &manifest.id, &manifest.artifact)?;
        self.store
            .head(&artifact)
            .await
            .map_err(StorageError::missing_as(
                manifest.target.as_str(),
                manifest.id.as_str(),
            ))?;
        let json = manifest
            .to_json()
            .map_err(|e| StorageError::BadManifest(manifest.id.to_string(), e.to_string()))?;
        let location = layout::manifest_path(&manifest.target, &manifest.id)?;
        self.store.put(&location, PutPayload::from(json)).await?;
        if let Some(dir) = self.local_dir(&manifest.target, manifest.id.as_str()) {
            local::private_file(dir.join(MANIFEST_FILE)).await?;
        }
        tracing::info!(target = %manifest.target, backup = %manifest.id, "manifest written");
        Ok(())
    }

    /// One complete backup's manifest, or `NotFound`; `BadManifest` when it does not parse
    /// or describes another folder.
    pub async fn manifest(
        &self,
        target: &TargetName,
        backup: &BackupId,
    ) -> Result<Manifest, StorageError> {
        let location = layout::manifest_path(target, backup)?;
        let bytes = self
            .store
            .get(&location)
            .await
            .map_err(StorageError::missing_as(target.as_str(), backup.as_str()))?
            .bytes()
            .await?;
        let folder = || backup_prefix(target, backup.as_str());
        let manifest = Manifest::from_json(&bytes)
            .map_err(|e| StorageError::BadManifest(folder(), e.to_string()))?;
        // A manifest copied into another folder (or made up) must not stand for this one.
        if manifest.id != *backup || manifest.target != *target {
            return Err(StorageError::BadManifest(
                folder(),
                format!(
                    "it describes backup {} of target {}",
                    manifest.id, manifest.target
                ),
            ));
        }
        Ok(manifest)
    }

    /// Reads the whole artifact and checks its size and sha256 against the manifest.
    pub async fn verify(&self, manifest: &Manifest) -> Result<(), StorageError> {
        let backup = manifest.id.to_string();
        let size_mismatch = |actual| StorageError::SizeMismatch {
            backup: backup.clone(),
            expected: manifest.stored_bytes,
            actual,
        };
        let location = layout::file_path(&manifest.target, &manifest.id, &manifest.artifact)?;
        let missing = StorageError::missing_as(manifest.target.as_str(), manifest.id.as_str());
        let meta = self.store.head(&location).await.map_err(missing)?;
        if meta.size != manifest.stored_bytes {
            return Err(size_mismatch(meta.size));
        }
        let mut stream = self.read_artifact(manifest).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        if size != manifest.stored_bytes {
            return Err(size_mismatch(size));
        }
        let actual = hex::encode(hasher.finalize());
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(StorageError::ChecksumMismatch {
                backup,
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// The stored artifact as [`read_artifact`](Self::read_artifact) gives it, checked on
    /// the way: should its size or sha256 differ from the manifest's, the last item is
    /// an `Err` (after the last chunk, before the end). A consumer that commits only at
    /// a clean end of the stream therefore commits only bytes that match the manifest,
    /// even if the file changed since an earlier [`verify`](Self::verify).
    pub async fn read_verified(
        &self,
        manifest: &Manifest,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let inner = self.read_artifact(manifest).await?;
        Ok(read::verified(
            inner,
            manifest.id.to_string(),
            manifest.stored_bytes,
            manifest.sha256.clone(),
        ))
    }

    /// The stored (compressed) artifact as a stream of chunks.
    pub async fn read_artifact(
        &self,
        manifest: &Manifest,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let location = layout::file_path(&manifest.target, &manifest.id, &manifest.artifact)?;
        let missing = StorageError::missing_as(manifest.target.as_str(), manifest.id.as_str());
        let result = self.store.get(&location).await.map_err(missing)?;
        Ok(read::chunks(result))
    }

    /// What decrypts `manifest`'s artifact: `None` when it is not encrypted. Refuses, saying
    /// what is missing, when the storage has no identity or passphrase, or when they do not
    /// open the artifact's age header (read here: nothing else is touched yet).
    pub async fn decryption(
        &self,
        manifest: &Manifest,
    ) -> Result<Option<crypto::Decryption>, StorageError> {
        let Some(decryption) = crypto::Decryption::for_manifest(
            manifest,
            &self.name,
            self.encryption.as_ref(),
            self.keyring.as_ref(),
        )?
        else {
            return Ok(None);
        };
        let location = layout::file_path(&manifest.target, &manifest.id, &manifest.artifact)?;
        let end = manifest.stored_bytes.min(HEADER_BYTES);
        let missing = StorageError::missing_as(manifest.target.as_str(), manifest.id.as_str());
        let header = self
            .store
            .get_range(&location, 0..end)
            .await
            .map_err(missing)?;
        decryption.check_header(manifest.id.as_str(), &header)?;
        Ok(Some(decryption))
    }
}

/// Bytes read to check an age header: ample for dozens of recipients.
const HEADER_BYTES: u64 = 64 * 1024;
