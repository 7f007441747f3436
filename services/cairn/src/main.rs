//! `cairn`: the command-line client of the cairn HTTP API, and `cairn up`, which runs
//! every service in this one process.
//!
//! This file only parses flags, sets up logging and maps the outcome to an exit code:
//! 0 ok, 1 job failed, 2 usage or validation error, 3 server unreachable.

mod cli;
mod up;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_tracing(args.runs_server());
    match cli::run(args).await {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            if let Some(message) = err.message() {
                eprintln!("error: {message}");
            }
            err.exit_code()
        }
    }
}

/// Logs go to stderr, so stdout stays clean for output (and for `--json`). `RUST_LOG`
/// overrides the default: `info` for the server, `warn` for client commands.
fn init_tracing(server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
}
