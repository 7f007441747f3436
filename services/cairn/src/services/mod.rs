//! The distributed services' entry points: `cairn-scheduler` (the scheduler of `cairn up`
//! without its workers, on NATS) and the worker processes (`cairn-dump-worker`,
//! `cairn-restore-worker`, `cairn-retention-sweeper`), each a thin binary over this module.

mod rebuild;
pub mod scheduler;
pub mod worker;

use crate::logging::LogOptions;
use std::future::Future;
use std::process::ExitCode;

/// A service binary's whole `main` after its flags are parsed: the runtime, logging as
/// `log_options` says, then `run` with the flags, and the exit code.
pub fn main<A, F>(
    args: A,
    log_options: impl for<'a> Fn(&'a A) -> LogOptions<'a>,
    run: impl FnOnce(A) -> F,
) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    crate::runtime::run(async {
        if let Err(message) = crate::logging::init(log_options(&args)) {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
        exit_with(run(args).await)
    })
}

/// Prints a fatal error the way every cairn binary does and picks the exit code.
fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "stopped");
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
