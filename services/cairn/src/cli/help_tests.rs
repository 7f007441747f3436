//! Every argument of every command says what it is for in `--help`.

use super::Cli;
use clap::CommandFactory;

fn undocumented(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for arg in command.get_arguments() {
        let builtin = matches!(arg.get_id().as_str(), "help" | "version");
        if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
            missing.push(format!("{path} {}", arg.get_id()));
        }
    }
    for sub in command.get_subcommands() {
        if sub.get_about().is_none() && sub.get_name() != "help" {
            missing.push(format!("{path} {} (no about)", sub.get_name()));
        }
        undocumented(sub, &format!("{path} {}", sub.get_name()), missing);
    }
}

#[test]
fn every_argument_has_a_help_text() {
    let mut missing = Vec::new();
    undocumented(&Cli::command(), "cairn", &mut missing);
    assert!(missing.is_empty(), "arguments without help: {missing:#?}");
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}
