//! `cairn-dump-worker`: see `cairn::services::worker`.

use cairn::services::worker::WorkerArgs;
use clap::Parser;
use std::process::ExitCode;

/// cairn's dump worker: runs backup and check jobs from the CAIRN_JOBS stream on NATS (replicas share the work).
/// Every flag can also be set by its CAIRN_* variable.
#[derive(Debug, Parser)]
#[command(name = "cairn-dump-worker", version)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,
}

fn main() -> ExitCode {
    cairn::services::worker::main(
        &[cairn_domain::JobKind::Backup, cairn_domain::JobKind::Check],
        Cli::parse().worker,
    )
}
