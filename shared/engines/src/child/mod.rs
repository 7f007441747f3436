//! Running a client tool (pg_dump, psql, mariadb-dump, mariadb …) as a streaming stage.
//!
//! Semantics are those of `set -o pipefail`: an attempt succeeds only when the tool exits
//! with status 0 *and* printed no error line on stderr. Stdout is forwarded in
//! [`CHUNK`]-sized pieces into a bounded channel (backup), or chunks from a channel are
//! written to its stdin (restore). If the other side of the channel goes away, or the
//! restore input reports an error, the child is killed (so an open transaction rolls
//! back) and the attempt fails. Stderr is collected in a bounded tail that ends up,
//! redacted, in the failure message.
//!
//! A tool never outlives cairn: it runs in its own process group and gets SIGKILL when
//! the thread that started it ends (see [`die_with_parent`]). A load that must be atomic
//! is framed by a [`Transaction`]: its `COMMIT` is written only once the whole input
//! arrived with the expected length and without an error item, so a tool whose input
//! ends any other way (cairn killed, artifact corrupt) rolls back.

use crate::{Progress, CHUNK};
use bytes::{Bytes, BytesMut};
use cairn_domain::Failure;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod lifetime;
mod stderr;

use lifetime::die_with_parent;

pub(crate) use stderr::redact;
use stderr::{collect_stderr, first_chars, is_transient, last_chars, StderrReport};

/// How long to wait for a killed tool's stderr to close: a process it started may still
/// hold the pipe, and nothing it says then changes the outcome.
const STDERR_AFTER_KILL: std::time::Duration = std::time::Duration::from_secs(5);

/// The pipe buffer between a dump tool and cairn.
const PIPE_SIZE: usize = 1 << 20;

/// How much stderr text a failure message carries.
const MESSAGE_TAIL: usize = 2000;

/// Environment variables a tool inherits from the worker: locale, paths and TLS settings.
/// Everything else (credentials above all) is left out.
fn inherited(var: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "USER", "LOGNAME",
    ];
    const TLS: &[&str] = &[
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLCRL",
        "PGSSLCRLDIR",
    ];
    EXACT.contains(&var) || TLS.contains(&var)
}

/// One tool invocation, ready to spawn.
pub(crate) struct Tool {
    /// Shown in messages (`pg_dump`).
    pub name: String,
    pub cmd: Command,
    /// Whether a stderr line reports an error (as opposed to a notice or warning).
    pub is_error: fn(&str) -> bool,
    /// Strings that must never appear in a message (the password, should a tool echo it).
    pub redact: Vec<String>,
    /// For a load: the statements that open and commit its one transaction.
    pub transaction: Option<Transaction>,
}

/// The statements around a load that must commit all or nothing. `begin` is written
/// before the first byte of input, `commit` only after the last one, once the input is
/// known complete and verified; a tool that reaches the end of its input without
/// `commit` (psql, mariadb) closes its session and the server rolls back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transaction {
    pub begin: &'static str,
    pub commit: &'static str,
}

impl Transaction {
    /// Plain SQL lines (not client meta-commands), so they compose with any prefix the
    /// stream carries.
    pub(crate) const SQL: Transaction = Transaction {
        begin: "BEGIN;\n",
        commit: "\nCOMMIT;\n",
    };
}

impl Tool {
    /// A command for `program` with an environment that cannot leak or pick up a password:
    /// the child starts from an empty environment plus a short allowlist, so neither a
    /// `--password-env` variable of any target nor `PGPASSWORD`/`MYSQL_PWD` reaches it.
    pub(crate) fn new(program: &str, is_error: fn(&str) -> bool) -> Self {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (var, value) in std::env::vars_os() {
            if var.to_str().is_some_and(inherited) {
                cmd.env(var, value);
            }
        }
        // English messages, so error lines can be recognised.
        cmd.env("LC_MESSAGES", "C");
        cmd.kill_on_drop(true);
        // Its own process group: a terminal's Ctrl-C reaches cairn, which stops the tool
        // itself, and the whole group can be told apart from cairn.
        cmd.process_group(0);
        die_with_parent(&mut cmd);
        Self {
            name: program.to_string(),
            cmd,
            is_error,
            redact: Vec::new(),
            transaction: None,
        }
    }

    fn spawn(&mut self, stdin: Stdio, stdout: Stdio) -> Result<Child, Failure> {
        self.cmd.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        self.cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Failure::permanent(
                    "tool_missing",
                    format!("{} is not installed (not found in PATH); install the database client tools on the worker", self.name),
                )
            } else {
                Failure::retryable("spawn_failed", format!("cannot start {}: {e}", self.name))
            }
        })
    }
}

/// Rewrites a restore stream on its way to the tool (most restores pass it unchanged).
pub(crate) trait Rewrite: Send {
    fn push(&mut self, chunk: Bytes) -> Bytes;
    /// Whatever is still buffered when the input ends.
    fn finish(&mut self) -> Bytes;
    /// Set when the input must not reach the tool at all (checked after every push and
    /// after finish): the tool is then killed before it gets that chunk.
    fn refusal(&mut self) -> Option<Failure> {
        None
    }
}

/// The identity rewrite.
pub(crate) struct Unchanged;

impl Rewrite for Unchanged {
    fn push(&mut self, chunk: Bytes) -> Bytes {
        chunk
    }
    fn finish(&mut self) -> Bytes {
        Bytes::new()
    }
}

/// Runs a dump tool, forwarding its stdout into `out`. Returns the bytes forwarded.
pub(crate) async fn run_dump(
    mut tool: Tool,
    out: &mpsc::Sender<Bytes>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let mut child = tool.spawn(Stdio::null(), Stdio::piped())?;
    let stderr = collect_stderr(&mut child, tool.is_error);
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // A 64 KiB pipe makes the tool stop at every scheduling gap of the reader; 1 MiB lets
    // it run ahead. Best effort: the kernel may cap it (`/proc/sys/fs/pipe-max-size`).
    if let Err(e) = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_SIZE) {
        tracing::debug!(error = %e, "could not enlarge the dump pipe");
    }
    let mut buf = BytesMut::with_capacity(CHUNK);
    let mut total = 0u64;
    loop {
        let n = match stdout.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = child.kill().await;
                return Err(Failure::retryable(
                    "dump_failed",
                    format!("reading the output of {}: {e}", tool.name),
                ));
            }
        };
        if n > 0 {
            total += n as u64;
            progress.add_db(n as u64);
        }
        if buf.len() >= CHUNK || (n == 0 && !buf.is_empty()) {
            if out.send(buf.split().freeze()).await.is_err() {
                let _ = child.kill().await;
                return Err(Failure::retryable(
                    "aborted",
                    format!(
                        "the storage pipeline stopped reading; {} was stopped",
                        tool.name
                    ),
                ));
            }
            buf.reserve(CHUNK);
        }
        if n == 0 {
            break;
        }
    }
    let status = child.wait().await;
    finish(&tool, status, stderr, "dump_failed").await?;
    Ok(total)
}

/// Runs a load tool, writing every chunk of `input` (after `rewrite`) into its stdin.
/// `first` are chunks already taken from `input` by the caller. Returns the input bytes.
///
/// The input must add up to `expected` bytes (the manifest's dump size) and end without
/// an error item (the reader reports a size or checksum mismatch of the stored artifact
/// as one, before it closes the channel). Only then is the tool's `COMMIT` written and
/// its stdin closed; an input that ends short kills the tool instead, exactly like an
/// error.
pub(crate) async fn run_restore(
    mut tool: Tool,
    expected: u64,
    first: Vec<Bytes>,
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
    rewrite: &mut dyn Rewrite,
    progress: &Progress,
) -> Result<u64, Failure> {
    let mut child = tool.spawn(Stdio::piped(), Stdio::null())?;
    let stderr = collect_stderr(&mut child, tool.is_error);
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // As for dumps: a larger pipe lets cairn run ahead of the loader's reads.
    if let Err(e) = rustix::pipe::fcntl_setpipe_size(&stdin, PIPE_SIZE) {
        tracing::debug!(error = %e, "could not enlarge the restore pipe");
    }
    let mut total = 0u64;
    let mut stopped_reading = false;
    let mut pending = first.into_iter();
    if let Some(t) = tool.transaction {
        stopped_reading = stdin.write_all(t.begin.as_bytes()).await.is_err();
    }
    // Feeding ends at the end of input, or early when the tool stops reading (its exit
    // status and stderr then say why).
    loop {
        if stopped_reading {
            break;
        }
        let item = match pending.next() {
            Some(chunk) => Some(Ok(chunk)),
            None => input.recv().await,
        };
        let chunk = match item {
            None if total != expected => {
                let _ = child.kill().await;
                drop(stdin);
                let _ = tokio::time::timeout(STDERR_AFTER_KILL, stderr).await;
                return Err(Failure::permanent(
                    "artifact_truncated",
                    format!("the artifact ended after {total} of {expected} bytes; nothing was committed by {}", tool.name),
                ));
            }
            None => {
                // Complete and verified: the whole input is through, nothing reported an
                // error. Only now may the load commit.
                let tail = rewrite.finish();
                if let Some(failure) = rewrite.refusal() {
                    return Err(abandon(child, stdin, stderr, failure).await);
                }
                if !tail.is_empty() && stdin.write_all(&tail).await.is_err() {
                    stopped_reading = true;
                    break;
                }
                if let Some(t) = tool.transaction {
                    if stdin.write_all(t.commit.as_bytes()).await.is_err() {
                        stopped_reading = true;
                        break;
                    }
                }
                let _ = stdin.shutdown().await;
                break;
            }
            Some(Err(failure)) => {
                // Killing the loader aborts its open transaction.
                let _ = child.kill().await;
                drop(stdin);
                let _ = tokio::time::timeout(STDERR_AFTER_KILL, stderr).await;
                return Err(failure);
            }
            Some(Ok(chunk)) => chunk,
        };
        let n = chunk.len() as u64;
        let chunk = rewrite.push(chunk);
        if let Some(failure) = rewrite.refusal() {
            return Err(abandon(child, stdin, stderr, failure).await);
        }
        if stdin.write_all(&chunk).await.is_err() {
            stopped_reading = true;
            break;
        }
        total += n;
        progress.add_db(n);
    }
    drop(stdin);
    let status = child.wait().await;
    finish(&tool, status, stderr, "restore_failed").await?;
    if stopped_reading {
        return Err(Failure::permanent(
            "restore_failed",
            format!("{} stopped reading its input before the end", tool.name),
        ));
    }
    Ok(total)
}

/// Kills a load tool before it sees refused input (a `--single-transaction` load rolls
/// back) and returns the reason.
async fn abandon(
    mut child: Child,
    stdin: tokio::process::ChildStdin,
    stderr: JoinHandle<StderrReport>,
    failure: Failure,
) -> Failure {
    let _ = child.kill().await;
    drop(stdin);
    let _ = tokio::time::timeout(STDERR_AFTER_KILL, stderr).await;
    failure
}

/// Decides the attempt from the exit status and what the tool printed on stderr.
async fn finish(
    tool: &Tool,
    status: std::io::Result<ExitStatus>,
    stderr: JoinHandle<StderrReport>,
    code: &str,
) -> Result<(), Failure> {
    let report = stderr.await.unwrap_or_default();
    let errors = &report.errors;
    let status = status
        .map_err(|e| Failure::retryable(code, format!("waiting for {} failed: {e}", tool.name)))?;
    if status.success() && errors.is_empty() {
        for line in report.tail.lines().filter(|l| !l.trim().is_empty()) {
            tracing::debug!(tool = %tool.name, line = %cairn_domain::text::printable(&redact(line, &tool.redact)), "tool output");
        }
        return Ok(());
    }
    let how = match status.code() {
        Some(0) => "reported errors".to_string(),
        Some(c) => format!("exited with status {c}"),
        None => "was killed by a signal".to_string(),
    };
    // The first errors say what went wrong; without any, the end of the output does.
    let detail = if errors.is_empty() {
        last_chars(report.tail.trim(), MESSAGE_TAIL)
    } else {
        first_chars(&errors.join("\n"), MESSAGE_TAIL)
    };
    let detail = redact(&detail, &tool.redact);
    let retryable = status.code().is_none() || is_transient(&detail);
    let message = if detail.is_empty() {
        format!("{} {how}", tool.name)
    } else {
        format!("{} {how}: {detail}", tool.name)
    };
    Err(Failure {
        code: code.to_string(),
        message,
        retryable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_error(l: &str) -> bool {
        l.contains("ERROR")
    }

    #[tokio::test]
    async fn a_zero_exit_with_an_error_line_fails() {
        let mut tool = Tool::new("sh", any_error);
        tool.cmd
            .args(["-c", "echo data; echo 'ERROR: boom hunter2' >&2; exit 0"]);
        tool.redact = vec!["hunter2".into()];
        let (tx, mut rx) = mpsc::channel(4);
        let err = run_dump(tool, &tx, &Progress::default()).await.unwrap_err();
        assert_eq!(err.code, "dump_failed");
        assert!(err.message.contains("ERROR: boom ***"), "{}", err.message);
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"data\n"));
    }

    #[tokio::test]
    async fn output_arrives_in_chunks_and_a_non_zero_exit_fails() {
        let mut tool = Tool::new("sh", any_error);
        tool.cmd
            .args(["-c", "head -c 600000 /dev/zero; echo warning >&2; exit 3"]);
        let (tx, mut rx) = mpsc::channel(8);
        let progress = Progress::default();
        let err = run_dump(tool, &tx, &progress).await.unwrap_err();
        assert!(err.message.contains("status 3: warning"), "{}", err.message);
        drop(tx);
        let mut sizes = Vec::new();
        while let Some(c) = rx.recv().await {
            sizes.push(c.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 600000);
        assert!(sizes[..sizes.len() - 1].iter().all(|s| *s >= CHUNK));
        assert_eq!(progress.snapshot().0, 600000);
    }

    #[tokio::test]
    async fn a_closed_channel_stops_the_tool() {
        let mut tool = Tool::new("sh", any_error);
        tool.cmd.args(["-c", "cat /dev/zero"]);
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let err = run_dump(tool, &tx, &Progress::default()).await.unwrap_err();
        assert_eq!(err.code, "aborted");
    }

    #[tokio::test]
    async fn restore_feeds_stdin_and_an_input_error_kills_the_tool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut tool = Tool::new("sh", any_error);
        tool.cmd.args(["-c", &format!("cat > {}", path.display())]);
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(Ok(Bytes::from_static(b"b"))).await.unwrap();
        drop(tx);
        let n = run_restore(
            tool,
            2,
            vec![Bytes::from_static(b"a")],
            &mut rx,
            &mut Unchanged,
            &Progress::default(),
        )
        .await
        .unwrap();
        assert_eq!((n, std::fs::read(&path).unwrap()), (2, b"ab".to_vec()));

        let mut tool = Tool::new("sh", any_error);
        tool.cmd.args(["-c", "cat > /dev/null"]);
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(Err(Failure::permanent("checksum_mismatch", "bad")))
            .await
            .unwrap();
        let err = run_restore(
            tool,
            9,
            vec![],
            &mut rx,
            &mut Unchanged,
            &Progress::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "checksum_mismatch");
    }

    #[tokio::test]
    async fn an_input_that_ends_short_never_reaches_eof() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("finished");
        let mut tool = Tool::new("sh", any_error);
        tool.cmd.args([
            "-c",
            &format!("cat > /dev/null && touch {}", marker.display()),
        ]);
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        drop(tx);
        let err = run_restore(
            tool,
            3,
            vec![],
            &mut rx,
            &mut Unchanged,
            &Progress::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.retryable),
            ("artifact_truncated", false)
        );
        assert!(err.message.contains("2 of 3"), "{}", err.message);
        assert!(!marker.exists(), "the tool was killed, not given EOF");
    }

    #[tokio::test]
    async fn commit_is_written_only_after_the_whole_input() {
        let dir = tempfile::tempdir().unwrap();
        let run = |path: std::path::PathBuf, chunks: Vec<Result<Bytes, Failure>>| {
            let mut tool = Tool::new("sh", any_error);
            tool.cmd.args(["-c", &format!("cat > {}", path.display())]);
            tool.transaction = Some(Transaction::SQL);
            async move {
                let (tx, mut rx) = mpsc::channel(4);
                for c in chunks {
                    tx.send(c).await.unwrap();
                }
                drop(tx);
                run_restore(
                    tool,
                    2,
                    vec![],
                    &mut rx,
                    &mut Unchanged,
                    &Progress::default(),
                )
                .await
            }
        };
        let good = dir.path().join("good");
        let ok = run(good.clone(), vec![Ok(Bytes::from_static(b"x;"))]).await;
        assert_eq!(ok.unwrap(), 2);
        assert_eq!(std::fs::read(&good).unwrap(), b"BEGIN;\nx;\nCOMMIT;\n");

        // A checksum mismatch reported after the last byte: no COMMIT (the tool is
        // killed, possibly before it even opened its output).
        let bad_path = dir.path().join("bad");
        let bad = vec![
            Ok(Bytes::from_static(b"x;")),
            Err(Failure::permanent("checksum_mismatch", "bad")),
        ];
        let err = run(bad_path.clone(), bad).await.unwrap_err();
        assert_eq!(err.code, "checksum_mismatch");
        let written = std::fs::read(&bad_path).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&written).contains("COMMIT"));
    }

    #[tokio::test]
    async fn a_missing_tool_is_permanent() {
        let tool = Tool::new("cairn-no-such-tool", any_error);
        let (tx, _rx) = mpsc::channel(1);
        let err = run_dump(tool, &tx, &Progress::default()).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.retryable), ("tool_missing", false));
    }
}

#[cfg(test)]
mod env_tests {
    #[test]
    fn only_the_allowlist_is_inherited() {
        for ok in ["PATH", "HOME", "LANG", "PGSSLMODE"] {
            assert!(super::inherited(ok), "{ok}");
        }
        for secret in [
            "PGPASSWORD",
            "MYSQL_PWD",
            "ORDERS_DB_PASSWORD",
            "CAIRN_SECRET_KEY",
            "PGPASSFILE",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(!super::inherited(secret), "{secret}");
        }
    }
}
