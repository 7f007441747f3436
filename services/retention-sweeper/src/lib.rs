//! The retention sweeper: runs prune and forget jobs (`prune.rs`), removes incomplete
//! uploads (backup folders without a manifest) older than a grace period, skipping targets
//! with a job in flight, and the staging databases of restores that are no longer running
//! (`restores.rs`).

mod prune;
mod restores;

pub use prune::{plan, PruneRunner};
pub use restores::sweep_restore_databases;

use cairn_domain::TargetName;
use cairn_storage::{ArtifactStore, IncompleteUpload, StorageError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;

/// Removes incomplete uploads last written before `now - grace`, except under `busy`
/// targets (whose running attempt may still be writing). Returns what it removed.
pub async fn sweep_incomplete(
    store: &ArtifactStore,
    grace: Duration,
    busy: &HashSet<TargetName>,
    now: DateTime<Utc>,
) -> Result<Vec<IncompleteUpload>, StorageError> {
    let mut removed = Vec::new();
    for upload in store.incomplete_uploads(None).await? {
        let Ok(target) = TargetName::parse(upload.target.clone()) else {
            continue;
        };
        if busy.contains(&target) || upload.last_modified > now - grace {
            continue;
        }
        store.remove_folder(&target, &upload.folder).await?;
        tracing::info!(target = %upload.target, folder = %upload.folder, "removed an incomplete upload");
        removed.push(upload);
    }
    Ok(removed)
}
