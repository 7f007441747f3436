//! `cairn-scheduler`: see `cairn::services::scheduler`.

use std::process::ExitCode;

fn main() -> ExitCode {
    cairn::runtime::run(async {
        let cli = cairn::services::scheduler::SchedulerCli::parse_args();
        if let Err(message) = cairn::logging::init(cli.log_options()) {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
        cairn::services::exit_with(cairn::services::scheduler::run(cli).await)
    })
}
