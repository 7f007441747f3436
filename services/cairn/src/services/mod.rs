//! The distributed services' entry points: `cairn-scheduler` (the scheduler of `cairn up`
//! without its workers, on NATS) and the worker processes (`cairn-dump-worker`,
//! `cairn-restore-worker`, `cairn-retention-sweeper`), each a thin binary over this module.

mod rebuild;
pub mod scheduler;
pub mod worker;

use std::process::ExitCode;

/// Prints a fatal error the way every cairn binary does and picks the exit code.
pub fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "stopped");
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
