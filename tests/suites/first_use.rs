//! What a new user meets first: a backup id given with the wrong target, the `--yes`
//! refusal of a restore, a second `cairn up` on a busy data directory, and `--log-file`.

use cairn_tests::util::{self, free_port, poll_until};
use cairn_tests::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_backup_of_another_target_is_named_with_the_from_to_use() {
    let pg = Pg::shared();
    let a = pg.create_db();
    a.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
    let b = pg.create_db();
    let app = App::start();
    app.add_target("source-a", &a.url());
    app.add_target("dest-b", &b.url());
    app.backup_wait("source-a");
    let id = app.backups("source-a")[0]["id"]
        .as_str()
        .expect("backup id")
        .to_string();

    // Without --yes the CLI looks it up; with --yes the server does.
    for yes in [false, true] {
        let mut args = vec!["restore", "dest-b", "--backup", &id];
        if yes {
            args.push("--yes");
        }
        let out = app.cairn(&args);
        out.expect_code(
            2,
            &format!("restore of another target's backup (--yes: {yes})"),
        );
        assert!(
            out.stderr.contains("--from source-a"),
            "the error names the target that holds the backup: {}",
            out.stderr
        );
    }
    assert!(app
        .history(&["--kind", "restore", "--status", "queued"])
        .is_empty());
}

#[test]
fn the_yes_refusal_says_what_a_postgres_restore_does_to_the_target() {
    let pg = Pg::shared();
    let db = pg.create_db();
    db.psql("CREATE TABLE t (x int);");
    let app = App::start();
    app.add_target("shop", &db.url());
    app.backup_wait("shop");

    let out = app.cairn(&["restore", "shop", "--backup", "latest"]);
    out.expect_code(2, "restore without --yes");
    for needle in ["--yes", "shop", "dropped", "open session", "terminat"] {
        assert!(
            out.stderr.contains(needle),
            "the refusal lacks {needle:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_second_up_on_a_busy_data_dir_says_so_once() {
    let app = App::start();
    let mut cmd = Command::new(cairn_bin());
    cmd.arg("up")
        .arg("--data-dir")
        .arg(app.data_dir())
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_remove("RUST_LOG");
    let out = util::run(cmd, None, Duration::from_secs(30));
    out.expect_code(2, "a second cairn up on the same data directory");
    assert!(
        out.stderr.contains("already running") && out.stderr.contains("--data-dir"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("already running").count(),
        1,
        "said once: {}",
        out.stderr
    );
    for raw in ["WouldBlock", "acquire lock", "IO error", "os error"] {
        assert!(
            !out.stderr.contains(raw),
            "raw lock error {raw:?}: {}",
            out.stderr
        );
    }
    // The first server still answers.
    app.cairn(&["target", "list"])
        .expect_code(0, "the first server");
}

#[test]
fn up_with_a_log_file_writes_the_full_log_there_and_little_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("cairn.log");
    let app = App::start_with(AppOptions {
        up_args: vec!["--log-file".into(), log.display().to_string()],
        ..AppOptions::default()
    });
    let text = poll(
        "the start-up line in the log file",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.contains("cairn is up").then_some(text)
        },
    );
    // The full log (info and up) reaches the file only.
    assert!(
        text.contains("ledger opened"),
        "full log in the file: {text}"
    );
    let stderr = app.log();
    assert!(
        stderr.contains("cairn is up"),
        "start-up line on stderr: {stderr}"
    );
    assert!(
        !stderr.contains("ledger opened"),
        "stderr is terse with --log-file: {stderr}"
    );
}

#[test]
fn an_unwritable_log_file_is_refused_with_exit_2() {
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["up", "--log-file", "/nonexistent-dir/cairn.log"])
        .arg("--data-dir")
        .arg(tempfile::tempdir().expect("tempdir").path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()));
    let out = util::run(cmd, None, Duration::from_secs(30));
    out.expect_code(2, "up --log-file in a missing directory");
    assert!(out.stderr.contains("--log-file"), "{}", out.stderr);
}

/// On a terminal (here a pseudo-terminal made by `script`), `cairn up` shows only its
/// own few lines and warnings, not every INFO line of the services.
#[test]
fn up_on_a_terminal_is_quiet_by_default() {
    if !util::have("script") {
        panic!("this test needs `script` (util-linux) to give cairn a terminal");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let typescript = dir.path().join("terminal.txt");
    let port = free_port();
    let command = format!(
        "{} up --data-dir {} --listen 127.0.0.1:{port}",
        cairn_bin().display(),
        dir.path().join("data").display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &command])
        .arg(&typescript)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start script");
    let shown = poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let text = std::fs::read_to_string(&typescript).unwrap_or_default();
        text.contains("cairn is up").then_some(text)
    });
    // SIGTERM: script ends the session it made, and cairn with it.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let shown = shown.expect("the start-up line on the terminal within 30 s");
    assert!(shown.contains("admin token"), "{shown}");
    assert!(
        !shown.contains("ledger opened"),
        "INFO lines of the services: {shown}"
    );
    poll(
        "cairn up to stop with its terminal",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_err()
                .then_some(())
        },
    );
}
