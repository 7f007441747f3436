//! One worker process on NATS: it pulls jobs of its kind from `CAIRN_JOBS` (sharing the
//! kind's durable consumer with every replica) and makes its control calls to the
//! scheduler over `cairn.ctl.*`, with its token.
//!
//! It needs the scheduler's secret key to open sealed passwords (`CAIRN_SECRET_KEY`, or
//! `--secret-key-file`) and a token with the `worker` role (`CAIRN_TOKEN`, or
//! `--token-file`); it refuses to start without them, and never creates a key.

use crate::logging::{LogFormat, LogOptions};
use crate::up::confinement::{prepare_credentials_dir, ConfinementArgs};
use anyhow::{bail, Context};
use cairn_bus::worker::{run_worker, AttemptRunner, WorkerConfig};
use cairn_bus::ControlError;
use cairn_bus::{Control, JobBus};
use cairn_bus_nats::ctl::ControlClient;
use cairn_bus_nats::jobs::JetStreamBus;
use cairn_domain::{JobKind, WorkerId};
use cairn_keyring::Keyring;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Flags every worker process takes.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The NATS server (JetStream) the scheduler uses, e.g. nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL", env = "CAIRN_NATS")]
    pub nats: String,
    /// Attempts this process runs at once.
    #[arg(long, env = "CAIRN_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// This worker's name in events and logs (default: <service>@<host>:<pid>).
    #[arg(long, value_name = "NAME", env = "CAIRN_WORKER_ID")]
    pub id: Option<String>,
    /// A file holding the scheduler's secret key (64 hex digits; the scheduler keeps it
    /// in <data-dir>/secret.key). CAIRN_SECRET_KEY may hold the key itself instead.
    #[arg(long, value_name = "PATH", env = "CAIRN_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// A file holding this worker's token (role `worker`). CAIRN_TOKEN may hold the token
    /// itself instead.
    #[arg(long, value_name = "PATH", env = "CAIRN_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// A private folder for this worker's short-lived credential files.
    #[arg(
        long,
        value_name = "DIR",
        env = "CAIRN_WORK_DIR",
        default_value = "./cairn-worker"
    )]
    pub work_dir: PathBuf,
    #[command(flatten)]
    pub confinement: ConfinementArgs,
    /// Seconds between progress reports (each also renews the lease).
    #[arg(long, env = "CAIRN_HEARTBEAT_SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub heartbeat_seconds: u64,
    /// Log lines as `text` or `json`.
    #[arg(long, value_enum, env = "CAIRN_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Level of the log: error, warn, info, debug, trace, or a RUST_LOG-style filter.
    #[arg(long, value_name = "LEVEL", env = "CAIRN_LOG_LEVEL")]
    pub log_level: Option<String>,
}

impl WorkerArgs {
    pub fn log_options(&self) -> LogOptions<'_> {
        LogOptions {
            server: true,
            file: None,
            level: self.log_level.as_deref(),
            format: self.log_format,
        }
    }
}

/// Whether a worker kind opens sealed passwords (the sweeper only deletes artifacts).
fn read_secret_file(path: &Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    Ok(text.trim().to_string())
}

fn keyring(args: &WorkerArgs, work_dir: &Path) -> anyhow::Result<Keyring> {
    let hex = match (std::env::var("CAIRN_SECRET_KEY"), &args.secret_key_file) {
        (Ok(key), _) => key.trim().to_string(),
        (Err(_), Some(path)) => read_secret_file(path, "secret key")?,
        (Err(_), None) => bail!(
            "no secret key: set CAIRN_SECRET_KEY or pass --secret-key-file PATH with the \
             scheduler's key (its <data-dir>/secret.key, or `cairn key export`); a worker \
             never creates a key of its own"
        ),
    };
    let keyring = Keyring::from_hex(&hex).context(
        "the secret key is not 64 hex digits; copy the scheduler's <data-dir>/secret.key",
    )?;
    Ok(keyring.with_policy(args.confinement.policy(work_dir)?))
}

fn token(args: &WorkerArgs) -> anyhow::Result<String> {
    let token = match (std::env::var("CAIRN_TOKEN"), &args.token_file) {
        (Ok(t), _) => t.trim().to_string(),
        (Err(_), Some(path)) => read_secret_file(path, "token")?,
        (Err(_), None) => String::new(),
    };
    if token.is_empty() {
        bail!(
            "no token: set CAIRN_TOKEN or pass --token-file PATH with a token of role worker \
             (`cairn token create NAME --role worker`)"
        );
    }
    Ok(token)
}

fn private_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the work folder {}", dir.display()))?;
    Ok(std::path::absolute(dir)?)
}

/// Asks the scheduler to accept the token, waiting while no scheduler answers; a refused
/// token stops the worker.
async fn check_token(
    control: &ControlClient,
    worker: &WorkerId,
    stop: &CancellationToken,
) -> anyhow::Result<bool> {
    loop {
        match control.hello(worker).await {
            Ok(hello) => {
                tracing::info!(token = %hello.token, "the scheduler accepted this worker's token");
                return Ok(true);
            }
            Err(e @ ControlError::Unauthorized { .. }) => {
                bail!("the scheduler refused this worker: {e}")
            }
            Err(e) => tracing::warn!(error = %e, "no answer from the scheduler yet; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return Ok(false),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// A worker binary's whole `main` after its flags are parsed.
pub fn main(kinds: &[JobKind], args: WorkerArgs) -> std::process::ExitCode {
    super::main(args, WorkerArgs::log_options, |args| run(kinds, args))
}

/// Runs one worker process for `kinds` (the dump worker also runs checks) until SIGTERM
/// or Ctrl-C. Attempts in flight are then cancelled and their messages given back; the
/// scheduler hands them to another worker once their leases lapse.
pub async fn run(kinds: &[JobKind], args: WorkerArgs) -> anyhow::Result<()> {
    let main = *kinds.first().context("a worker runs at least one kind")?;
    let work_dir = private_dir(&args.work_dir)?;
    // Every kind opens storage, whose S3 keys may be sealed: the sweeper needs the key too.
    let keyring = keyring(&args, &work_dir)?;
    let runners: Vec<(JobKind, Arc<dyn AttemptRunner>)> = crate::up::runners(&keyring)
        .into_iter()
        .filter(|(k, _)| kinds.contains(k))
        .collect();
    let token = token(&args)?;
    prepare_credentials_dir(&work_dir)?;
    let worker_id = args
        .id
        .clone()
        .map(WorkerId)
        .unwrap_or_else(|| crate::up::worker_id(main));
    let stop = CancellationToken::new();
    crate::up::spawn_signal_handler(stop.clone());
    let client = cairn_bus_nats::connect(&args.nats, &worker_id.0).await?;
    let control = ControlClient::new(client.clone(), &token);
    if !check_token(&control, &worker_id, &stop).await? {
        return Ok(());
    }
    // The consumers' AckWait is set by the scheduler; this value is not used to create them.
    let bus: Arc<dyn JobBus> = Arc::new(JetStreamBus::new(client.clone(), Duration::from_secs(30)));
    let control: Arc<dyn Control> = Arc::new(control);
    tracing::info!(worker = %worker_id, ?kinds, concurrency = args.concurrency, "worker is up");
    let mut loops = tokio::task::JoinSet::new();
    for (kind, runner) in runners {
        let config = WorkerConfig {
            kind,
            worker_id: worker_id.clone(),
            concurrency: args.concurrency as usize,
            heartbeat: Duration::from_secs(args.heartbeat_seconds),
        };
        let (bus, control, stop) = (bus.clone(), control.clone(), stop.clone());
        loops.spawn(async move {
            run_worker(config, bus, control, runner, stop.cancelled_owned()).await
        });
    }
    while let Some(done) = loops.join_next().await {
        done??;
    }
    let _ = client.flush().await;
    tracing::info!("worker stopped");
    Ok(())
}
