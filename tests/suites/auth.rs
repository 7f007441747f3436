//! Every API call is authenticated: tokens with roles, the first admin token in
//! `<data>/admin.token`, denials recorded for admins, events naming the token that asked,
//! and the API served beyond loopback only over HTTPS (or when told `--insecure-listen`).

use cairn_tests::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One plain HTTP/1.0 request; returns the status code and the body.
fn http(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = if method == "POST" { "{}" } else { "" };
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Every route but health, as (method, path) with placeholders filled in.
const GUARDED: &[(&str, &str)] = &[
    ("POST", "/v1/targets"),
    ("GET", "/v1/targets"),
    ("GET", "/v1/targets/orders"),
    ("DELETE", "/v1/targets/orders"),
    ("PATCH", "/v1/targets/orders"),
    ("GET", "/v1/targets/orders/backups"),
    ("POST", "/v1/storages"),
    ("GET", "/v1/storages"),
    ("POST", "/v1/backups"),
    ("POST", "/v1/restores"),
    ("GET", "/v1/jobs/0190a5b2-7c1e-7000-8000-000000000000"),
    ("GET", "/v1/jobs/0190a5b2-7c1e-7000-8000-000000000000/wait"),
    ("GET", "/v1/history"),
    ("POST", "/v1/tokens"),
    ("GET", "/v1/tokens"),
    ("DELETE", "/v1/tokens/admin"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/prunes"),
    ("GET", "/v1/targets/orders/prune"),
    ("POST", "/v1/forgets"),
];

fn denials(app: &App) -> Vec<Value> {
    let out = app.cairn(&["audit", "--json", "--limit", "1000"]);
    out.expect_code(0, "audit --json");
    out.json().as_array().expect("audit is an array").clone()
}

#[test]
fn calls_without_a_valid_token_are_refused_and_recorded() {
    let app = App::start();
    let (status, _) = http(app.port, "GET", "/v1/health", None);
    assert_eq!(status, 200, "health needs no token");
    for (method, path) in GUARDED {
        let (status, body) = http(app.port, method, path, None);
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        let (status, _) = http(app.port, method, path, Some("cairn_not-a-real-token"));
        assert_eq!(status, 401, "{method} {path} with an unknown token");
    }

    // The CLI says how to pass a token, exits 2, and prints nothing on stdout.
    for args in [
        &["target", "list"][..],
        &["history", "--json"],
        &["backup", "orders"],
        &["token", "list"],
    ] {
        let out = app.cairn_as(None, args);
        out.expect_code(2, &format!("{args:?} without a token"));
        assert!(out.stderr.contains("CAIRN_TOKEN"), "{}", out.stderr);
        assert!(out.stderr.contains("no token"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let wrong = "cairn_wrongwrongwrongwrongwrongwrongwrongwrong";
    let out = app.cairn_as(Some(wrong), &["target", "list"]);
    out.expect_code(2, "target list with an unknown token");
    assert!(out.stderr.contains("unknown or revoked"), "{}", out.stderr);

    // Each denial is in the audit, for admins, and in the log, without the token.
    let audit = denials(&app);
    for (method, path) in GUARDED {
        assert!(
            audit.iter().any(|e| e["method"] == *method
                && e["path"] == *path
                && e["status"] == 401
                && e["token"] == "anonymous"
                && e["reason"] == "missing_token"),
            "no audit record of {method} {path}: {audit:?}"
        );
    }
    assert!(audit
        .iter()
        .any(|e| e["reason"] == "unknown_token" && e["path"] == "/v1/targets"));
    let log = app.log();
    assert!(log.contains("request denied"), "{log}");
    assert!(!log.contains(wrong), "a presented token reached the log");
    let out = app.cairn_as(None, &["audit"]);
    out.expect_code(2, "audit without a token");
}

#[test]
fn roles_limit_what_a_token_may_do_and_events_name_the_token() {
    let db = Pg::shared().create_db();
    db.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let app = App::start();
    app.add_target("orders", &db.url());
    let reader = app.create_token("reader", "read");
    let ops = app.create_token("ops", "operate");
    assert!(reader.starts_with("cairn_") && ops.starts_with("cairn_"));
    assert_ne!(reader, ops);

    // read: lists and queries, nothing more.
    app.cairn_as(Some(&reader), &["target", "list", "--json"])
        .expect_code(0, "read lists targets");
    app.cairn_as(Some(&reader), &["history", "--json"])
        .expect_code(0, "read queries history");
    let out = app.cairn_as(Some(&reader), &["backup", "orders"]);
    out.expect_code(2, "read may not back up");
    assert!(out.stderr.contains("needs role operate"), "{}", out.stderr);
    assert!(out.stderr.contains("reader"), "{}", out.stderr);

    // operate: backs up (and waits), but manages nothing.
    let out = app.cairn_full(
        &["backup", "orders", "--wait", "--json"],
        None,
        &[("CAIRN_TOKEN", &ops)],
        WAIT_LIMIT,
    );
    out.expect_code(0, "operate backs up");
    let job_id = job_id_of(&summary(&out));
    let out = app.cairn_as(Some(&ops), &["target", "add", "other", "--url", &db.url()]);
    out.expect_code(2, "operate may not add targets");
    assert!(out.stderr.contains("needs role admin"), "{}", out.stderr);
    app.cairn_as(Some(&ops), &["token", "list"])
        .expect_code(2, "operate may not list tokens");

    // The job and its first event name the token that asked.
    let job = app.job(&job_id);
    assert_eq!(job["state"]["requested_by"], "ops", "{job}");
    let first = &job["events"][0];
    assert_eq!(first["type"], "JobQueued");
    assert_eq!(first["actor"]["token"], "ops", "{first}");
    assert_eq!(first["payload"]["requested_by"], "ops");
    let history = app.history(&["--target", "orders"]);
    assert_eq!(history[0]["requested_by"], "ops");
    let text = app.cairn(&["job", &job_id]);
    text.expect_code(0, "job");
    assert!(text.stdout.contains("token:ops"), "{}", text.stdout);

    // 403s are recorded with the token's name.
    let audit = denials(&app);
    assert!(audit.iter().any(|e| e["token"] == "reader"
        && e["method"] == "POST"
        && e["path"] == "/v1/backups"
        && e["status"] == 403
        && e["reason"] == "insufficient_role"));
    assert!(audit
        .iter()
        .any(|e| e["token"] == "ops" && e["path"] == "/v1/targets" && e["status"] == 403));
    app.cairn_as(Some(&reader), &["audit"])
        .expect_code(2, "read may not see the audit");

    // Revoked tokens stop working at once; the names stay listed, the tokens never are.
    app.cairn(&["token", "revoke", "reader"])
        .expect_code(0, "revoke reader");
    let out = app.cairn_as(Some(&reader), &["target", "list"]);
    out.expect_code(2, "a revoked token");
    assert!(out.stderr.contains("unknown or revoked"), "{}", out.stderr);
    let list = app.cairn(&["token", "list", "--json"]);
    list.expect_code(0, "token list");
    for secret in [reader.as_str(), ops.as_str(), app.admin_token()] {
        assert!(!list.stdout.contains(secret));
        assert!(!app.log().contains(secret), "a token reached the log");
    }
    let tokens = list.json();
    let revoked = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "reader")
        .expect("reader listed");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let out = app.cairn(&["token", "create", "reader", "--role", "read"]);
    out.expect_code(2, "a revoked name is not reused");

    // The last admin token cannot be revoked; with a second one it can.
    let out = app.cairn(&["token", "revoke", "admin"]);
    out.expect_code(2, "revoking the last admin token");
    assert!(out.stderr.contains("last admin token"), "{}", out.stderr);
    let admin2 = app.create_token("admin-2", "admin");
    app.cairn_full(
        &["token", "revoke", "admin"],
        None,
        &[("CAIRN_TOKEN", &admin2)],
        WAIT_LIMIT,
    )
    .expect_code(0, "revoke admin with another admin token");
    app.cairn(&["target", "list"])
        .expect_code(2, "the revoked first admin token");
}

#[test]
fn the_first_admin_token_is_a_private_file_kept_across_restarts() {
    let mut app = App::start();
    let path = app.data_dir().join("admin.token");
    let meta = std::fs::metadata(&path).expect("admin.token exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&path).unwrap();
    assert!(
        token.starts_with("cairn_"),
        "the file holds the token alone"
    );
    assert_eq!(token.trim(), token, "no line end or blanks");
    assert_eq!(token.split_whitespace().count(), 1);
    let announced = |log: &str| log.matches("created the first admin token").count();
    assert_eq!(announced(&app.log()), 1, "{}", app.log());
    assert!(app.log().contains(&path.display().to_string()));

    app.kill9();
    app.restart();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token, "reused");
    assert_eq!(announced(&app.log()), 1, "announced once");
    app.cairn(&["target", "list"])
        .expect_code(0, "the token still works after a restart");
}

/// The CLI reads `./cairn-data/admin.token` only for the default local server; for any
/// other server it takes `--token-file` or `CAIRN_TOKEN_FILE`.
#[test]
fn token_files_are_read_where_they_should_be() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cairn-data");
    let app = App::start();
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("admin.token");
    std::fs::copy(app.data_dir().join("admin.token"), &file).unwrap();
    let cli = |args: &[&str], env: &[(&str, &Path)]| {
        let mut cmd = Command::new(cairn_bin());
        cmd.current_dir(dir.path())
            .args(["--server", &app.server_url()])
            .args(args)
            .env_remove("CAIRN_TOKEN")
            .env_remove("CAIRN_TOKEN_FILE")
            .env_remove("CAIRN_DATA_DIR")
            .env_remove("CAIRN_SERVER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cairn_tests::util::run(cmd, None, Duration::from_secs(60))
    };
    let out = cli(&["target", "list"], &[]);
    out.expect_code(2, "./cairn-data is not used for a non-default server");
    assert!(out.stderr.contains("no token"), "{}", out.stderr);
    let path = file.display().to_string();
    cli(&["--token-file", &path, "target", "list"], &[]).expect_code(0, "--token-file");
    cli(&["target", "list"], &[("CAIRN_TOKEN_FILE", &file)]).expect_code(0, "CAIRN_TOKEN_FILE");
    std::fs::write(&file, "").unwrap();
    let out = cli(&["--token-file", &path, "target", "list"], &[]);
    out.expect_code(2, "an empty token file");
    assert!(out.stderr.contains("empty"), "{}", out.stderr);
}

#[test]
fn listening_beyond_loopback_needs_tls_or_insecure_listen() {
    let dir = tempfile::tempdir().unwrap();
    let port = cairn_tests::util::free_port();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["up", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("0.0.0.0:{port}")])
        .env_remove("CAIRN_LISTEN");
    let out = cairn_tests::util::run(cmd, None, Duration::from_secs(60));
    out.expect_code(2, "plain HTTP on 0.0.0.0");
    for needle in ["--tls-cert", "--tls-key", "--insecure-listen"] {
        assert!(out.stderr.contains(needle), "{}", out.stderr);
    }
    assert!(
        !dir.path().join("data").exists(),
        "refused before touching anything"
    );

    let app = App::start_with(AppOptions {
        listen_host: Some("0.0.0.0".into()),
        up_args: vec!["--insecure-listen".into()],
        ..AppOptions::default()
    });
    assert!(app.log().contains("--insecure-listen"), "{}", app.log());
    assert!(app.log().contains("WARN"), "{}", app.log());
    app.cairn(&["target", "list"])
        .expect_code(0, "served with --insecure-listen");
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with `openssl`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=cairn test CA",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("ca.pem"),
    )
}

#[test]
fn https_with_a_self_signed_ca_needs_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificates(dir.path());
    let app = App::start_with(AppOptions {
        tls: Some((cert, key, ca)),
        ..AppOptions::default()
    });
    assert!(app.server_url().starts_with("https://"));
    let out = app.cairn(&["target", "list", "--json"]);
    out.expect_code(0, "https with --ca-file (CAIRN_CA_FILE)");
    assert!(out.json().is_array());
    assert!(app.log().contains("https://"), "{}", app.log());

    // The same with the flag instead of CAIRN_CA_FILE.
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["--server", &app.server_url(), "--ca-file"])
        .arg(dir.path().join("ca.pem"))
        .args(["history", "--json"])
        .env("CAIRN_TOKEN", app.admin_token())
        .env_remove("CAIRN_CA_FILE")
        .env_remove("CAIRN_SERVER");
    let out = cairn_tests::util::run(cmd, None, Duration::from_secs(60));
    out.expect_code(0, "https with --ca-file");

    // Without the CA the CLI refuses the certificate and says how to trust it.
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["--server", &app.server_url(), "target", "list"])
        .env("CAIRN_TOKEN", app.admin_token())
        .env_remove("CAIRN_CA_FILE")
        .env_remove("CAIRN_SERVER");
    let out = cairn_tests::util::run(cmd, None, Duration::from_secs(60));
    out.expect_code(2, "https without the CA");
    assert!(out.stderr.contains("--ca-file"), "{}", out.stderr);

    // Plain HTTP to the HTTPS port gets no answer the CLI accepts.
    let mut cmd = Command::new(cairn_bin());
    cmd.args([
        "--server",
        &format!("http://127.0.0.1:{}", app.port),
        "target",
        "list",
    ])
    .env("CAIRN_TOKEN", app.admin_token())
    .env_remove("CAIRN_SERVER");
    let out = cairn_tests::util::run(cmd, None, Duration::from_secs(60));
    assert_ne!(
        out.code,
        0,
        "plain HTTP to an HTTPS server: {}",
        out.all_text()
    );
}
