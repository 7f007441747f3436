//! The `cairn` command line: clap definitions and dispatch to one module per command.

mod client;
mod commands;
mod error;
mod output;
mod parse;
mod summary;
mod wait;

pub use error::{CliError, Outcome};

use cairn_domain::{JobId, JobKind, JobStatus, StorageName, TargetName};
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand};
use client::ApiClient;
use std::path::PathBuf;

/// cairn backs up and restores PostgreSQL, MySQL/MariaDB and Redis databases.
///
/// Exit codes: 0 ok, 1 job failed, 2 usage or validation error, 3 server unreachable.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, propagate_version = true)]
pub struct Cli {
    /// URL of the cairn server (`cairn up` serves one).
    #[arg(
        long,
        global = true,
        env = "CAIRN_SERVER",
        default_value = "http://127.0.0.1:7070",
        value_parser = parse::server_url
    )]
    pub server: String,
    /// Print JSON on stdout (objects, flat arrays, or JSON lines with --wait); messages go to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether this invocation runs the server rather than talking to one.
    pub fn runs_server(&self) -> bool {
        matches!(self.command, Command::Up(_))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every cairn service in this process (HTTP API, scheduler, workers).
    Up(crate::up::UpArgs),
    /// Add, list, show and remove databases to protect.
    #[command(subcommand)]
    Target(TargetCommand),
    /// Add and list places where backups are stored.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Back up a target now; prints the job id.
    Backup(BackupArgs),
    /// List a target's backups, newest first.
    Backups(BackupsArgs),
    /// Restore a backup onto a target, overwriting it (needs --yes).
    Restore(RestoreArgs),
    /// Show a job: its state, attempts and every event.
    Job(JobArgs),
    /// List jobs, newest first.
    History(HistoryArgs),
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Register a database to protect.
    Add(TargetAddArgs),
    /// List every target.
    List,
    /// Show one target.
    Show(TargetNameArg),
    /// Forget a target (its backups stay in storage).
    Remove(TargetNameArg),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("password").multiple(false)))]
pub struct TargetAddArgs {
    #[arg(value_parser = parse::target_name)]
    pub name: TargetName,
    /// postgres://user@host:5432/db, mysql://user@host:3306/db, redis://host:6379/0, …
    /// (no path = the whole server). Never put a password in it.
    #[arg(long)]
    pub url: String,
    /// Name of an environment variable holding the password, read by the server at job time.
    #[arg(long, value_name = "VAR", group = "password")]
    pub password_env: Option<String>,
    /// File holding the password, read by the server at job time.
    #[arg(long, value_name = "PATH", group = "password")]
    pub password_file: Option<PathBuf>,
    /// Read the password from one line of stdin; the server keeps it encrypted.
    #[arg(long, group = "password")]
    pub password_stdin: bool,
    /// Storage for this target's backups (default: `default`).
    #[arg(long, value_parser = parse::storage_name)]
    pub storage: Option<StorageName>,
    /// PEM file of the CA certificates that sign the database's TLS certificate, read by
    /// the server when a job runs. Alone it means verify-full (sslmode, ssl-mode); with
    /// Redis use a rediss:// URL.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TargetNameArg {
    #[arg(value_parser = parse::target_name)]
    pub name: TargetName,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Register a storage.
    Add(StorageAddArgs),
    /// List storages (including `default`).
    List,
}

#[derive(Debug, Args)]
pub struct StorageAddArgs {
    #[arg(value_parser = parse::storage_name)]
    pub name: StorageName,
    /// Where backups go: file:///absolute/path
    #[arg(long)]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// Wait for the job to end, showing progress; exit 1 if it fails.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The target to overwrite.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// Backup id (see `cairn backups`), or `latest`.
    #[arg(long, value_name = "ID|latest", value_parser = parse::backup_ref)]
    pub backup: String,
    /// Restore a backup of this target instead (e.g. production onto staging).
    #[arg(long, value_name = "SOURCE", value_parser = parse::target_name)]
    pub from: Option<TargetName>,
    /// Confirm that the target's current contents may be overwritten.
    #[arg(long)]
    pub yes: bool,
    /// Wait for the job to end, showing progress; exit 1 if it fails.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    #[arg(value_name = "ID", value_parser = parse::job_id)]
    pub id: JobId,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(long, value_parser = parse::target_name)]
    pub target: Option<TargetName>,
    /// backup, restore or prune.
    #[arg(long, value_parser = parse::job_kind)]
    pub kind: Option<JobKind>,
    /// queued, running, retry_due, succeeded, failed or cancelled.
    #[arg(long, value_parser = parse::job_status)]
    pub status: Option<JobStatus>,
    /// Only jobs queued at or after this time (RFC 3339, e.g. 2026-11-26T00:00:00Z).
    #[arg(long, value_parser = parse::since)]
    pub since: Option<DateTime<Utc>>,
    /// At most this many jobs (server default 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

/// Runs one command to its end.
pub async fn run(cli: Cli) -> Result<Outcome, CliError> {
    let Cli {
        server,
        json,
        command,
    } = cli;
    let client = || ApiClient::new(&server);
    use commands::*;
    match command {
        Command::Up(args) => {
            crate::up::run(args).await?;
            Ok(Outcome::Success)
        }
        Command::Target(TargetCommand::Add(args)) => target::add(&client()?, args, json).await,
        Command::Target(TargetCommand::List) => target::list(&client()?, json).await,
        Command::Target(TargetCommand::Show(args)) => target::show(&client()?, args, json).await,
        Command::Target(TargetCommand::Remove(args)) => {
            target::remove(&client()?, args, json).await
        }
        Command::Storage(StorageCommand::Add(args)) => storage::add(&client()?, args, json).await,
        Command::Storage(StorageCommand::List) => storage::list(&client()?, json).await,
        Command::Backup(args) => backup::backup(&client()?, args, json).await,
        Command::Backups(args) => backup::list(&client()?, args, json).await,
        Command::Restore(args) => restore::restore(&client()?, args, json).await,
        Command::Job(args) => job::show(&client()?, args, json).await,
        Command::History(args) => history::list(&client()?, args, json).await,
    }
}
