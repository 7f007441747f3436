//! `cairn`: the command-line client of the cairn HTTP API, and `cairn up`, which runs
//! every service in this one process.
//!
//! This file only parses flags, sets up logging and maps the outcome to an exit code:
//! 0 ok, 1 job failed, 2 usage or validation error, 3 server unreachable.

use cairn::{cli, logging};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    cairn::runtime::run(async {
        let args = cli::Cli::parse();
        if let Err(message) = logging::init(args.log_options()) {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
        match cli::run(args).await {
            Ok(outcome) => outcome.exit_code(),
            Err(err) => {
                if let Some(message) = err.message() {
                    eprintln!("error: {message}");
                }
                err.exit_code()
            }
        }
    })
}
