//! The restore worker: runs restore jobs. Before touching the target it checks, in order:
//! the backup exists and its manifest is signed by this cairn (or the operator said
//! `--trust-unsigned`, see `trust.rs`), the target is a reachable primary, engine/scope/version
//! fit, and — for restores that load in place (whole servers, Redis) — the artifact's sha256
//! matches its manifest. Then the artifact streams through the zstd decoder into the engine's
//! loader; it is checked against the manifest on that pass, and a mismatch reaches the loader
//! as an error before the end of its input, so the load never commits bytes that differ from
//! the manifest. A database restore loads into a staging copy and swaps it in only after that
//! check, so it needs no pass before the load.

use async_trait::async_trait;
use cairn_bus::worker::{AttemptCtx, AttemptRunner};
use cairn_bus::WorkerEvent;
use cairn_domain::{Endpoint, Failure, JobSpec, Scope};
use cairn_engines::{Connection, Progress, ServerInfo};
use cairn_keyring::Keyring;
use cairn_storage::pipeline::{self, ProgressSink};
use cairn_storage::ArtifactStore;
use std::sync::Arc;

mod trust;

/// Runs restore attempts.
pub struct RestoreRunner {
    pub keyring: Keyring,
}

#[async_trait]
impl AttemptRunner for RestoreRunner {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure> {
        restore(&ctx, &self.keyring).await
    }
}

/// Preflight of the restore target. A database that does not exist yet is fine (the
/// restore creates it): then the server itself is checked (version, primary).
async fn preflight_target(conn: &Connection) -> Result<ServerInfo, Failure> {
    match cairn_engines::preflight(conn).await {
        Err(f) if f.code == "database_missing" => {
            let endpoint = Endpoint {
                scope: Scope::Server,
                ..conn.endpoint.clone()
            };
            let server = Connection {
                endpoint,
                ..conn.clone()
            };
            cairn_engines::preflight(&server).await
        }
        other => other,
    }
}

async fn restore(ctx: &AttemptCtx, keyring: &Keyring) -> Result<(), Failure> {
    let grant = &ctx.grant;
    let JobSpec::Restore {
        source,
        backup,
        trust_unsigned,
        ..
    } = &grant.job.spec
    else {
        return Err(Failure::permanent(
            "wrong_kind",
            "the restore worker got a job that is not a restore",
        ));
    };
    let target = &grant.target;
    let conn = Connection::for_target(target, keyring)?;
    let store = ArtifactStore::open(&grant.storage, keyring)?;
    let manifest = store.manifest(source, backup).await?;
    trust::check(&manifest, source, backup, keyring, *trust_unsigned)?;
    // An encrypted backup needs the storage's identity or passphrase: refused here,
    // before the target is touched, when they are missing or do not open it.
    let decryption = store.decryption(&manifest).await?;

    let server = preflight_target(&conn).await?;
    ctx.append(vec![WorkerEvent::JobStarted {
        server_version: server.version.clone(),
    }])
    .await?;
    cairn_engines::check_restore(&manifest, &target.endpoint, &server)?;
    // A load into a staging copy checks the artifact on its one pass and refuses the
    // swap on a mismatch; a load in place needs the whole artifact checked first.
    if !cairn_engines::verifies_while_loading(&target.endpoint) {
        store.verify(&manifest).await?;
    }

    let progress = Progress::new();
    let counters = progress.clone();
    ctx.report_progress_from(Box::new(move || counters.snapshot()));
    let stored = store.read_verified(&manifest).await?;
    let sink: Arc<dyn ProgressSink> = progress.clone();
    let raw = pipeline::decrypt_and_decompress(stored, decryption, sink);
    let (bytes, afterwards) =
        cairn_engines::restore_for_job(&conn, &manifest, &grant.job.job_id, raw, progress).await?;
    tracing::info!(%source, %backup, bytes, "restore applied");
    ctx.append(vec![
        WorkerEvent::RestoreApplied {
            source: source.clone(),
            backup: backup.clone(),
            bytes,
        },
        WorkerEvent::JobSucceeded,
    ])
    .await?;
    // The replaced copy goes after the job is done; should cairn stop first, the
    // start-up sweep drops it.
    tokio::spawn(afterwards.run());
    Ok(())
}
