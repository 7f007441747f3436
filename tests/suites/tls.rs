//! TLS end to end: `cairn target add … --ca-file` for a PostgreSQL server that accepts TLS
//! connections only; with the right CA a backup and a restore succeed, with the wrong CA
//! the job fails at preflight naming the certificate problem and the fix, and a CA file
//! that cannot serve is refused at `target add` with exit 2.

use cairn_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA, a server certificate it signed (for 127.0.0.1 and localhost), and another CA.
struct Certs {
    dir: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    fn generate() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-tls-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for ca in ["ca", "other-ca"] {
            let subject = format!("/CN=cairn test {ca}");
            let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
            openssl(
                &[
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    &subject, "-keyout", &key, "-out", &pem,
                ],
                d,
            );
        }
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
            d,
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
            d,
        );
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Turns TLS on in a private cluster and refuses plain connections (`hostssl` only).
fn tls_only(pg: &Pg, certs: &Certs) {
    let data = PathBuf::from(pg.query("postgres", "SHOW data_directory"));
    for f in ["server.pem", "server.key"] {
        std::fs::copy(certs.path(f), data.join(f)).unwrap();
    }
    let ok = Command::new("chown")
        .args(["postgres:postgres", "server.pem", "server.key"])
        .current_dir(&data)
        .status()
        .unwrap();
    assert!(ok.success());
    let ok = Command::new("chmod")
        .args(["0600", "server.key"])
        .current_dir(&data)
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    for sql in [
        "ALTER SYSTEM SET ssl_cert_file = 'server.pem'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        "ALTER SYSTEM SET ssl = on",
        "SELECT pg_reload_conf()",
    ] {
        pg.query("postgres", sql);
    }
    // psql (sslmode prefer by default) now reaches it over TLS only.
    poll(
        "the cluster to serve TLS",
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(100),
        || {
            (pg.query(
                "postgres",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ) == "t")
                .then_some(())
        },
    );
}

#[test]
fn target_add_with_a_ca_file_backs_up_and_restores_over_verified_tls() {
    let certs = Certs::generate();
    let private = PrivatePg::start().expect("a private PostgreSQL cluster starts");
    let pg = &private.pg;
    tls_only(pg, &certs);
    pg.query("postgres", "CREATE DATABASE tlsdb");
    pg.psql(
        "tlsdb",
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 300) g;",
    );
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/tlsdb?sslmode=verify-full",
        pg.port
    );
    let ca = certs.path("ca.pem");
    // A CA file is a confined reference, like a password file: its folder must be allowed.
    let app = App::start_with(AppOptions {
        up_args: vec![
            "--secrets-dir".into(),
            ca.parent().unwrap().display().to_string(),
        ],
        ..AppOptions::default()
    });
    app.cairn(&[
        "target",
        "add",
        "secure",
        "--url",
        &url,
        "--ca-file",
        ca.to_str().unwrap(),
    ])
    .expect_code(0, "target add --ca-file");
    let shown = app.cairn(&["target", "show", "secure", "--json"]).json();
    assert_eq!(shown["ca_file"], ca.to_str().unwrap(), "{shown}");
    assert!(
        shown["url"]
            .as_str()
            .unwrap()
            .ends_with("sslmode=verify-full"),
        "{shown}"
    );

    app.backup_wait("secure");
    pg.psql("tlsdb", "DELETE FROM t WHERE id > 10;");
    let out = app.restore_wait("secure", "latest", None);
    out.expect_code(0, "restore over TLS");
    assert_eq!(pg.query("tlsdb", "SELECT count(*) FROM t"), "300");

    // The wrong CA: the job fails at preflight, permanently, naming the problem and the fix.
    let other = certs.path("other-ca.pem");
    app.cairn(&[
        "target",
        "add",
        "wrong",
        "--url",
        &url,
        "--ca-file",
        other.to_str().unwrap(),
    ])
    .expect_code(0, "target add with another CA");
    let out = app.cairn_limit(&["backup", "wrong", "--wait", "--json"], WAIT_LIMIT);
    assert_eq!(out.code, 1, "{}", out.all_text());
    let job = app.job(&job_id_of(&summary(&out)));
    assert_eq!(job_status(&job), "failed", "{job}");
    assert_eq!(failure_codes(&job), ["tls"], "{job}");
    let text = job.to_string();
    assert!(
        text.contains("certificate") && text.contains("--ca-file"),
        "{text}"
    );
    assert_eq!(
        event_types(&job)
            .iter()
            .filter(|t| *t == "JobClaimed")
            .count(),
        1,
        "not retried: {job}"
    );

    // CA files that cannot serve are refused at the door.
    let missing = app.cairn(&[
        "target",
        "add",
        "x1",
        "--url",
        &url,
        "--ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(missing.code, 2, "{}", missing.all_text());
    assert!(
        missing.stderr.contains("/nonexistent/ca.pem"),
        "{}",
        missing.all_text()
    );
    let not_pem = app.cairn(&[
        "target",
        "add",
        "x2",
        "--url",
        &url,
        "--ca-file",
        certs.path("server.ext").to_str().unwrap(),
    ]);
    assert_eq!(not_pem.code, 2, "{}", not_pem.all_text());
    assert!(not_pem.stderr.contains("PEM"), "{}", not_pem.all_text());
    let plain_redis = app.cairn(&[
        "target",
        "add",
        "x3",
        "--url",
        "redis://127.0.0.1:6379/0",
        "--ca-file",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(plain_redis.code, 2, "{}", plain_redis.all_text());
    assert!(
        plain_redis.stderr.contains("rediss://"),
        "{}",
        plain_redis.all_text()
    );
}
