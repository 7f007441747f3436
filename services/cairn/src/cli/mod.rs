//! The `cairn` command line: clap definitions and dispatch to one module per command.

mod client;
mod commands;
mod credentials;
mod error;
#[cfg(test)]
mod help_tests;
mod output;
mod parse;
mod summary;
mod wait;

pub use error::{CliError, Outcome};

use cairn_domain::notify::NotifyOn;
use cairn_domain::{
    JobId, JobKind, JobStatus, NotifierName, Role, StorageName, StreamKind, TargetName, TokenName,
};
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand};
use client::ApiClient;
use std::path::PathBuf;

/// cairn backs up and restores PostgreSQL, MySQL/MariaDB and Redis databases.
///
/// Every call to the server carries an API token, taken from --token, CAIRN_TOKEN,
/// --token-file (CAIRN_TOKEN_FILE), or else ./cairn-data/admin.token when talking to the
/// default local server.
///
/// Exit codes: 0 ok, 1 job failed, 2 usage or validation error (also: no valid token, or
/// a role that does not allow the call), 3 server unreachable.
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
    /// API token. Visible to other users in the process list: prefer CAIRN_TOKEN or --token-file.
    #[arg(long, global = true, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token alone (like <data-dir>/admin.token).
    #[arg(long, global = true, env = "CAIRN_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// PEM certificate(s) to trust for an https:// server, e.g. its self-signed certificate or CA.
    #[arg(long, global = true, env = "CAIRN_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How this invocation logs: `cairn up` as a server, with its log flags.
    pub fn log_options(&self) -> crate::logging::LogOptions<'_> {
        match &self.command {
            Command::Up(up) => crate::logging::LogOptions {
                server: true,
                file: up.log_file.as_deref(),
                level: up.log_level.as_deref(),
                format: up.log_format,
            },
            _ => crate::logging::LogOptions::default(),
        }
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
    /// Check that a target works now (connect, credentials, version, primary) as a job on
    /// a dump worker, touching no data; prints the job id.
    Check(CheckArgs),
    /// Restore a backup onto a target, overwriting it (needs --yes).
    Restore(RestoreArgs),
    /// Delete the backups of a target that no --keep rule keeps (--dry-run: only show).
    Prune(PruneArgs),
    /// Delete one backup of a target (needs --yes).
    Forget(ForgetArgs),
    /// Show a job: its state, attempts and every event.
    Job(JobArgs),
    /// List jobs, newest first.
    History(HistoryArgs),
    /// Set, show and clear a target's backup schedule and retention; list its next fires.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// List every target's schedule.
    Schedules,
    /// Create, list and revoke API tokens (needs an admin token).
    #[command(subcommand)]
    Token(TokenCommand),
    /// List API requests that were denied (401/403), newest first (needs an admin token).
    Audit(AuditArgs),
    /// The data directory's secret key: show its id, export it, import it (local only).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Webhooks told when jobs end: add, list, remove, and what was delivered (admin).
    #[command(subcommand)]
    Notify(NotifyCommand),
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Add a webhook that is POSTed a JSON body when a matching job ends.
    Add(NotifyAddArgs),
    /// List notifiers.
    List,
    /// Remove a notifier (its delivery record stays).
    Remove(NotifierNameArg),
    /// List delivery attempts, newest first, with the webhook's answer.
    Deliveries(DeliveriesArgs),
}

#[derive(Debug, Args)]
pub struct NotifyAddArgs {
    /// A name for the notifier (lowercase letters, digits, '-', '_').
    #[arg(value_parser = parse::notifier_name)]
    pub name: NotifierName,
    /// The URL to POST to (https://…, or http://). Link-local and cloud metadata
    /// addresses are refused unless --allow-private-endpoint; redirects are not followed.
    #[arg(long, value_name = "URL")]
    pub webhook: String,
    /// Which job ends to tell, comma-separated: succeeded, failed (a permanent failure),
    /// dead (every attempt failed). Default: all.
    #[arg(long, value_name = "OUTCOMES", value_delimiter = ',', value_parser = parse::notify_on)]
    pub on: Vec<NotifyOn>,
    /// Which kinds of job, comma-separated: backup, restore, prune. Default: all.
    #[arg(long, value_name = "KINDS", value_delimiter = ',', value_parser = parse::job_kind)]
    pub kind: Vec<JobKind>,
    /// Only this target's jobs.
    #[arg(long, value_parser = parse::target_name)]
    pub target: Option<TargetName>,
    /// Sign every body with HMAC-SHA256 using the secret in this environment variable of
    /// the server (header X-Cairn-Signature: sha256=HEX over "TIMESTAMP.BODY", with
    /// X-Cairn-Timestamp).
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
    /// Allow a webhook at a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
    /// fd00:ec2::254), which could otherwise leak the server's cloud credentials.
    #[arg(long)]
    pub allow_private_endpoint: bool,
}

#[derive(Debug, Args)]
pub struct NotifierNameArg {
    /// The notifier's name (see `cairn notify list`).
    #[arg(value_parser = parse::notifier_name)]
    pub name: NotifierName,
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// At most this many attempts (server default 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Back up a target by itself, and keep its newest backups (a new policy version).
    Set(Box<ScheduleSetArgs>),
    /// Show a target's schedule, retention and every change made to them.
    Show(TargetNameArg),
    /// Stop a target's schedule (its backups stay).
    Clear(TargetNameArg),
    /// The next fire times, as RFC 3339 UTC instants.
    Next(ScheduleNextArgs),
}

/// Give one of --every, --at (with optional --days) or --cron.
#[derive(Debug, Args)]
pub struct ScheduleSetArgs {
    /// The target to back up on this schedule.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// A preset: hourly (minute 0), daily (00:00), weekly (Monday 00:00) or monthly (the
    /// 1st, 00:00), on the wall clock of --tz.
    #[arg(long, value_name = "PRESET")]
    pub every: Option<String>,
    /// A time of day, HH:MM, on the wall clock of --tz.
    #[arg(long, value_name = "HH:MM")]
    pub at: Option<String>,
    /// With --at: the weekdays, e.g. mon,wed,fri or mon-fri (default every day).
    #[arg(long, value_name = "DAYS")]
    pub days: Option<String>,
    /// A crontab expression (5 fields, or 6 with leading seconds, or @daily …), in UTC.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// An IANA time zone for --every and --at, e.g. Europe/Berlin (default UTC).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Keep the newest N successful backups (default 5).
    #[arg(long, value_name = "N")]
    pub keep: Option<u32>,
    /// Also keep the newest backup of each of the last N hours.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Also keep the newest backup of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Also keep the newest backup of each of the last N weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Also keep the newest backup of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Also keep the newest backup of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Storage for scheduled backups (default: the target's).
    #[arg(long, value_name = "NAME")]
    pub storage: Option<String>,
    /// How late a slot missed while cairn was down still fires, e.g. 30m (default 1h).
    #[arg(long, value_name = "DURATION")]
    pub catch_up: Option<String>,
    /// Delay each fire by a steady amount up to this, per target, e.g. 10m (default 0).
    #[arg(long, value_name = "DURATION")]
    pub jitter: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleNextArgs {
    /// The target whose next fire times are shown.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// How many fire times (1 to 1000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// Fire times after this instant (RFC 3339, default now).
    #[arg(long, value_name = "RFC3339", value_parser = parse::since)]
    pub after: Option<DateTime<Utc>>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and never shown again.
    Create(TokenCreateArgs),
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token: it stops working at once (the last admin token cannot be revoked).
    Revoke(TokenNameArg),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// A name for the token (lowercase letters, digits, '-', '_'), shown in `cairn token
    /// list` and in the history of what it did.
    #[arg(value_parser = parse::token_name)]
    pub name: TokenName,
    /// read (lists and queries), operate (also backups and restores), admin (also targets,
    /// storages and tokens), or worker (a worker's control calls).
    #[arg(long, value_parser = parse::role)]
    pub role: Role,
}

#[derive(Debug, Args)]
pub struct TokenNameArg {
    /// The token's name (see `cairn token list`).
    #[arg(value_parser = parse::token_name)]
    pub name: TokenName,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// At most this many records (server default 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the key id (public; backups signed with this key name it).
    Id(KeyIdArgs),
    /// Copy the secret key out (for disaster recovery); the copy is as sensitive as the key.
    Export(KeyExportArgs),
    /// Install a secret key into a data directory (before `cairn up` first starts there).
    Import(KeyImportArgs),
}

#[derive(Debug, Args)]
pub struct KeyIdArgs {
    /// The data directory whose key is meant (`CAIRN_SECRET_KEY`, when set, wins as for `cairn up`).
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct KeyExportArgs {
    /// The data directory whose key is exported (`CAIRN_SECRET_KEY`, when set, wins as for `cairn up`).
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    pub data_dir: PathBuf,
    /// A new file (created 0600, never overwritten), or `-` for stdout.
    #[arg(long, value_name = "FILE|-")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct KeyImportArgs {
    /// A file written by `cairn key export`, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// The data directory to install the key into.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    pub data_dir: PathBuf,
    /// Replace a different key already there (its sealed passwords stop opening).
    #[arg(long)]
    pub replace: bool,
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
    Remove(TargetRemoveArgs),
    /// Change a target's URL, password reference, storage or CA file.
    Update(TargetUpdateArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("password").multiple(false)))]
pub struct TargetUpdateArgs {
    /// The target to change.
    #[arg(value_parser = parse::target_name)]
    pub name: TargetName,
    /// The new URL (same rules as `target add`; never put a password in it).
    #[arg(long)]
    pub url: Option<String>,
    /// Name of an environment variable holding the new password, read by the server at job time.
    #[arg(long, value_name = "VAR", group = "password")]
    pub password_env: Option<String>,
    /// File holding the new password, read by the server at job time.
    #[arg(long, value_name = "PATH", group = "password")]
    pub password_file: Option<PathBuf>,
    /// Read the new password from one line of stdin; the server keeps it encrypted.
    #[arg(long, group = "password")]
    pub password_stdin: bool,
    /// Storage for this target's future backups (the ones taken stay where they are).
    #[arg(long, value_parser = parse::storage_name)]
    pub storage: Option<StorageName>,
    /// PEM file of the CA certificates that sign the database's TLS certificate.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("password").multiple(false)))]
pub struct TargetAddArgs {
    /// A name for the target (lowercase letters, digits, '-', '_'; at most 63), used by
    /// every other command.
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
pub struct TargetRemoveArgs {
    /// The target to remove (its backups stay, listed and restorable, unless --purge).
    #[arg(value_parser = parse::target_name)]
    pub name: TargetName,
    /// Delete every backup of the target too (needs --yes).
    #[arg(long)]
    pub purge: bool,
    /// Confirm --purge: the backups are deleted for good.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct TargetNameArg {
    /// The target's name (see `cairn target list`).
    #[arg(value_parser = parse::target_name)]
    pub name: TargetName,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Register a storage.
    Add(Box<StorageAddArgs>),
    /// List storages (including `default`).
    List,
}

#[derive(Debug, Args)]
pub struct StorageAddArgs {
    /// A name for the storage (lowercase letters, digits, '-', '_'), given to
    /// `cairn target add --storage`.
    #[arg(value_parser = parse::storage_name)]
    pub name: StorageName,
    /// Where backups go: file:///absolute/path or s3://bucket/folder
    #[arg(long)]
    pub url: String,
    /// S3: the server, http(s)://host[:port] (AWS when left out).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// S3: the bucket's region (default us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// S3: the environment variable (of the workers) holding the access key id.
    #[arg(long, value_name = "VAR", conflicts_with = "access_key_file")]
    pub access_key_env: Option<String>,
    /// S3: a file (on the workers, in a secrets folder) holding the access key id.
    #[arg(long, value_name = "PATH")]
    pub access_key_file: Option<String>,
    /// S3: the environment variable (of the workers) holding the secret access key.
    #[arg(long, value_name = "VAR", conflicts_with = "secret_key_file")]
    pub secret_key_env: Option<String>,
    /// S3: a file (on the workers, in a secrets folder) holding the secret access key.
    #[arg(long, value_name = "PATH")]
    pub secret_key_file: Option<String>,
    /// S3: accept an endpoint at a link-local or cloud metadata address (169.254.0.0/16,
    /// fd00:ec2::254), refused by default.
    #[arg(long)]
    pub allow_private_endpoint: bool,
    /// Encrypt every artifact before it is stored (after compression).
    #[arg(long, value_name = "SCHEME", value_parser = ["age"])]
    pub encrypt: Option<String>,
    /// age: a public key (age1…) to encrypt to; repeat for several.
    #[arg(long = "age-recipient", value_name = "KEY", requires = "encrypt")]
    pub age_recipients: Vec<String>,
    /// age: the private key file (on the workers that restore, in a secrets folder).
    #[arg(long, value_name = "PATH", requires = "encrypt")]
    pub age_identity_file: Option<String>,
    /// age: the environment variable holding a passphrase (instead of recipients).
    #[arg(long, value_name = "VAR", requires = "encrypt", conflicts_with_all = ["age_passphrase_file", "age_recipients"])]
    pub age_passphrase_env: Option<String>,
    /// age: a file holding a passphrase (instead of recipients).
    #[arg(
        long,
        value_name = "PATH",
        requires = "encrypt",
        conflicts_with = "age_recipients"
    )]
    pub age_passphrase_file: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The target to back up.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// Wait for the job to end, showing progress; exit 1 if it fails.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The target to check.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// Wait for the check to end; exit 1 if it fails, with the reason.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// The target whose backups are listed.
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
    /// Accept a backup this cairn did not sign (unsigned, or signed with another key),
    /// after checking where it comes from. A backup changed after signing is still refused.
    #[arg(long)]
    pub trust_unsigned: bool,
    /// Wait for the job to end, showing progress; exit 1 if it fails.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The target whose backups are pruned.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// Keep the newest N successful backups (default 5; at least 1).
    #[arg(long, value_name = "N")]
    pub keep: Option<u32>,
    /// Also keep the newest backup of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Also keep the newest backup of each of the last N days that have one.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Also keep the newest backup of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Also keep the newest backup of each of the last N months that have one.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Also keep the newest backup of each of the last N years that have one.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Show which backups would go and why each other one stays; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The target the backup belongs to.
    #[arg(value_parser = parse::target_name)]
    pub target: TargetName,
    /// The backup to delete (see `cairn backups TARGET`).
    #[arg(value_name = "BACKUP_ID", value_parser = parse::backup_id)]
    pub backup: String,
    /// Confirm that the backup is deleted for good.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job id, as printed by `cairn backup` and `cairn restore` or listed by `cairn history`.
    #[arg(value_name = "ID", value_parser = parse::job_id)]
    pub id: JobId,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only jobs and configuration changes of this target.
    #[arg(long, value_parser = parse::target_name)]
    pub target: Option<TargetName>,
    /// backup, restore, prune or check (jobs), or config (who changed a target or its schedule).
    #[arg(long, value_parser = parse::stream_kind)]
    pub kind: Option<StreamKind>,
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
        token,
        token_file,
        ca_file,
        command,
    } = cli;
    // Empty CAIRN_TOKEN_FILE / CAIRN_CA_FILE count as unset, like an empty CAIRN_TOKEN.
    let token_file = token_file.filter(|p| !p.as_os_str().is_empty());
    let ca_file = ca_file.filter(|p| !p.as_os_str().is_empty());
    let client = || {
        let token = credentials::resolve(&server, token.clone(), token_file.clone())?;
        ApiClient::new(&server, token, ca_file.as_deref())
    };
    use commands::*;
    match command {
        Command::Up(args) => {
            crate::up::run(args).await?;
            Ok(Outcome::Success)
        }
        Command::Target(TargetCommand::Add(args)) => target::add(&client()?, args, json).await,
        Command::Target(TargetCommand::List) => target::list(&client()?, json).await,
        Command::Target(TargetCommand::Show(args)) => target::show(&client()?, args, json).await,
        Command::Target(TargetCommand::Update(args)) => {
            target::update(&client()?, args, json).await
        }
        Command::Target(TargetCommand::Remove(args)) => {
            target::remove(&client()?, args, json).await
        }
        Command::Storage(StorageCommand::Add(args)) => storage::add(&client()?, *args, json).await,
        Command::Storage(StorageCommand::List) => storage::list(&client()?, json).await,
        Command::Backup(args) => backup::backup(&client()?, args, json).await,
        Command::Backups(args) => backup::list(&client()?, args, json).await,
        Command::Check(args) => check::check(&client()?, args, json).await,
        Command::Restore(args) => restore::restore(&client()?, args, json).await,
        Command::Prune(args) => retention::prune(&client()?, args, json).await,
        Command::Forget(args) => retention::forget(&client()?, args, json).await,
        Command::Job(args) => job::show(&client()?, args, json).await,
        Command::History(args) => history::list(&client()?, args, json).await,
        Command::Key(KeyCommand::Id(args)) => key::id(args, json),
        Command::Key(KeyCommand::Export(args)) => key::export(args),
        Command::Key(KeyCommand::Import(args)) => key::import(args),
        Command::Token(TokenCommand::Create(args)) => token::create(&client()?, args, json).await,
        Command::Token(TokenCommand::List) => token::list(&client()?, json).await,
        Command::Token(TokenCommand::Revoke(args)) => token::revoke(&client()?, args, json).await,
        Command::Audit(args) => audit::list(&client()?, args, json).await,
        Command::Schedule(ScheduleCommand::Set(args)) => {
            let request = schedule::request(&args)?;
            schedule::set(&client()?, &args.target, request, json).await
        }
        Command::Schedule(ScheduleCommand::Show(args)) => {
            schedule::show(&client()?, args, json).await
        }
        Command::Schedule(ScheduleCommand::Clear(args)) => {
            schedule::clear(&client()?, args, json).await
        }
        Command::Schedule(ScheduleCommand::Next(args)) => {
            schedule::next(&client()?, args, json).await
        }
        Command::Schedules => schedule::list(&client()?, json).await,
        Command::Notify(NotifyCommand::Add(args)) => notify::add(&client()?, args, json).await,
        Command::Notify(NotifyCommand::List) => notify::list(&client()?, json).await,
        Command::Notify(NotifyCommand::Remove(args)) => {
            notify::remove(&client()?, args, json).await
        }
        Command::Notify(NotifyCommand::Deliveries(args)) => {
            notify::deliveries(&client()?, args, json).await
        }
    }
}
