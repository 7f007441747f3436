//! What only the local-directory backend needs: its staging files (`<name>#<n>`) are
//! invisible to object_store listings, and deleting objects leaves empty directories.
//! These helpers look at and clean the folder on disk directly.

use chrono::{DateTime, Utc};
use std::io;
use std::path::PathBuf;

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
