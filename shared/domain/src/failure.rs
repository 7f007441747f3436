//! A job failure as it is recorded: what went wrong, and whether trying again can help.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error that can end an attempt becomes one of these before it reaches the ledger.
/// `message` must never hold a secret: engines redact before building it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// A stable, machine-readable code (`auth_failed`, `unreachable`, `checksum_mismatch`, …).
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
            retryable: false,
        }
    }
    pub fn retryable(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
            retryable: true,
        }
    }
}

impl fmt::Display for Failure {
    /// One line: the message's control characters (line breaks of tool output) escaped, so
    /// a failure logged as a field cannot forge log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            crate::text::Printable(&self.message),
            crate::text::Printable(&self.code)
        )
    }
}

impl std::error::Error for Failure {}
