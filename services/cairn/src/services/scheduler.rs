//! `cairn-scheduler`: the control plane as its own process on NATS. It takes `cairn up`'s
//! flags (without running workers) and has one subcommand, `rebuild --from-stream`.

use crate::up::UpArgs;
use clap::{Parser, Subcommand};

/// cairn's scheduler: owns the ledger, serves the HTTP API, answers the control plane on
/// NATS (cairn.ctl.*), queues jobs on CAIRN_JOBS and relays every event to CAIRN_EVENTS.
/// Every flag can also be set by its CAIRN_* variable.
#[derive(Debug, Parser)]
#[command(
    name = "cairn-scheduler",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct SchedulerCli {
    #[command(subcommand)]
    pub command: Option<SchedulerCommand>,
    #[command(flatten)]
    pub up: UpArgs,
}

#[derive(Debug, Subcommand)]
pub enum SchedulerCommand {
    /// Rebuild a lost ledger from the CAIRN_EVENTS stream into a new data directory.
    Rebuild(super::rebuild::RebuildArgs),
}

impl SchedulerCli {
    /// Parses the command line: `cairn up`'s flags, without those only its in-process
    /// workers use (they are refused here, and not shown in `--help`).
    pub fn parse_args() -> Self {
        let mut command = <Self as clap::CommandFactory>::command()
            .mut_arg("concurrency", |a| a.hide(true).env(None::<&str>));
        let mut matches = command.get_matches_mut();
        if matches.value_source("concurrency") == Some(clap::parser::ValueSource::CommandLine) {
            command
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--concurrency belongs to the workers: pass it to cairn-dump-worker or \
                     cairn-restore-worker (the scheduler runs no backups itself)",
                )
                .exit();
        }
        match <Self as clap::FromArgMatches>::from_arg_matches_mut(&mut matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    }

    pub fn log_options(&self) -> crate::logging::LogOptions<'_> {
        crate::logging::LogOptions {
            server: true,
            file: self.up.log_file.as_deref(),
            level: self.up.log_level.as_deref(),
            format: self.up.log_format,
        }
    }
}

pub async fn run(cli: SchedulerCli) -> anyhow::Result<()> {
    match cli.command {
        None => crate::up::run_scheduler(cli.up).await,
        Some(SchedulerCommand::Rebuild(args)) => super::rebuild::run(args).await,
    }
}
