//! Confinement: what a target may make cairn read, what a URL or a storage may name, what
//! cairn leaves on disk, and which jobs may run together. Each through the real binary.

use cairn_tests::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn app_with(args: &[String]) -> App {
    App::start_with(AppOptions {
        up_args: args.to_vec(),
        ..AppOptions::default()
    })
}

/// `target add NAME --url URL` with extra flags: the output.
fn add(app: &App, name: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["target", "add", name, "--url", url];
    args.extend_from_slice(extra);
    app.cairn(&args)
}

fn target_names(app: &App) -> Vec<String> {
    let out = app.cairn(&["target", "list", "--json"]);
    out.expect_code(0, "target list");
    out.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn file_references_only_reach_the_secrets_folders() {
    let extra = tempfile::tempdir().expect("tempdir");
    let pw = extra.path().join("orders.pw");
    std::fs::write(&pw, "not-checked-by-trust-auth\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", extra.path().join("link")).unwrap();
    let app = app_with(&["--secrets-dir".into(), extra.path().display().to_string()]);
    let url = Pg::shared().url(Some("postgres"));
    let data_secrets = app.data_dir().join("secrets");
    assert_eq!(
        mode(&data_secrets),
        0o700,
        "cairn up makes <data-dir>/secrets"
    );

    let refused = [
        "/etc/passwd".to_string(),
        extra.path().join("link").display().to_string(),
        format!("{}/../../etc/passwd", extra.path().display()),
        app.data_dir().join("secret.key").display().to_string(),
        format!("{}/../secret.key", data_secrets.display()),
    ];
    for (i, path) in refused.iter().enumerate() {
        let out = add(&app, "sneaky", &url, &["--password-file", path]);
        out.expect_code(2, &format!("--password-file {path}"));
        let own = i >= 3;
        let needle = if own {
            "cairn's own files"
        } else {
            "/run/secrets"
        };
        assert!(
            out.stderr.contains(needle) && out.stderr.contains("--password-stdin"),
            "{path}: the message names {needle} and --password-stdin:\n{}",
            out.stderr
        );
    }
    let out = add(&app, "sneaky", &url, &["--password-file", "/etc/passwd"]);
    for place in [
        data_secrets.display().to_string(),
        extra.path().display().to_string(),
        "--secrets-dir".to_string(),
    ] {
        assert!(
            out.stderr.contains(&place),
            "the message names {place}:\n{}",
            out.stderr
        );
    }
    assert!(!out.all_text().contains("root:x:0"), "file content echoed");
    // A file named in the URL (a client certificate or key) is a reference too.
    for param in ["sslkey", "sslrootcert", "sslcert"] {
        let out = add(&app, "sneaky", &format!("{url}?{param}=/etc/shadow"), &[]);
        out.expect_code(2, &format!("?{param}=/etc/shadow"));
        assert!(out.stderr.contains("/run/secrets"), "{}", out.stderr);
    }

    add(
        &app,
        "allowed",
        &url,
        &["--password-file", pw.to_str().unwrap()],
    )
    .expect_code(0, "a file in an added --secrets-dir");
    std::fs::write(data_secrets.join("pw"), "x\n").unwrap();
    add(
        &app,
        "allowed-data",
        &url,
        &["--password-file", data_secrets.join("pw").to_str().unwrap()],
    )
    .expect_code(0, "a file in <data-dir>/secrets");
    assert_eq!(target_names(&app), vec!["allowed", "allowed-data"]);
    // The worker resolves it under the same rules, and the backup runs.
    app.backup_wait("allowed");
}

#[test]
fn a_stored_reference_is_checked_again_when_a_job_reads_it() {
    let extra = tempfile::tempdir().expect("tempdir");
    let pw = extra.path().join("orders.pw");
    std::fs::write(&pw, "not-checked-by-trust-auth\n").unwrap();
    let mut app = app_with(&["--secrets-dir".into(), extra.path().display().to_string()]);
    let url = Pg::shared().url(Some("postgres"));
    add(
        &app,
        "earlier",
        &url,
        &["--password-file", pw.to_str().unwrap()],
    )
    .expect_code(0, "a file in an added --secrets-dir");
    // The operator drops the folder: the stored reference no longer resolves.
    app.kill9();
    app.set_server_args(Vec::new());
    app.restart();
    let out = app.cairn_limit(&["backup", "earlier", "--wait", "--json"], WAIT_LIMIT);
    out.expect_code(1, "a backup whose reference left the allowed folders");
    let text = out.all_text();
    assert!(
        text.contains("/run/secrets") && text.contains("--password-stdin"),
        "the failure names the allowed places:\n{text}"
    );
    let job = app.history(&["--target", "earlier", "--kind", "backup"]);
    let job = app.job(job[0]["job_id"].as_str().expect("job_id"));
    assert_eq!(job_status(&job), "failed", "{job:#}");
    assert!(
        failure_codes(&job).iter().any(|c| c == "credential"),
        "{:?}",
        failure_codes(&job)
    );
}

#[test]
fn env_references_never_reach_cairns_settings_and_follow_the_prefixes() {
    let url = Pg::shared().url(Some("postgres"));
    let app = App::start();
    for var in ["CAIRN_SECRET_KEY", "CAIRN_TOKEN", "cairn_secret_key"] {
        let out = add(&app, "sneaky", &url, &["--password-env", var]);
        out.expect_code(2, &format!("--password-env {var}"));
        assert!(
            out.stderr.contains("CAIRN_") && out.stderr.contains("--password-stdin"),
            "{var}:\n{}",
            out.stderr
        );
    }
    add(
        &app,
        "any-name",
        &url,
        &["--password-env", "ORDERS_DB_PASSWORD"],
    )
    .expect_code(0, "without prefixes any other variable");
    drop(app);

    let app = app_with(&["--env-prefix".into(), "DBPW_".into()]);
    let out = add(&app, "home", &url, &["--password-env", "HOME"]);
    out.expect_code(2, "a variable without the allowed prefix");
    assert!(out.stderr.contains("DBPW_"), "{}", out.stderr);
    add(&app, "prefixed", &url, &["--password-env", "DBPW_ORDERS"])
        .expect_code(0, "a variable with the allowed prefix");
    let out = add(&app, "own", &url, &["--password-env", "CAIRN_SECRET_KEY"]);
    out.expect_code(2, "cairn's own settings, whatever the prefixes");
}

#[test]
fn a_password_in_the_query_string_is_refused_and_never_kept() {
    let app = App::start();
    let secret = unique("QueryPw-");
    let pg = Pg::shared();
    for (i, query) in [
        format!("password={secret}"),
        format!("sslmode=disable&PassWord={secret}"),
        format!("pass%77ord={secret}"),
        format!("sslpassword={secret}"),
    ]
    .iter()
    .enumerate()
    {
        let url = format!("{}?{query}", pg.url(Some("postgres")));
        let out = add(&app, &format!("q{i}"), &url, &[]);
        out.expect_code(2, &format!("query {query}"));
        assert!(out.stderr.contains("--password-stdin"), "{}", out.stderr);
        assert!(
            !out.all_text().contains(&secret),
            "echoed: {}",
            out.all_text()
        );
    }
    let redis = format!("redis://127.0.0.1:6379/0?auth={secret}");
    add(&app, "qr", &redis, &[]).expect_code(2, "redis ?auth=");
    assert!(target_names(&app).is_empty());
    assert!(!app.log().contains(&secret), "the server logged it");
    for file in util::files_under(&app.data_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !util::contains_bytes(&bytes, secret.as_bytes()),
            "stored in {}",
            file.display()
        );
    }
}

#[test]
fn loose_urls_and_storage_roots_are_refused() {
    let app = App::start();
    let pg = Pg::shared();
    let base = format!("postgres://{}@{}:{}", pg.user, pg.host, pg.port);
    let cases = [
        (format!("{base}/a%00b"), "control character"),
        (
            format!("{base}/a%0AFORGED%20log%20line"),
            "control character",
        ),
        (format!("{base}/a%0D%0AFORGED"), "control character"),
        (format!("postgres://{}@{}:0/db", pg.user, pg.host), "port"),
        ("redis://127.0.0.1:6379/4294967295".to_string(), "databases"),
    ];
    for (url, says) in &cases {
        let out = add(&app, "loose", url, &[]);
        out.expect_code(2, url);
        assert!(out.stderr.contains(says), "{url}: {}", out.stderr);
        assert!(!out.stderr.contains('\0'));
    }
    // The same through the API, which does not trust the CLI's checks.
    for (url, _) in &cases {
        let body = serde_json::json!({"name": "loose", "url": url}).to_string();
        let status = post_json(&app, "/v1/targets", &body);
        assert_eq!(status, 400, "{url}");
    }
    for url in [
        "file:///",
        "file:///proc/x",
        "file:///tmp/../proc",
        "file:///sys",
        "file:///dev/shm/x",
    ] {
        let out = app.cairn(&["storage", "add", "bad", "--url", url]);
        out.expect_code(2, url);
        assert!(
            out.stderr.contains("choose a folder"),
            "{url}: {}",
            out.stderr
        );
    }
    assert!(target_names(&app).is_empty());
    let forged = app
        .log()
        .lines()
        .filter(|l| l.trim_start().starts_with("FORGED"))
        .count();
    assert_eq!(forged, 0, "a log line was forged:\n{}", app.log());
}

/// A plain HTTP/1.0 POST to the app's API; the status code.
fn post_json(app: &App, path: &str, body: &str) -> u16 {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", app.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Ok(token) = std::fs::read_to_string(app.data_dir().join("admin.token")) {
        request.push_str(&format!("Authorization: Bearer {}\r\n", token.trim()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[test]
fn artifacts_are_private_in_every_local_storage() {
    let app = App::start();
    let db = Pg::shared().create_db();
    db.psql("CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 100);");
    let custom = tempfile::tempdir().expect("tempdir");
    let root = custom.path().join("store");
    app.cairn(&[
        "storage",
        "add",
        "private",
        "--url",
        &format!("file://{}", root.display()),
    ])
    .expect_code(0, "storage add");
    add(&app, "in-default", &db.url(), &[]).expect_code(0, "target add");
    add(&app, "in-custom", &db.url(), &["--storage", "private"]).expect_code(0, "target add");
    app.backup_wait("in-default");
    app.backup_wait("in-custom");

    for (root, target) in [
        (app.data_dir().join("storage"), "in-default"),
        (root.clone(), "in-custom"),
    ] {
        assert_eq!(mode(&root), 0o700, "{}", root.display());
        let target_dir = root.join(target);
        assert_eq!(mode(&target_dir), 0o700, "{}", target_dir.display());
        let files = util::files_under(&target_dir);
        assert_eq!(files.len(), 2, "artifact and manifest: {files:?}");
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
            assert_eq!(mode(file.parent().unwrap()), 0o700, "{}", file.display());
        }
    }
}

/// A psql session holding `LOCK TABLE t IN ACCESS EXCLUSIVE MODE` on `db` until dropped:
/// a `pg_dump` of that database waits for it, as long as the test needs.
struct TableLock(Child);

impl TableLock {
    fn hold(db: &PgDb) -> TableLock {
        let pg = &db.pg;
        let mut child = Command::new("psql")
            .args(["-h", &pg.host, "-p", &pg.port.to_string(), "-U", &pg.user])
            .args([
                "-d",
                &db.name,
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("psql");
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(b"BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("psql answers");
        assert_eq!(line.trim(), "locked");
        TableLock(child)
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn no_credential_file_outlives_a_killed_server() {
    let secret = unique("CredFile-");
    let db = Pg::shared().create_db();
    db.psql("CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1);");
    let mut app = App::start();
    app.add_target_with_password("locked", &db.url(), &secret);
    let creds = app.data_dir().join("run").join("creds");
    assert_eq!(mode(&creds), 0o700);

    let lock = TableLock::hold(&db);
    let job = app.backup_start("locked");
    // pg_dump waits for the lock while its password file exists.
    let held = poll(
        "a credential file of the running pg_dump",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || {
            let files = util::files_under(&creds);
            files
                .iter()
                .any(|f| {
                    util::contains_bytes(&std::fs::read(f).unwrap_or_default(), secret.as_bytes())
                })
                .then_some(files)
        },
    );
    for file in &held {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        assert_eq!(mode(file.parent().unwrap()), 0o700, "{}", file.display());
    }
    app.kill9();
    drop(lock);
    assert!(
        !entries(&creds).is_empty(),
        "kill -9 leaves the file behind until the next start"
    );
    app.restart();
    // (The interrupted job is retried at once and may already have files of its own.)
    for file in &held {
        assert!(
            !file.exists() && !file.parent().unwrap().exists(),
            "a restart removes what the killed run left: {}",
            file.display()
        );
    }
    let in_tmp: Vec<_> = entries(&std::env::temp_dir())
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cairn-cred-"))
        })
        .flat_map(|dir| util::files_under(&dir))
        .filter(|f| util::contains_bytes(&std::fs::read(f).unwrap_or_default(), secret.as_bytes()))
        .collect();
    assert!(
        in_tmp.is_empty(),
        "the password in the temp dir: {in_tmp:?}"
    );
    // The job itself finishes after the restart.
    app.wait_terminal(&job, WAIT_LIMIT);
    assert!(entries(&creds).is_empty(), "{:?}", entries(&creds));
}

/// `(global_seq, type)` of a job's events.
fn events(app: &App, job: &str) -> Vec<(u64, String)> {
    app.job(job)["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["global_seq"].as_u64().expect("global_seq"),
                e["type"].as_str().expect("type").to_string(),
            )
        })
        .collect()
}

#[test]
fn two_targets_on_one_database_never_run_together() {
    let db = Pg::shared().create_db();
    db.psql("CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 1000);");
    let app = App::start();
    let pg = &db.pg;
    add(&app, "same-a", &db.url(), &[]).expect_code(0, "target add");
    // The same database, spelled another way.
    let alias = format!("postgresql://{}@localhost:{}/{}", pg.user, pg.port, db.name);
    add(&app, "same-b", &alias, &[]).expect_code(0, "target add");

    // Both are queued while the first dump to start is held by a lock, so without
    // per-database exclusivity both would be claimed and run at once.
    let lock = TableLock::hold(&db);
    let a = app.backup_start("same-a");
    let b = app.backup_start("same-b");
    poll(
        "one of the two backups to start",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            [&a, &b]
                .iter()
                .any(|j| events(&app, j).iter().any(|(_, t)| t == "JobStarted"))
                .then_some(())
        },
    );
    drop(lock);
    let (ja, jb) = (
        app.wait_terminal(&a, WAIT_LIMIT),
        app.wait_terminal(&b, WAIT_LIMIT),
    );
    assert_eq!(job_status(&ja), "succeeded", "{ja:#}");
    assert_eq!(job_status(&jb), "succeeded", "{jb:#}");

    let span = |job: &str| {
        let ev = events(&app, job);
        let claimed = ev
            .iter()
            .find(|(_, t)| t == "JobClaimed")
            .map(|(s, _)| *s)
            .expect("claimed");
        let ended = ev
            .iter()
            .rev()
            .find(|(_, t)| t == "JobSucceeded")
            .map(|(s, _)| *s)
            .expect("succeeded");
        (claimed, ended)
    };
    let (sa, sb) = (span(&a), span(&b));
    let (first, second) = if sa.0 < sb.0 { (sa, sb) } else { (sb, sa) };
    assert!(
        second.0 > first.1,
        "the second backup was claimed (global_seq {}) before the first ended ({}): they overlapped",
        second.0,
        first.1
    );
}
