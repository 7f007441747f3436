//! Prune, forget and purge jobs: which of a target's listed backups go (domain retention over the
//! storage's listing, or one named backup), each recorded as `BackupDeleted` before it is
//! deleted, so that a fenced attempt deletes nothing and the history names every deletion.
//! Only listed backups (with a manifest, so successful and complete) take part in
//! retention; failed backups never appear in storage, so they can never cause a deletion.

use async_trait::async_trait;
use cairn_bus::worker::{AttemptCtx, AttemptRunner};
use cairn_bus::WorkerEvent;
use cairn_domain::retention::{self, BackupInfo, Verdict};
use cairn_domain::{BackupId, DeletionReason, Failure, JobSpec, Keep, Manifest, TargetName, Zone};
use cairn_storage::ArtifactStore;
use std::sync::Arc;

/// Runs prune and forget attempts (both are jobs of kind `prune`).
pub struct PruneRunner {
    /// Resolves the storage's key references (S3).
    pub keyring: cairn_keyring::Keyring,
}

#[async_trait]
impl AttemptRunner for PruneRunner {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure> {
        let store = ArtifactStore::open(&ctx.grant.storage, &self.keyring)?;
        let (target, doomed, reason) = match &ctx.grant.job.spec {
            JobSpec::Prune {
                target, keep, zone, ..
            } => {
                let listed = store.list_backups(target).await?;
                let doomed = plan(&listed, keep, *zone)
                    .into_iter()
                    .filter(|(_, v)| !v.is_keep())
                    .map(|(m, _)| m.id.clone())
                    .collect();
                (target, doomed, DeletionReason::Retention)
            }
            JobSpec::Forget { target, backup, .. } => {
                match store.manifest(target, backup).await {
                    Ok(_) => {}
                    Err(cairn_storage::StorageError::NotFound { .. }) => {
                        return Err(Failure::permanent(
                            "backup_not_found",
                            format!("backup {backup} of {target} is not listed (already deleted?); see `cairn backups {target}`"),
                        ))
                    }
                    Err(e) => return Err(e.into()),
                }
                (target, vec![backup.clone()], DeletionReason::Forgotten)
            }
            JobSpec::Purge { target, .. } => {
                let listed = store.list_backups(target).await?;
                let all = listed.into_iter().map(|m| m.id).collect();
                (target, all, DeletionReason::Purged)
            }
            other => {
                return Err(Failure::permanent(
                    "wrong_kind",
                    format!("the retention sweeper does not run {} jobs", other.kind()),
                ))
            }
        };
        delete_all(&ctx, &store, target, &doomed, reason).await?;
        ctx.append(vec![WorkerEvent::JobSucceeded]).await
    }
}

/// Records, then deletes, each backup in turn.
async fn delete_all(
    ctx: &AttemptCtx,
    store: &ArtifactStore,
    target: &TargetName,
    doomed: &[BackupId],
    reason: DeletionReason,
) -> Result<(), Failure> {
    for backup in doomed {
        if ctx.cancel.is_cancelled() {
            return Err(Failure::retryable("cancelled", "the prune was interrupted"));
        }
        ctx.append(vec![WorkerEvent::BackupDeleted {
            backup: backup.clone(),
            reason,
        }])
        .await?;
        store.delete_backup(target, backup).await?;
        tracing::info!(%target, %backup, reason = reason.as_str(), "backup deleted");
        hold_for_tests().await;
    }
    Ok(())
}

/// For crash tests only: with `CAIRN_TEST_PRUNE_HOLD=PATH` in the environment, after each
/// deletion the attempt writes `PATH.deleted` and waits while `PATH` exists, so a test can
/// kill cairn between two deletions at a known point. Unset (always, outside tests), it
/// does nothing.
async fn hold_for_tests() {
    let Some(hold) = std::env::var_os("CAIRN_TEST_PRUNE_HOLD") else {
        return;
    };
    let hold = std::path::PathBuf::from(hold);
    let mut marker = hold.clone().into_os_string();
    marker.push(".deleted");
    let _ = tokio::fs::write(&marker, b"").await;
    while tokio::fs::try_exists(&hold).await.unwrap_or(false) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The verdict on each listed backup (newest first), as retention decides it.
pub fn plan<'a>(listed: &'a [Manifest], keep: &Keep, zone: Zone) -> Vec<(&'a Manifest, Verdict)> {
    let infos: Vec<BackupInfo> = listed.iter().map(BackupInfo::from).collect();
    retention::apply(keep, &infos, zone)
        .into_iter()
        .filter_map(|(id, verdict)| listed.iter().find(|m| m.id == id).map(|m| (m, verdict)))
        .collect()
}
