//! What can go wrong in a CLI command, and which exit code each case means.

use std::fmt;
use std::process::ExitCode;

/// How a command that ran to the end turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The job the command waited for failed or was cancelled.
    JobFailed,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::JobFailed => ExitCode::from(1),
        }
    }
}

/// A command that could not run to the end.
#[derive(Debug)]
pub enum CliError {
    /// Bad input, refused before or by the server (exit 2).
    Usage(String),
    /// No answer from the server (exit 3).
    Unreachable { server: String, detail: String },
    /// The server answered with an error body (4xx: exit 2, otherwise exit 1).
    Api { status: u16, message: String },
    /// The operator pressed Ctrl-C while waiting; the job itself goes on (exit 130).
    Interrupted { job: String },
    /// Writing to stdout failed; a closed pipe (`cairn history | head`) is not an error.
    Output(std::io::Error),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        let code = match self {
            CliError::Usage(_) => 2,
            CliError::Unreachable { .. } => 3,
            CliError::Interrupted { .. } => 130,
            CliError::Api { status, .. } if (400..500).contains(status) => 2,
            CliError::Api { .. } | CliError::Other(_) => 1,
            CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            CliError::Output(_) => 1,
        };
        ExitCode::from(code)
    }

    /// What to tell the operator on stderr, if anything.
    pub fn message(&self) -> Option<String> {
        match self {
            CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => None,
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            CliError::Unreachable { server, detail } => write!(
                f,
                "cairn server at {server} is unreachable: {detail}; start it with `cairn up` \
                 (or point --server / CAIRN_SERVER at a running one)"
            ),
            CliError::Api { message, .. } => f.write_str(message),
            CliError::Interrupted { job } => write!(
                f,
                "stopped waiting; job {job} goes on in the server (follow it with `cairn job {job}`)"
            ),
            CliError::Output(e) => write!(f, "cannot write output: {e}"),
            CliError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Output(e)
    }
}
