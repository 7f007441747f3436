//! What only the local-directory backend needs: its staging files (`<name>#<n>`) are
//! invisible to object_store listings, and deleting objects leaves empty directories.
//! These helpers look at and clean the folder on disk directly.
//!
//! Artifacts hold whole databases: every folder cairn makes in a local storage is 0700 and
//! every file it commits 0600. object_store creates files and folders with the process's
//! umask, so the folders are made private before it writes into them (nobody else can then
//! reach a staging file) and the files are made private once committed.

use chrono::{DateTime, Utc};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode of the folders cairn makes in a local storage.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of the files cairn commits to a local storage.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parent 0700 (blocking; for opening a storage).
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Makes a backup folder and its target folder (`<root>/<target>/<backup>`) exist and 0700,
/// whatever made them before.
pub(crate) async fn private_backup_dir(backup_dir: PathBuf) -> io::Result<()> {
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(&backup_dir)
        .await?;
    let private = std::fs::Permissions::from_mode(DIR_MODE);
    if let Some(target_dir) = backup_dir.parent() {
        tokio::fs::set_permissions(target_dir, private.clone()).await?;
    }
    tokio::fs::set_permissions(&backup_dir, private).await
}

/// Makes a committed file 0600.
pub(crate) async fn private_file(path: PathBuf) -> io::Result<()> {
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE)).await
}

/// The newest modification time of a folder and of every file directly in it, staging files
/// included: an upload in progress keeps its staging file fresh, so it never looks stale.
pub(crate) async fn newest_mtime(dir: PathBuf) -> Option<DateTime<Utc>> {
    tokio::task::spawn_blocking(move || {
        let mut newest = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(Some(modified));
            }
        }
        newest.map(DateTime::<Utc>::from)
    })
    .await
    .ok()
    .flatten()
}

/// Removes a folder with everything in it; a folder that is already gone is fine.
pub(crate) async fn remove_dir_all(dir: PathBuf) -> io::Result<()> {
    let result = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir))
        .await
        .map_err(io::Error::other)?;
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes a folder only if it is empty (best effort: a busy folder stays).
pub(crate) async fn remove_dir_if_empty(dir: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir(dir)).await;
}
