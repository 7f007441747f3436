//! What the CLI decides without a server: validation exits 2 before any request, and an
//! unreachable server exits 3 with a hint to start one.
//!
//! Every command points at a port nobody listens on (bound, then released), so a request
//! sent by mistake shows up as exit 3, not as a false pass.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

/// A server URL on a free local port with nothing listening.
fn dead_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn cairn(args: &[&str]) -> Output {
    cairn_with_stdin(args, "")
}

fn cairn_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--server", &dead_server()])
        .args(args)
        .env_remove("CAIRN_SERVER")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cairn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for cairn")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, stderr_has: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    for needle in stderr_has {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
}

#[test]
fn a_password_in_the_url_is_refused_without_echoing_it() {
    let out = cairn(&[
        "target",
        "add",
        "orders",
        "--url",
        "postgres://app:hunter2@127.0.0.1:5432/orders",
    ]);
    assert_exit(
        &out,
        2,
        &["--password-env", "--password-file", "--password-stdin"],
    );
    assert!(!stderr(&out).contains("hunter2"));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_urls_are_refused_before_any_request() {
    for url in ["mongodb://h/db", "redis://h/x", "not a url"] {
        let out = cairn(&["target", "add", "orders", "--url", url]);
        assert_exit(&out, 2, &[]);
        assert!(!stderr(&out).contains("unreachable"), "{url}");
    }
}

#[test]
fn bad_target_names_are_usage_errors() {
    for name in ["Orders", "orders.db", "-x", ""] {
        let out = cairn(&["target", "show", name]);
        assert_exit(&out, 2, &[]);
        assert!(!stderr(&out).contains("unreachable"), "{name}");
    }
    let out = cairn(&["target", "add", "Orders", "--url", "postgres://h/db"]);
    assert_exit(&out, 2, &["lowercase letters"]);
    let out = cairn(&["backup", "orders db"]);
    assert_exit(&out, 2, &["lowercase letters"]);
}

#[test]
fn password_options_are_mutually_exclusive() {
    let out = cairn(&[
        "target",
        "add",
        "orders",
        "--url",
        "postgres://app@h/orders",
        "--password-env",
        "PGPASS",
        "--password-stdin",
    ]);
    assert_exit(&out, 2, &["cannot be used with"]);
}

#[test]
fn an_empty_password_on_stdin_is_refused() {
    let out = cairn_with_stdin(
        &[
            "target",
            "add",
            "orders",
            "--url",
            "postgres://app@h/orders",
            "--password-stdin",
        ],
        "\n",
    );
    assert_exit(&out, 2, &["empty"]);
}

#[test]
fn history_filters_are_checked_with_the_allowed_values() {
    let out = cairn(&["history", "--kind", "dump"]);
    assert_exit(&out, 2, &["backup, restore, prune"]);
    let out = cairn(&["history", "--status", "done"]);
    assert_exit(
        &out,
        2,
        &["queued, running, retry_due, succeeded, failed, cancelled"],
    );
    let out = cairn(&["history", "--since", "yesterday"]);
    assert_exit(&out, 2, &["RFC 3339"]);
    let out = cairn(&["history", "--limit", "0"]);
    assert_exit(&out, 2, &[]);
}

#[test]
fn restore_checks_its_flags_before_any_request() {
    let out = cairn(&["restore", "orders", "--backup", "newest", "--yes"]);
    assert_exit(&out, 2, &["latest"]);
    let out = cairn(&["restore", "orders", "--yes"]);
    assert_exit(&out, 2, &["--backup"]);
    let out = cairn(&["job", "not-a-uuid"]);
    assert_exit(&out, 2, &["UUID"]);
}

#[test]
fn restore_without_yes_still_needs_the_server_to_say_what_it_would_overwrite() {
    let out = cairn(&["restore", "orders", "--backup", "latest"]);
    assert_exit(&out, 3, &["unreachable", "cairn up"]);
}

#[test]
fn an_unreachable_server_exits_3_with_a_hint() {
    for args in [
        &["target", "list"][..],
        &["storage", "list", "--json"],
        &["backup", "orders", "--wait"],
        &["backups", "orders"],
        &["history"],
        &["job", "0190a5b2-7c1e-7000-8000-000000000000"],
    ] {
        let out = cairn(args);
        assert_exit(&out, 3, &["is unreachable", "start it with `cairn up`"]);
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

#[test]
fn the_server_flag_is_validated() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--server", "127.0.0.1:7070", "target", "list"])
        .output()
        .expect("run cairn");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn metadata_webhooks_and_unknown_outcomes_are_refused_before_any_request() {
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
    ] {
        let out = cairn(&["notify", "add", "ops", "--webhook", url]);
        assert_exit(&out, 2, &["--allow-private-endpoint"]);
    }
    let out = cairn(&["notify", "add", "ops", "--webhook", "https://u:p@h/x"]);
    assert_exit(&out, 2, &["--secret-env"]);
    assert!(!stderr(&out).contains("u:p"));
    let out = cairn(&[
        "notify",
        "add",
        "ops",
        "--webhook",
        "https://h/x",
        "--on",
        "succeeded,exploded",
    ]);
    assert_exit(&out, 2, &["succeeded, failed, dead"]);
}
