//! TLS to each engine, against private servers with certificates made for the test: a
//! backup and restore round trip with full verification (sslmode=verify-full,
//! ssl-mode=VERIFY_IDENTITY, rediss://) and the right CA file works, through sqlx and the
//! client tools alike; the wrong CA fails preflight as a permanent `tls` failure naming
//! the fix, and the tools refuse it too.

mod common;
mod redis_common;

use cairn_domain::{Endpoint, Failure};
use cairn_engines::{Connection, Secret};
use common::{conn, dump_to_vec, manifest, restore_from};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
            .prefix("cairn-tls-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for ca in ["ca", "other-ca"] {
            openssl(
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=cairn test {ca}"),
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
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

fn with_ca(mut c: Connection, ca: PathBuf) -> Connection {
    c.ca_file = Some(ca);
    c
}

/// A refused certificate: permanent, coded `tls`, naming the certificate and the fix.
fn assert_tls_refusal(failure: &Failure, ca: &Path) {
    eprintln!("refused: {}", failure.message);
    assert_eq!(failure.code, "tls", "{failure:?}");
    assert!(!failure.retryable, "{failure:?}");
    let m = &failure.message;
    assert!(m.to_lowercase().contains("certificate"), "{m}");
    assert!(m.contains(&ca.display().to_string()), "{m}");
    assert!(m.contains("--ca-file"), "{m}");
}

#[tokio::test]
async fn postgres_verify_full_round_trip_and_wrong_ca() {
    let certs = Certs::generate();
    let cluster = common::pg::PrivateCluster::start();
    // The server's certificate and key, owned by postgres, 0600.
    let dir = cluster.dir.path();
    for f in ["server.pem", "server.key"] {
        std::fs::copy(certs.path(f), dir.join(f)).unwrap();
    }
    let status = Command::new("chown")
        .args(["postgres:postgres", "server.pem", "server.key"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    Command::new("chmod")
        .args(["0600", "server.key"])
        .current_dir(dir)
        .status()
        .unwrap();
    // TLS only: a plain connection finds no pg_hba.conf entry.
    std::fs::write(
        dir.join("data/pg_hba.conf"),
        "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    let mut admin = cluster.connect("postgres").await;
    let cert = dir.join("server.pem").display().to_string();
    let key = dir.join("server.key").display().to_string();
    common::pg::exec_each(
        &mut admin,
        &[
            &format!("ALTER SYSTEM SET ssl_cert_file = '{cert}'"),
            &format!("ALTER SYSTEM SET ssl_key_file = '{key}'"),
            "ALTER SYSTEM SET ssl = on",
            "SELECT pg_reload_conf()",
        ],
    )
    .await;
    common::pg::exec(&mut admin, "CREATE DATABASE tlsdb").await;
    drop(admin);

    let url = |mode: &str| {
        format!(
            "postgres://postgres@127.0.0.1:{}/tlsdb?sslmode={mode}",
            cluster.port
        )
    };
    let password = Some(cluster.password.as_str());
    let good = with_ca(conn(&url("verify-full"), password), certs.path("ca.pem"));
    let info = poll_preflight(&good).await;

    let mut c = common::pg::connect(cluster.port, password, "tlsdb").await;
    common::pg::exec(
        &mut c,
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 200) g;",
    )
    .await;
    let before = common::pg::fingerprint(&mut c).await;
    let data = dump_to_vec(&good).await.unwrap();
    common::pg::exec(
        &mut c,
        "DELETE FROM t WHERE id > 100; CREATE TABLE extra (x int);",
    )
    .await;
    assert_ne!(common::pg::fingerprint(&mut c).await, before);
    drop(c);
    let m = manifest(&good.endpoint, &info, data.len());
    restore_from(&good, &m, &data, None).await.unwrap();
    let mut c = common::pg::connect(cluster.port, password, "tlsdb").await;
    common::assert_same(
        &before,
        &common::pg::fingerprint(&mut c).await,
        "after restore",
    );
    drop(c);

    // Without TLS the server refuses: the round trip above really ran over TLS.
    let plain = conn(&url("disable"), password);
    let refused = cairn_engines::preflight(&plain).await.unwrap_err();
    assert!(refused.message.contains("no encryption"), "{refused:?}");

    let wrong = with_ca(
        conn(&url("verify-full"), password),
        certs.path("other-ca.pem"),
    );
    let failure = cairn_engines::preflight(&wrong).await.unwrap_err();
    assert_tls_refusal(&failure, &certs.path("other-ca.pem"));
    // pg_dump checks the certificate too.
    let tool = dump_to_vec(&wrong).await.unwrap_err();
    assert!(tool.message.contains("certificate"), "{tool:?}");
}

/// Polls preflight until the server answers over TLS.
async fn poll_preflight(c: &Connection) -> cairn_engines::ServerInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match cairn_engines::preflight(c).await {
            Ok(info) => return info,
            Err(f) if Instant::now() > deadline => panic!("preflight over TLS: {f:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A `mariadbd` of this test's own that accepts TLS connections only.
struct TlsMaria {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsMaria {
    fn start(certs: &Certs) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cairn-maria-tls-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        // A private tmpdir: concurrent bootstraps sharing /tmp have failed on each
        // other's temporary tables.
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = common::free_port();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            // Its own tmpdir: at startup mariadbd deletes every `#sql*` file in its
            // tmpdir, which would pull live temporary tables from under other servers.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin"])
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
            ])
            .arg(format!("--ssl-cert={}", certs.path("server.pem").display()))
            .arg(format!("--ssl-key={}", certs.path("server.key").display()))
            .arg("--require-secure-transport=ON")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for TlsMaria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn mariadb_verify_identity_round_trip_and_wrong_ca() {
    let certs = Certs::generate();
    let server = TlsMaria::start(&certs);
    let url = |mode: &str| {
        format!(
            "mysql://root@127.0.0.1:{}/tlsdb?ssl-mode={mode}",
            server.port
        )
    };
    let admin_url = format!(
        "mysql://root@127.0.0.1:{}/?ssl-mode=VERIFY_IDENTITY",
        server.port
    );
    let admin = with_ca(conn(&admin_url, None), certs.path("ca.pem"));
    poll_preflight(&admin).await;

    // The helpers connect with sqlx's default (TLS preferred, not verified).
    let mut c = common::mysql::connect(server.port, None).await;
    common::mysql::exec(
        &mut c,
        &[
            "CREATE DATABASE tlsdb",
            "CREATE TABLE tlsdb.t (id int PRIMARY KEY, v text)",
            "INSERT INTO tlsdb.t SELECT seq, CONCAT('row ', seq) FROM tlsdb.seq_1_to_200",
        ],
    )
    .await;
    let before = common::mysql::fingerprint(&mut c, "tlsdb").await;

    let good = with_ca(conn(&url("VERIFY_IDENTITY"), None), certs.path("ca.pem"));
    let info = poll_preflight(&good).await;
    let data = dump_to_vec(&good).await.unwrap();
    common::mysql::exec(
        &mut c,
        &[
            "DELETE FROM tlsdb.t WHERE id > 100",
            "CREATE TABLE tlsdb.extra (x int)",
        ],
    )
    .await;
    assert_ne!(common::mysql::fingerprint(&mut c, "tlsdb").await, before);
    drop(c);
    let m = manifest(&good.endpoint, &info, data.len());
    restore_from(&good, &m, &data, None).await.unwrap();
    let mut c = common::mysql::connect(server.port, None).await;
    common::assert_same(
        &before,
        &common::mysql::fingerprint(&mut c, "tlsdb").await,
        "after restore",
    );
    drop(c);

    // Without TLS the same user is refused (MariaDB words it as access denied): the
    // round trip above really ran over TLS.
    let plain = conn(&url("DISABLED"), None);
    cairn_engines::preflight(&plain).await.unwrap_err();

    let wrong = with_ca(
        conn(&url("VERIFY_IDENTITY"), None),
        certs.path("other-ca.pem"),
    );
    let failure = cairn_engines::preflight(&wrong).await.unwrap_err();
    assert_tls_refusal(&failure, &certs.path("other-ca.pem"));
    // mariadb-dump checks the certificate too.
    let tool = dump_to_vec(&wrong).await.unwrap_err();
    assert!(
        tool.message.to_lowercase().contains("ssl") || tool.message.contains("certificate"),
        "{tool:?}"
    );
}

/// A `redis-server` of this test's own that speaks TLS only.
struct TlsRedis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(certs: &Certs) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", dir.path().to_str().unwrap()])
            .arg("--tls-cert-file")
            .arg(certs.path("server.pem"))
            .arg("--tls-key-file")
            .arg(certs.path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(certs.path("ca.pem"))
            .args(["--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// A client connection of the test's own, over TLS with the right CA.
    async fn client(&self, certs: &Certs) -> redis::aio::MultiplexedConnection {
        let info = redis::ConnectionAddr::TcpTls {
            host: "127.0.0.1".into(),
            port: self.port,
            insecure: false,
            tls_params: None,
        };
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(certs.path("ca.pem")).unwrap()),
        };
        redis::Client::build_with_tls(info, certs)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn redis_rediss_round_trip_and_wrong_ca() {
    let certs = Certs::generate();
    let server = TlsRedis::start(&certs);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let endpoint = Endpoint::parse(&url).unwrap();
    let good = Connection {
        endpoint: endpoint.clone(),
        password: None::<Secret>,
        ca_file: Some(certs.path("ca.pem")),
    };
    let info = poll_preflight(&good).await;

    let mut con = server.client(&certs).await;
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(format!("v{i}"))
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("x")
        .query_async(&mut con)
        .await
        .unwrap();
    let before = redis_common::fingerprint(&mut con).await;
    let data = dump_to_vec(&good).await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("backup")
        .query_async(&mut con)
        .await
        .unwrap();
    let m = manifest(&good.endpoint, &info, data.len());
    restore_from(&good, &m, &data, None).await.unwrap();
    let after = redis_common::fingerprint(&mut con).await;
    redis_common::assert_same(&after, &before, "after restore");

    let wrong = Connection {
        ca_file: Some(certs.path("other-ca.pem")),
        ..good.clone()
    };
    let failure = cairn_engines::preflight(&wrong).await.unwrap_err();
    assert_tls_refusal(&failure, &certs.path("other-ca.pem"));
}
