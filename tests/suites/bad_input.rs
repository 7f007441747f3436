//! Bad input and bad circumstances: each ends with the documented exit code, a message
//! that says what is wrong, a failure event where a job exists, no backup listed, and
//! the target untouched.

use cairn_tests::*;
use std::time::Duration;

fn lower(out: &Output) -> String {
    out.all_text().to_lowercase()
}

/// The newest job of `kind` on `target`, from `cairn history`.
fn newest_job(app: &App, target: &str, kind: &str) -> serde_json::Value {
    let jobs = app.history(&["--target", target, "--kind", kind]);
    let first = jobs
        .first()
        .unwrap_or_else(|| panic!("no {kind} job of {target} in history"));
    app.job(first["job_id"].as_str().expect("job_id"))
}

#[test]
fn wrong_password_fails_with_auth_failed() {
    let my = My::shared();
    let db = my.create_db();
    db.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
    let right = unique("right-");
    let user = my.create_user(&db.name, &right);
    let app = App::start();
    let url = my.url_as(&user.name, Some(&db.name));
    app.add_target_with_password("wrong-pw", &url, &unique("wrong-"));

    let out = app.cairn_limit(&["backup", "wrong-pw", "--wait", "--json"], WAIT_LIMIT);
    out.expect_code(1, "backup with a wrong password");
    let text = lower(&out);
    assert!(
        text.contains("authentication failed")
            || (text.contains("access denied") && text.contains("check the password")),
        "the message should say authentication failed:\n{text}"
    );
    let job = newest_job(&app, "wrong-pw", "backup");
    assert_eq!(job_status(&job), "failed", "{job:#}");
    assert!(
        failure_codes(&job).iter().any(|c| c == "auth_failed"),
        "a JobFailed with code auth_failed: {:?}",
        failure_codes(&job)
    );
    assert!(app.backups("wrong-pw").is_empty(), "no backup listed");
    assert!(
        !out.all_text().contains(&right),
        "the real password leaked into output"
    );
}

#[test]
fn unreachable_host_fails_after_its_retries() {
    let port = util::free_port();
    let app = App::start();
    app.add_target(
        "nowhere",
        &format!("postgres://postgres@127.0.0.1:{port}/nothing"),
    );

    let out = app.cairn_limit(
        &["backup", "nowhere", "--wait", "--json"],
        Duration::from_secs(600),
    );
    out.expect_code(1, "backup of an unreachable host");
    assert!(
        lower(&out).contains("unreachable") || lower(&out).contains("connect"),
        "the message should say the database cannot be reached:\n{}",
        out.all_text()
    );
    let job = newest_job(&app, "nowhere", "backup");
    assert_eq!(job_status(&job), "failed", "{job:#}");
    let codes = failure_codes(&job);
    assert!(!codes.is_empty(), "JobFailed events: {job:#}");
    assert!(
        codes.iter().all(|c| c == "unreachable"),
        "failure codes {codes:?}"
    );
    let max = job["state"]["max_attempts"].as_u64().unwrap_or(0);
    let claims = event_types(&job)
        .iter()
        .filter(|t| *t == "JobClaimed")
        .count() as u64;
    assert_eq!(
        claims, max,
        "an unreachable host is retried until attempts run out"
    );
    assert!(app.backups("nowhere").is_empty(), "no backup listed");
}

#[test]
fn unknown_target_exits_2() {
    let app = App::start();
    for args in [
        vec!["backup", "no-such-target", "--wait"],
        vec!["backups", "no-such-target"],
        vec![
            "restore",
            "no-such-target",
            "--backup",
            "latest",
            "--yes",
            "--wait",
        ],
        vec!["target", "show", "no-such-target"],
    ] {
        let out = app.cairn(&args);
        out.expect_code(2, &format!("{args:?}"));
        assert!(
            out.stderr.contains("no-such-target"),
            "{args:?}: the message should name the unknown target:\n{}",
            out.stderr
        );
    }
    assert_refused_only(&app, &app.history(&[]));
}

/// Refused requests may be recorded (a `JobRejected` job, so history shows them), but
/// nothing ran: each such job failed without an attempt.
#[track_caller]
fn assert_refused_only(app: &App, jobs: &[serde_json::Value]) {
    // Configuration changes (adding the targets) are in the history too; only jobs count.
    for entry in jobs.iter().filter(|e| e["kind"] != "config") {
        let id = entry["job_id"].as_str().expect("job_id");
        let job = app.job(id);
        let types = event_types(&job);
        assert!(
            entry["status"] == "failed" && entry["attempts"] == 0,
            "a refused request became a job that ran: {entry:#}"
        );
        assert!(
            types.contains(&"JobRejected".to_string())
                && !types.contains(&"JobClaimed".to_string()),
            "timeline of a refused request: {types:?}"
        );
    }
}

/// A target with one good backup, for the restore refusals below.
fn backed_up_pg(app: &App, name: &str) -> PgDb {
    let db = Pg::shared().create_db();
    db.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;");
    app.add_target(name, &db.url());
    app.backup_wait(name);
    db
}

#[test]
fn unknown_and_malformed_backup_ids_exit_2() {
    let app = App::start();
    let db = backed_up_pg(&app, "pg-ids");
    let before = db.fingerprint();

    let unknown = "20000101T000000Z-deadbeef";
    let out = app.cairn(&["restore", "pg-ids", "--backup", unknown, "--yes", "--wait"]);
    out.expect_code(2, "restore of a well-formed id that does not exist");
    assert!(
        out.stderr.contains(unknown),
        "message names the id:\n{}",
        out.stderr
    );

    let out = app.cairn(&[
        "restore",
        "pg-ids",
        "--backup",
        "not-a-backup-id",
        "--yes",
        "--wait",
    ]);
    out.expect_code(2, "restore of a malformed id");
    assert!(
        lower(&out).contains("not a backup id") || lower(&out).contains("backup id"),
        "message says the id is malformed:\n{}",
        out.stderr
    );

    assert_refused_only(&app, &app.history(&["--kind", "restore"]));
    before.assert_same(&db.fingerprint(), "target after refused restores");
}

#[test]
fn restore_without_yes_exits_2_and_changes_nothing() {
    let app = App::start();
    let db = backed_up_pg(&app, "pg-noyes");
    db.psql("CREATE TABLE made_after_backup (x int);");
    let before = db.fingerprint();

    let out = app.cairn(&["restore", "pg-noyes", "--backup", "latest", "--wait"]);
    out.expect_code(2, "restore without --yes");
    assert!(
        out.stderr.contains("pg-noyes") && out.stderr.contains(&db.name),
        "the message should name what would be overwritten (target and database):\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--yes"),
        "and say how to confirm:\n{}",
        out.stderr
    );
    let restores = app.history(&["--kind", "restore"]);
    assert!(
        restores.is_empty(),
        "no restore job was created: {restores:#?}"
    );
    before.assert_same(&db.fingerprint(), "target after a refused restore");
}

#[test]
fn engine_mismatch_is_refused_and_names_both_engines() {
    let app = App::start();
    let _pg = backed_up_pg(&app, "pg-src");
    let my = My::shared().create_db();
    my.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    app.add_target("my-dst", &my.url());
    let before = my.fingerprint();

    let out = app.restore_wait("my-dst", "latest", Some("pg-src"));
    assert!(
        out.code == 1 || out.code == 2,
        "engine mismatch exits 1 or 2, got {}\n{}",
        out.code,
        out.all_text()
    );
    let text = lower(&out);
    assert!(
        text.contains("postgres") && (text.contains("mysql") || text.contains("mariadb")),
        "the message should name both engines:\n{}",
        out.all_text()
    );
    before.assert_same(&my.fingerprint(), "MariaDB target after a refused restore");
}

#[test]
fn corrupted_artifact_is_refused_with_checksum_mismatch() {
    let app = App::start();
    let db = backed_up_pg(&app, "pg-corrupt");
    let id = app.backups("pg-corrupt")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let artifact = app.artifact_path("pg-corrupt", &id);
    let mut bytes = std::fs::read(&artifact).expect("read artifact");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&artifact, &bytes).expect("write corrupted artifact");
    db.psql("CREATE TABLE made_after_backup (x int); DELETE FROM t WHERE id > 50;");
    let before = db.fingerprint();

    let out = app.restore_wait("pg-corrupt", &id, None);
    out.expect_code(1, "restore of a corrupted artifact");
    let job = newest_job(&app, "pg-corrupt", "restore");
    assert_eq!(job_status(&job), "failed", "{job:#}");
    assert!(
        failure_codes(&job).iter().any(|c| c == "checksum_mismatch"),
        "a JobFailed with code checksum_mismatch: {:?}",
        failure_codes(&job)
    );
    before.assert_same(&db.fingerprint(), "target after refusing a corrupt backup");
}

#[test]
fn password_in_url_is_refused_with_the_safe_alternatives() {
    let app = App::start();
    let secret = unique("Pw-in-url-");
    let url = format!("postgres://someone:{secret}@127.0.0.1:5432/somedb");
    let out = app.cairn(&["target", "add", "pw-in-url", "--url", &url]);
    out.expect_code(2, "target add with a password in the URL");
    for flag in ["--password-env", "--password-file", "--password-stdin"] {
        assert!(
            out.stderr.contains(flag),
            "message should suggest {flag}:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.all_text().contains(&secret),
        "the error repeats the password"
    );
    let list = app.cairn(&["target", "list", "--json"]);
    list.expect_code(0, "target list");
    assert!(
        !list.stdout.contains("pw-in-url"),
        "the target was added anyway"
    );
    assert!(!list.stdout.contains(&secret));
    assert!(
        !app.log().contains(&secret),
        "the server logged the password"
    );
}
