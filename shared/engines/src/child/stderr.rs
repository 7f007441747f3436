//! A child's stderr: read to the end in a bounded tail, classified and redacted for the
//! failure message.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::task::JoinHandle;

/// Stderr kept for the failure message (the end of it).
const STDERR_TAIL: usize = 64 * 1024;
/// Longest single stderr line kept; the rest of a longer line is dropped.
const MAX_LINE: usize = 4096;

/// Errors a later attempt may not see again (the server went away, was busy or
/// restarting) — unless the text also names a cause that a retry cannot fix.
pub(super) fn is_transient(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    let permanent = [
        "does not exist",
        "authentication failed",
        "access denied",
        "permission denied",
        "unknown database",
        "syntax error",
        "already exists",
        "violates",
        "invalid command",
    ];
    let transient = [
        "could not connect",
        "connection refused",
        "server closed the connection",
        "terminating connection",
        "connection to server",
        "lost connection",
        "can't connect",
        "gone away",
        "timed out",
        "timeout",
        "too many connections",
        "starting up",
        "shutting down",
        "could not translate host name",
        "deadlock",
    ];
    !permanent.iter().any(|p| t.contains(p)) && transient.iter().any(|p| t.contains(p))
}

pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

pub(super) fn first_chars(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub(super) fn last_chars(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// Error lines kept (the first ones: later errors are usually consequences).
const MAX_ERRORS: usize = 20;

#[derive(Debug, Default)]
pub(super) struct StderrReport {
    /// The last lines, at most [`STDERR_TAIL`] bytes.
    pub(super) tail: String,
    /// The first [`MAX_ERRORS`] error lines, wherever they were.
    pub(super) errors: Vec<String>,
}

/// Reads the child's stderr to its end, keeping the last [`STDERR_TAIL`] bytes in whole
/// lines (each cut to [`MAX_LINE`]) and the first error lines (`is_error`).
pub(super) fn collect_stderr(
    child: &mut Child,
    is_error: fn(&str) -> bool,
) -> JoinHandle<StderrReport> {
    let stderr = child.stderr.take().expect("stderr is piped");
    tokio::spawn(read_tail(stderr, is_error))
}

async fn read_tail(mut r: impl AsyncRead + Unpin, is_error: fn(&str) -> bool) -> StderrReport {
    let mut tail = std::collections::VecDeque::<String>::new();
    let mut tail_len = 0usize;
    let mut errors = Vec::new();
    let mut line = Vec::new();
    let mut buf = [0u8; 8192];
    let mut push = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line).into_owned();
        line.clear();
        if errors.len() < MAX_ERRORS && is_error(&text) {
            errors.push(text.clone());
        }
        tail_len += text.len() + 1;
        tail.push_back(text);
        while tail_len > STDERR_TAIL {
            let old = tail.pop_front().expect("non-empty");
            tail_len -= old.len() + 1;
        }
    };
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                push(&mut line);
            } else if line.len() < MAX_LINE {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        push(&mut line);
    }
    let mut text = String::with_capacity(tail_len);
    for l in tail {
        text.push_str(&l);
        text.push('\n');
    }
    StderrReport { tail: text, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors() {
        assert!(is_transient(
            "pg_dump: error: connection to server at \"h\" failed: Connection refused"
        ));
        assert!(!is_transient(
            "pg_dump: error: connection to server failed: FATAL:  database \"x\" does not exist"
        ));
        assert!(!is_transient(
            "psql:<stdin>:3: ERROR:  syntax error at or near \"x\""
        ));
    }

    #[tokio::test]
    async fn the_tail_is_bounded() {
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("line {i} {}\n", "x".repeat(10)).as_bytes());
        }
        text.extend_from_slice(&vec![b'y'; 10_000]);
        text.extend_from_slice(b"\n");
        let report = read_tail(&text[..], |l| l.starts_with("line 3 ")).await;
        assert_eq!(report.errors, vec!["line 3 xxxxxxxxxx".to_string()]);
        assert!(report.tail.len() <= STDERR_TAIL + MAX_LINE);
        assert!(report.tail.contains("line 19999 "));
        assert!(!report.tail.contains("line 0 "));
        assert!(report
            .tail
            .ends_with(&format!("{}\n", "y".repeat(MAX_LINE))));
    }
}
