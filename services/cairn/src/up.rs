//! `cairn up`: the scheduler (ledger + API), a dump worker, a restore worker and the
//! retention sweeper (prune and forget jobs) in one
//! process, talking over the in-process bus through the same claim path the distributed
//! services use. The embedded default keeps everything under `./cairn-data`, and serves the
//! API on loopback; beyond it only over HTTPS (`--tls-cert/--tls-key`) unless told
//! `--insecure-listen`. The first start writes the first admin token to
//! `<data-dir>/admin.token`.

use crate::cli::CliError;
use anyhow::Context;
use cairn_bus::inproc::InProcessBus;
use cairn_bus::worker::{run_worker, AttemptRunner, WorkerConfig};
use cairn_bus::{Control, JobBus};
use cairn_bus_nats::jobs::JetStreamBus;
use cairn_domain::{JobKind, JobStatus, WorkerId};
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use cairn_scheduler::{api, Scheduler, Settings};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub mod confinement;
mod lock;

/// How long the start-up sweep of staging databases may take (servers are swept at once,
/// each connection attempt is bounded by the engines' connect timeout).
const STARTUP_SWEEP_LIMIT: Duration = Duration::from_secs(15);

/// How long open API requests may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Flags of `cairn up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the ledger, keys and default storage live.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    pub data_dir: PathBuf,
    /// Address the HTTP API listens on.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// Attempts per job before it ends failed.
    #[arg(long, env = "CAIRN_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Seconds before the second attempt of a failed job (doubling after).
    #[arg(long, env = "CAIRN_RETRY_BACKOFF_SECONDS", default_value_t = 2)]
    pub retry_backoff_seconds: u64,
    /// Seconds a worker holds a job without reporting progress.
    #[arg(long, env = "CAIRN_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..))]
    pub lease_seconds: u64,
    /// Backup and restore attempts each worker runs at once.
    #[arg(long, env = "CAIRN_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    #[command(flatten)]
    pub confinement: confinement::ConfinementArgs,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", env = "CAIRN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", env = "CAIRN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (tokens would cross the network in
    /// clear text); only behind a TLS proxy or inside a private network.
    #[arg(long, env = "CAIRN_INSECURE_LISTEN")]
    pub insecure_listen: bool,
    /// Serve the Prometheus metrics (`/metrics`) without a token. Without it a scraper
    /// presents a token of role read (Prometheus: `authorization: credentials_file`).
    #[arg(long, env = "CAIRN_METRICS_PUBLIC")]
    pub metrics_public: bool,
    /// How long after it started a restore interrupted by a crash or stop is resumed by
    /// itself (`10m`, `90s`, `1h` or seconds); later it must be run again explicitly.
    #[arg(long, env = "CAIRN_RESTORE_RESUME_WINDOW", default_value = "10m", value_parser = parse_window)]
    pub restore_resume_window: Duration,
    /// How often, while up, the sweeper removes incomplete uploads and the staging
    /// databases of restores that ended (`10m`, `90s`, `1h` or seconds).
    #[arg(long, env = "CAIRN_SWEEP_EVERY", default_value = "10m", value_parser = parse_window)]
    pub sweep_every: Duration,
    /// How old an incomplete upload (a backup folder without a manifest) must be before the
    /// periodic sweep removes it; an upload being written is touched far more often.
    #[arg(long, env = "CAIRN_INCOMPLETE_GRACE", default_value = "1h", value_parser = parse_window)]
    pub incomplete_grace: Duration,
    /// Append the full log (from `info`, or --log-level) to this file; stderr then shows
    /// only warnings and the start-up line.
    #[arg(long, value_name = "PATH", env = "CAIRN_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Level of the full log: error, warn, info, debug, trace, or a RUST_LOG-style filter
    /// such as `info,cairn_scheduler=debug` (default: RUST_LOG, else info).
    #[arg(long, value_name = "LEVEL", env = "CAIRN_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log lines as `text` or `json` (one object a line, for machines).
    #[arg(long, value_enum, env = "CAIRN_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::logging::LogFormat,
    /// Use this NATS server (JetStream) as the bus instead of the in-process one: jobs go
    /// to stream CAIRN_JOBS, events to CAIRN_EVENTS, and separate workers
    /// (`cairn-dump-worker` …) can share the work. Example: nats://127.0.0.1:4222
    #[arg(long, value_name = "URL", env = "CAIRN_NATS")]
    pub nats: Option<String>,
}

/// `600`, `600s`, `10m`, `1h`.
fn parse_window(s: &str) -> Result<Duration, String> {
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 600, 90s, 10m or 1h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("unknown unit in {s:?}; use s, m or h (e.g. 10m)")),
    };
    Ok(Duration::from_secs(n.saturating_mul(factor)))
}

impl UpArgs {
    /// Refuses to serve tokens in clear text beyond this machine unless told to.
    pub fn check_listen(&self) -> Result<(), CliError> {
        if self.listen.ip().is_loopback() || self.tls_cert.is_some() || self.insecure_listen {
            return Ok(());
        }
        Err(CliError::usage(format!(
            "refusing to serve plain HTTP on {}, beyond this machine: API tokens would cross the \
             network in clear text. Serve HTTPS with --tls-cert PEM --tls-key PEM, listen on \
             127.0.0.1, or pass --insecure-listen (behind a TLS proxy)",
            self.listen
        )))
    }
}

/// Runs every service until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> Result<(), CliError> {
    args.check_listen()?;
    if args.insecure_listen && !args.listen.ip().is_loopback() && args.tls_cert.is_none() {
        tracing::warn!(listen = %args.listen, "serving plain HTTP beyond this machine (--insecure-listen): API tokens cross the network in clear text; put a TLS proxy in front or use --tls-cert/--tls-key");
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(api::load_tls(cert, key).await.map_err(|e| {
            CliError::usage(format!(
                "cannot use --tls-cert {} / --tls-key {}: {e}; both must be PEM files \
                 (a certificate chain and its private key)",
                cert.display(),
                key.display()
            ))
        })?),
        _ => None,
    };
    let data_dir = prepare_data_dir(&args.data_dir)?;
    let _lock = lock::lock_data_dir(&data_dir)?;
    Ok(run_services(args, data_dir, tls, Workers::InProcess).await?)
}

/// Whether this process runs the workers too (`cairn up`) or only the scheduler
/// (`cairn-scheduler`, whose workers are other processes on NATS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    InProcess,
    Elsewhere,
}

/// `cairn-scheduler`: the scheduler alone, on NATS (`args.nats` is required).
pub async fn run_scheduler(args: UpArgs) -> anyhow::Result<()> {
    args.check_listen()
        .map_err(|e| anyhow::anyhow!(e.message().unwrap_or_default()))?;
    anyhow::ensure!(
        args.nats.is_some(),
        "cairn-scheduler needs --nats URL (or CAIRN_NATS): its workers reach it through NATS"
    );
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(api::load_tls(cert, key).await.with_context(|| {
            format!(
                "cannot use --tls-cert {} / --tls-key {}",
                cert.display(),
                key.display()
            )
        })?),
        _ => None,
    };
    let data_dir = prepare_data_dir(&args.data_dir)?;
    let _lock = lock::lock_data_dir(&data_dir)
        .map_err(|e| anyhow::anyhow!(e.message().unwrap_or_default()))?;
    run_services(args, data_dir, tls, Workers::Elsewhere).await
}

async fn run_services(
    args: UpArgs,
    data_dir: PathBuf,
    tls: Option<api::TlsConfig>,
    workers: Workers,
) -> anyhow::Result<()> {
    let ledger = Ledger::open(&data_dir.join("ledger")).with_context(|| {
        format!("cannot open the ledger in {} (if another `cairn up` uses this data directory, stop it or pass another --data-dir)", data_dir.display())
    })?;
    let keyring =
        Keyring::load_or_create(&data_dir)?.with_policy(args.confinement.policy(&data_dir)?);
    confinement::prepare_credentials_dir(&data_dir)?;
    let lease = Duration::from_secs(args.lease_seconds);
    let nats = match &args.nats {
        Some(url) => Some(cairn_bus_nats::connect(url, "cairn-scheduler").await?),
        None => None,
    };
    let bus: Arc<dyn JobBus> = match &nats {
        Some(client) => Arc::new(JetStreamBus::new(client.clone(), lease)),
        None => Arc::new(InProcessBus::new()),
    };
    if let Some(client) = &nats {
        // Streams and the workers' consumers exist before anything is published.
        cairn_bus_nats::streams::ensure_streams(&async_nats::jetstream::new(client.clone()))
            .await?;
        JetStreamBus::new(client.clone(), lease)
            .ensure_consumers()
            .await?;
    }
    let settings = Settings {
        lease: Duration::from_secs(args.lease_seconds),
        max_attempts: args.max_attempts,
        retry_backoff: Duration::from_secs(args.retry_backoff_seconds),
        restore_resume_window: args.restore_resume_window,
        metrics_public: args.metrics_public,
        ..Settings::default()
    };
    let scheduler =
        Scheduler::new(ledger, bus.clone(), keyring.clone(), &data_dir, settings).await?;
    // Jobs ended from here on (the recovery below too) are notified.
    let notify_after = scheduler.ledger().last_global_seq();
    // Without NATS every running attempt belonged to this process's previous life; on
    // NATS workers elsewhere may still be running theirs (their leases decide).
    let orphaned = match nats {
        None => scheduler.expire_orphaned_attempts().await?,
        Some(_) => 0,
    };
    if orphaned > 0 {
        tracing::warn!(
            orphaned,
            "attempts that were running when cairn stopped were expired and will be retried"
        );
    }
    sweep_incomplete_uploads(&scheduler, chrono::Duration::zero()).await;
    announce_admin_token(&scheduler, &data_dir).await?;
    sweep_restore_databases(&scheduler, &keyring, |status| status != JobStatus::Running).await;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another cairn running? choose another with --listen",
                args.listen
            )
        })?;
    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone());

    let mut tasks = tokio::task::JoinSet::new();
    let control: Arc<dyn Control> = Arc::new(scheduler.clone());
    if let Some(client) = &nats {
        cairn_scheduler::nats::spawn(&scheduler, client.clone(), stop.clone(), &mut tasks).await?;
    }
    {
        let (scheduler, keyring, stop) = (scheduler.clone(), keyring.clone(), stop.clone());
        let (every, grace) = (args.sweep_every, args.incomplete_grace);
        tasks.spawn(
            async move { sweep_periodically(&scheduler, &keyring, every, grace, stop).await },
        );
    }
    let workers = match workers {
        Workers::InProcess => runners(&keyring).into_iter().collect(),
        Workers::Elsewhere => Vec::new(),
    };
    for (kind, runner) in workers {
        let config = WorkerConfig {
            kind,
            worker_id: worker_id(kind),
            concurrency: args.concurrency as usize,
            heartbeat: Duration::from_secs(1),
        };
        let (bus, control, stop) = (bus.clone(), control.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(e) = run_worker(config, bus, control, runner, stop.cancelled_owned()).await {
                tracing::error!(error = %e, "worker stopped");
            }
        });
    }
    {
        let (scheduler, stop) = (scheduler.clone(), stop.clone());
        tasks.spawn(async move { scheduler.run_reconciler(stop.cancelled_owned()).await });
    }
    {
        let (scheduler, stop) = (scheduler.clone(), stop.clone());
        tasks.spawn(async move { scheduler.run_schedules(stop.cancelled_owned()).await });
    }
    {
        let (scheduler, stop) = (scheduler.clone(), stop.clone());
        tasks.spawn(async move { scheduler.run_metrics(stop.cancelled_owned()).await });
    }
    {
        let (scheduler, stop) = (scheduler.clone(), stop.clone());
        tasks.spawn(async move {
            scheduler
                .run_notifier(notify_after, stop.cancelled_owned())
                .await
        });
    }
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, data_dir = %data_dir.display(), "cairn is up: API at {scheme}://{addr}/v1");
    let shutdown = stop.clone().cancelled_owned();
    let mut server = match tls {
        Some(tls) => tokio::spawn(api::serve_tls(
            listener,
            tls,
            scheduler,
            shutdown,
            SHUTDOWN_GRACE,
        )),
        None => tokio::spawn(api::serve(listener, scheduler, shutdown)),
    };
    tokio::select! {
        served = &mut server => served??,
        _ = stop.cancelled() => {
            // Long-poll requests (`--wait`) may hold connections open; they get a moment,
            // not their whole timeout.
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
                server.abort();
            }
        }
    }
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    tracing::info!("cairn stopped");
    Ok(())
}

/// Makes sure the first admin token exists, and says once where it is.
async fn announce_admin_token(scheduler: &Scheduler, data_dir: &Path) -> anyhow::Result<()> {
    use cairn_scheduler::tokens::{ensure_admin_token, AdminToken};
    match ensure_admin_token(scheduler.ledger(), data_dir).await? {
        AdminToken::Created(path) => tracing::info!(
            path = %path.display(),
            "created the first admin token in {} (mode 0600, shown nowhere else). The cairn CLI \
             uses it by itself when run beside ./cairn-data against http://127.0.0.1:7070; \
             otherwise pass it with `--token-file {}` or `CAIRN_TOKEN=$(cat {})`. Create tokens \
             with fewer rights with `cairn token create NAME --role read|operate|admin`",
            path.display(),
            path.display(),
            path.display()
        ),
        AdminToken::Present(path) => {
            tracing::debug!(path = %path.display(), "the admin token file is in place")
        }
        AdminToken::FileLost(path) => tracing::warn!(
            path = %path.display(),
            "{} does not hold the admin token any more; it stays valid wherever it was copied. \
             With another admin token, create a new one (`cairn token create NAME --role admin`) \
             and revoke `admin`",
            path.display()
        ),
        AdminToken::Revoked => {
            tracing::debug!("the first admin token was revoked; other admin tokens manage cairn")
        }
    }
    Ok(())
}

fn prepare_data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    Ok(std::path::absolute(dir)?)
}

/// What each worker kind runs (checks run on the dump worker).
pub fn runners(keyring: &Keyring) -> [(JobKind, Arc<dyn AttemptRunner>); 4] {
    [
        (
            JobKind::Backup,
            Arc::new(cairn_dump_worker::DumpRunner {
                keyring: keyring.clone(),
            }),
        ),
        (
            JobKind::Check,
            Arc::new(cairn_dump_worker::CheckRunner {
                keyring: keyring.clone(),
            }),
        ),
        (
            JobKind::Restore,
            Arc::new(cairn_restore_worker::RestoreRunner {
                keyring: keyring.clone(),
            }),
        ),
        (
            JobKind::Prune,
            Arc::new(cairn_retention_sweeper::PruneRunner {
                keyring: keyring.clone(),
            }),
        ),
    ]
}

/// `<service>@<host>:<pid>`
pub fn worker_id(kind: JobKind) -> WorkerId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let worker = match kind {
        JobKind::Backup | JobKind::Check => "dump-worker",
        JobKind::Restore => "restore-worker",
        JobKind::Prune => "retention-sweeper",
    };
    WorkerId(format!("{worker}@{}:{}", host.trim(), std::process::id()))
}

/// While up, every `every` (`--sweep-every`): incomplete uploads older than `grace`
/// (`--incomplete-grace`; of targets with no running job), and the staging databases of
/// restores that ended.
async fn sweep_periodically(
    scheduler: &Scheduler,
    keyring: &Keyring,
    every: Duration,
    grace: Duration,
    stop: CancellationToken,
) {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(1));
    let every = every.max(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let sweep = async {
            sweep_incomplete_uploads(scheduler, grace).await;
            sweep_restore_databases(scheduler, keyring, |status| status.is_terminal()).await;
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sweep => {}
        }
    }
}

/// Incomplete uploads last written more than `grace` ago, except of targets with a running
/// job. At start nothing runs yet, so with a zero grace every one is a leftover of the last run.
async fn sweep_incomplete_uploads(scheduler: &Scheduler, grace: chrono::Duration) {
    let busy = match scheduler.ledger().jobs_in(&[JobStatus::Running]) {
        Ok(jobs) => jobs.into_iter().map(|j| j.spec.target().clone()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "skipping the sweep of incomplete uploads");
            return;
        }
    };
    let storages = scheduler.ledger().storages().unwrap_or_default();
    for config in storages {
        let result = match cairn_storage::ArtifactStore::open(&config, scheduler.keyring()) {
            Ok(store) => {
                cairn_retention_sweeper::sweep_incomplete(&store, grace, &busy, chrono::Utc::now())
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(storage = %config.name, error = %e, "sweep of incomplete uploads failed");
        }
    }
}

/// Staging databases of this cairn's restores whose status is `idle` (at start: not
/// running, since a cairn killed mid-restore left them; while up: ended), on every database
/// server a target names. The start-up sweep runs before the workers start, so a resumed
/// restore cannot lose its own.
async fn sweep_restore_databases(
    scheduler: &Scheduler,
    keyring: &Keyring,
    idle: impl Fn(JobStatus) -> bool,
) {
    let not_running: Vec<JobStatus> = JobStatus::ALL.into_iter().filter(|s| idle(*s)).collect();
    let (targets, idle) = match (
        scheduler.ledger().targets(),
        scheduler.ledger().jobs_in(&not_running),
    ) {
        (Ok(t), Ok(jobs)) => (t, jobs),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "skipping the staging database sweep");
            return;
        }
    };
    let idle = idle
        .iter()
        .filter(|j| j.kind() == JobKind::Restore)
        .map(|j| j.job_id.short())
        .collect();
    let sweep = cairn_retention_sweeper::sweep_restore_databases(&targets, keyring, &idle);
    // A server that does not answer must not hold up the start for long; what is left
    // is swept at the next start.
    let Ok(dropped) = tokio::time::timeout(STARTUP_SWEEP_LIMIT, sweep).await else {
        tracing::warn!("the staging database sweep took too long and was stopped");
        return;
    };
    if !dropped.is_empty() {
        tracing::warn!(
            ?dropped,
            "dropped staging databases of interrupted restores"
        );
    }
}

pub fn spawn_signal_handler(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        stop.cancel();
    });
}

#[cfg(test)]
mod tests {
    use super::parse_window;
    use std::time::Duration;

    #[test]
    fn resume_windows() {
        for (input, secs) in [("600", 600), ("2s", 2), ("10m", 600), ("1h", 3600)] {
            assert_eq!(
                parse_window(input),
                Ok(Duration::from_secs(secs)),
                "{input}"
            );
        }
        for bad in ["", "m", "10 m", "10d", "-1"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
