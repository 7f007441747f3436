//! `cairn-scheduler`: see `cairn::services::scheduler`.

use cairn::services::scheduler::{self, SchedulerCli};
use std::process::ExitCode;

fn main() -> ExitCode {
    cairn::services::main(
        SchedulerCli::parse_args(),
        SchedulerCli::log_options,
        scheduler::run,
    )
}
