//! The MySQL/MariaDB client runs in sandbox mode, so nothing in an artifact can execute.
//!
//! The `mariadb` client obeys commands of its own besides SQL: `\!`/`system` run a shell
//! command, `\.`/`source` read a file, `tee` writes one, … `--binary-mode` (used for
//! every load) turns off the parsing of all of them but `\C` and `delimiter` in batch
//! mode, and `--sandbox` (MariaDB 10.5.25+, 10.6.18+, 10.11.8+, 11.x) makes every
//! command that touches the file system an error, whatever the artifact says; mariadb-dump
//! itself writes `/*M!999999\- enable the sandbox mode */` on its first line.
//!
//! Oracle MySQL's `mysql` has no `--sandbox`. cairn does not load through a client that
//! cannot be sandboxed: the restore is refused before the target is touched, naming the
//! MariaDB client (it loads MySQL dumps as well) as the fix.

use crate::child::Tool;
use cairn_domain::Failure;
use std::process::Stdio;
use std::time::Duration;

/// The option every load passes.
pub(crate) const SANDBOX: &str = "--sandbox";

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Ok when `program` supports [`SANDBOX`]; checked before anything is touched.
pub(crate) async fn require(program: &str) -> Result<(), Failure> {
    let mut probe = Tool::new(program, |_| false);
    probe
        .cmd
        .args(["--no-defaults", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let output = match tokio::time::timeout(PROBE_TIMEOUT, probe.cmd.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::permanent(
                "tool_missing",
                format!("{program} is not installed (not found in PATH); install the MariaDB client tools on the worker"),
            ))
        }
        Ok(Err(e)) => {
            return Err(Failure::retryable(
                "spawn_failed",
                format!("cannot start {program}: {e}"),
            ))
        }
        Err(_) => {
            return Err(Failure::retryable(
                "spawn_failed",
                format!("{program} --help did not answer within {} s", PROBE_TIMEOUT.as_secs()),
            ))
        }
    };
    if supports_sandbox(&String::from_utf8_lossy(&output.stdout)) {
        Ok(())
    } else {
        Err(Failure::permanent(
            "client_unsafe",
            format!("the {program} client on this worker has no {SANDBOX} option (Oracle MySQL's client has none), and cairn never loads a backup through a client that could run commands written in it; install the MariaDB client (Debian/Ubuntu: mariadb-client, 10.11.8 or later), which loads MySQL dumps too; the target was not touched"),
        ))
    }
}

/// Whether `--help` output lists the option.
fn supports_sandbox(help: &str) -> bool {
    help.lines().any(|l| {
        l.trim_start()
            .strip_prefix(SANDBOX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_output_is_read_strictly() {
        assert!(supports_sandbox(
            "  --sandbox           Disallow commands that access the file system"
        ));
        assert!(!supports_sandbox("  --sandboxed-thing  x\n  --binary-mode"));
        assert!(!supports_sandbox("Usage: mysql [OPTIONS] [database]"));
    }

    #[tokio::test]
    async fn the_installed_client_is_checked() {
        // The machine's client is MariaDB's: it has the option.
        require(super::super::program(&["mariadb", "mysql"]))
            .await
            .unwrap();
        let err = require("true").await.unwrap_err();
        assert_eq!(err.code, "client_unsafe");
        assert!(err.message.contains("mariadb-client"), "{}", err.message);
        let err = require("cairn-no-such-client").await.unwrap_err();
        assert_eq!(err.code, "tool_missing");
    }
}
