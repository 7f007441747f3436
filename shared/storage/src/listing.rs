//! Seeing a target's folders as backups: complete ones (with a readable manifest), incomplete
//! ones (no manifest: an upload that never finished), and removing a folder.

use crate::layout::{self, MANIFEST_FILE};
use crate::{local, ArtifactStore, StorageError};
use cairn_domain::{BackupId, Manifest, TargetName};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};

/// Manifests read at once while listing (matters for S3, harmless locally).
const LIST_CONCURRENCY: usize = 8;

/// A folder without a manifest: an upload that never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteUpload {
    pub target: String,
    pub folder: String,
    pub last_modified: DateTime<Utc>,
}

impl ArtifactStore {
    /// Complete backups of a target (folders with a readable manifest), newest first.
    /// A manifest that does not parse, or that describes another folder, is skipped with a
    /// warning: listing must not fail because one backup is damaged.
    pub async fn list_backups(&self, target: &TargetName) -> Result<Vec<Manifest>, StorageError> {
        let folders = self.backup_folders(target).await?;
        let manifests: Vec<Option<Manifest>> = futures::stream::iter(folders)
            .map(|id| async move {
                match self.manifest(target, &id).await {
                    Ok(m) if m.id == id && m.target == *target => Ok(Some(m)),
                    Ok(m) => {
                        tracing::warn!(folder = %layout::backup_prefix(target, id.as_str()), manifest_id = %m.id, manifest_target = %m.target, "manifest describes another folder; skipped");
                        Ok(None)
                    }
                    Err(StorageError::NotFound { .. }) => Ok(None),
                    Err(StorageError::BadManifest(folder, error)) => {
                        tracing::warn!(%folder, %error, "unreadable manifest; backup skipped");
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            })
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut manifests: Vec<Manifest> = manifests.into_iter().flatten().collect();
        manifests.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(manifests)
    }

    /// Folders without a manifest (of one target, or of all). Only folders named like
    /// backup ids count: the sweeper must never remove something cairn did not create.
    pub async fn incomplete_uploads(
        &self,
        target: Option<&TargetName>,
    ) -> Result<Vec<IncompleteUpload>, StorageError> {
        let targets = match target {
            Some(t) => vec![t.clone()],
            None => self.targets().await?,
        };
        let mut incomplete = Vec::new();
        for target in &targets {
            for id in self.backup_folders(target).await? {
                if let Some(last_modified) = self.incomplete_since(target, &id).await? {
                    incomplete.push(IncompleteUpload {
                        target: target.to_string(),
                        folder: id.to_string(),
                        last_modified,
                    });
                }
            }
        }
        Ok(incomplete)
    }

    /// Deletes one backup so that no crash can leave it listed without its artifact: the
    /// manifest goes first (the backup is no longer listed), then the folder. A crash in
    /// between leaves an incomplete upload, which the sweeper removes.
    pub async fn delete_backup(
        &self,
        target: &TargetName,
        backup: &BackupId,
    ) -> Result<(), StorageError> {
        let manifest = layout::manifest_path(target, backup)?;
        match self.store.delete(&manifest).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.remove_folder(target, backup.as_str()).await
    }

    /// Removes a backup folder and everything in it (complete or not).
    pub async fn remove_folder(
        &self,
        target: &TargetName,
        folder: &str,
    ) -> Result<(), StorageError> {
        let prefix = layout::folder_path(target, folder)?;
        let locations = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(dir) = self.local_dir(target, folder) {
            local::remove_dir_all(dir).await?;
        }
        tracing::info!(%target, folder, "backup folder removed");
        Ok(())
    }

    /// Target names that have a folder in this storage.
    async fn targets(&self) -> Result<Vec<TargetName>, StorageError> {
        let listing = self.store.list_with_delimiter(None).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename())
            .filter_map(|name| TargetName::parse(name).ok())
            .collect())
    }

    /// The folders of a target that are named like backup ids.
    async fn backup_folders(&self, target: &TargetName) -> Result<Vec<BackupId>, StorageError> {
        let prefix = layout::target_path(target);
        let listing = self.store.list_with_delimiter(Some(&prefix)).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename())
            .filter_map(|name| match BackupId::parse(name) {
                Ok(id) => Some(id),
                Err(_) => {
                    tracing::debug!(%target, folder = name, "not a backup folder; ignored");
                    None
                }
            })
            .collect())
    }

    /// `None` when the folder holds a manifest; otherwise the newest change in it.
    async fn incomplete_since(
        &self,
        target: &TargetName,
        id: &BackupId,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        let prefix = layout::folder_path(target, id.as_str())?;
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let manifest = prefix.clone().join(MANIFEST_FILE);
        if objects.iter().any(|o| o.location == manifest) {
            return Ok(None);
        }
        let mut newest = objects.iter().map(|o| o.last_modified).max();
        if let Some(dir) = self.local_dir(target, id.as_str()) {
            newest = newest.max(local::newest_mtime(dir).await);
        }
        Ok(newest)
    }
}
