//! `cairn-retention-sweeper`: see `cairn::services::worker`.

use cairn::services::worker::WorkerArgs;
use clap::Parser;
use std::process::ExitCode;

/// cairn's retention sweeper: runs prune and forget jobs from the CAIRN_JOBS stream on NATS.
/// Every flag can also be set by its CAIRN_* variable.
#[derive(Debug, Parser)]
#[command(name = "cairn-retention-sweeper", version)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,
}

fn main() -> ExitCode {
    cairn::services::worker::main(&[cairn_domain::JobKind::Prune], Cli::parse().worker)
}
