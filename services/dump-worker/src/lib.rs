//! The dump worker: runs backup jobs (and check jobs, the preflight alone). One attempt = preflight, then the engine's dump
//! streamed through zstd and sha256 into storage, then the manifest, signed with the key
//! derived from cairn's secret key (the artifact's sha256 is in it). A failed attempt
//! leaves nothing listed: its upload is aborted, or (after a crash) cleaned by the next
//! attempt of the same job, whose backup folder name is the same.

use async_trait::async_trait;
use cairn_bus::worker::{AttemptCtx, AttemptRunner};
use cairn_bus::WorkerEvent;
use cairn_domain::manifest::MANIFEST_FORMAT;
use cairn_domain::{BackupId, Failure, Manifest};
use cairn_engines::{Connection, Progress};
use cairn_keyring::Keyring;
use cairn_storage::pipeline::{self, ProgressSink};
use cairn_storage::ArtifactStore;
use chrono::Utc;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// zstd level of artifacts: level 3 is what `zstd -3` uses, fast with a good ratio.
pub const ZSTD_LEVEL: i32 = 3;

/// Raw chunks in flight between the dump and the compressor.
const RAW_CHANNEL: usize = 8;

/// Runs check attempts: the target's preflight only (connect with its credentials, read
/// the version, refuse a replica), recorded as `JobStarted` with the server version, then
/// success; a refusal fails the job with the preflight's reason.
pub struct CheckRunner {
    pub keyring: Keyring,
}

#[async_trait]
impl AttemptRunner for CheckRunner {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure> {
        let conn = Connection::for_target(&ctx.grant.target, &self.keyring)?;
        let server = cairn_engines::preflight(&conn).await?;
        tracing::info!(version = %server.version, flavor = %server.flavor, "preflight passed");
        ctx.append(vec![
            WorkerEvent::JobStarted {
                server_version: server.version,
            },
            WorkerEvent::JobSucceeded,
        ])
        .await
    }
}

/// Runs backup attempts.
pub struct DumpRunner {
    pub keyring: Keyring,
}

#[async_trait]
impl AttemptRunner for DumpRunner {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure> {
        backup(&ctx, &self.keyring).await
    }
}

async fn backup(ctx: &AttemptCtx, keyring: &Keyring) -> Result<(), Failure> {
    let grant = &ctx.grant;
    let target = &grant.target;
    let attempt = grant.attempt;
    let conn = Connection::for_target(target, keyring)?;
    let store = ArtifactStore::open(&grant.storage, keyring)?;
    let backup_id = BackupId::new(grant.job.queued_at, grant.job.job_id);
    if attempt.0 > 1 {
        remove_leftovers(ctx, &store, &backup_id).await?;
    }

    let server = cairn_engines::preflight(&conn).await?;
    let client_version = cairn_engines::dump_client(&target.endpoint, &server).await?;
    ctx.append(vec![WorkerEvent::JobStarted {
        server_version: server.version.clone(),
    }])
    .await?;

    let format = cairn_engines::dump_format(&target.endpoint);
    let progress = Progress::new();
    let counters = progress.clone();
    ctx.report_progress_from(Box::new(move || counters.snapshot()));
    let created_at = Utc::now();
    let started = Instant::now();
    let upload = store
        .begin_upload(&target.name, &backup_id, format.artifact)
        .await?;
    let (tx, rx) = mpsc::channel(RAW_CHANNEL);
    let sink: Arc<dyn ProgressSink> = progress.clone();
    let (dumped, compressed) = tokio::join!(
        cairn_engines::dump(&conn, tx, progress.clone()),
        pipeline::compress(rx, upload, ZSTD_LEVEL, sink)
    );
    let upload = match (dumped, compressed) {
        (Ok(()), Ok(upload)) => upload,
        (Err(failure), Ok(upload)) => {
            if let Err(e) = upload.abort().await {
                tracing::warn!(error = %e, "aborting the partial upload failed; the next sweep removes it");
            }
            return Err(failure);
        }
        // A storage failure closes the channel under the dump, so it is the cause.
        (_, Err(e)) => return Err(e.into()),
    };
    let stored = upload.finish().await?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        id: backup_id,
        target: target.name.clone(),
        engine: target.engine(),
        server_version: server.version,
        scope: target.scope().clone(),
        artifact: format.artifact.to_string(),
        size_bytes: stored.size_bytes,
        stored_bytes: stored.stored_bytes,
        sha256: stored.sha256,
        compression: "zstd".into(),
        format_name: format.format_name.to_string(),
        job_id: grant.job.job_id,
        created_at,
        duration_seconds: started.elapsed().as_secs_f64(),
        signature: None,
        client_version,
        encryption: stored.encryption,
    };
    // Signed with this cairn's key: a restore trusts only what this cairn wrote.
    let manifest = keyring.signing_key().sign(manifest);
    // Recorded before the manifest is written: a fenced (stale) attempt stops here and
    // never publishes a backup that the ledger does not know.
    ctx.append(vec![WorkerEvent::BackupStored {
        manifest: manifest.clone(),
    }])
    .await?;
    store.write_manifest(&manifest).await?;
    ctx.append(vec![WorkerEvent::JobSucceeded]).await
}

/// A retried attempt first removes what an earlier attempt of the same job left in its folder.
async fn remove_leftovers(
    ctx: &AttemptCtx,
    store: &ArtifactStore,
    backup_id: &BackupId,
) -> Result<(), Failure> {
    let target = &ctx.grant.target.name;
    let leftovers = store.incomplete_uploads(Some(target)).await?;
    let complete = store.manifest(target, backup_id).await.is_ok();
    if complete || leftovers.iter().any(|u| u.folder == backup_id.as_str()) {
        store.remove_folder(target, backup_id.as_str()).await?;
        let path = format!("{target}/{backup_id}/");
        tracing::info!(%path, "removed what an earlier attempt left");
        ctx.append(vec![WorkerEvent::PartialArtifactRemoved { path }])
            .await?;
    }
    Ok(())
}
