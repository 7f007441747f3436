//! Private database servers for whole-server tests: a PostgreSQL cluster made with
//! `initdb` (run as the `postgres` OS user, which it insists on when we are root) and a
//! `mariadbd` on a fresh data directory. Both listen on free ports and are removed on drop.
//!
//! The shared servers are never restored whole, so the tests that need a whole server
//! depend on these. One that cannot start fails its test with the reason
//! ([`PrivatePg::start_or_fail`]), unless the operator opted out with
//! `CAIRN_TEST_ALLOW_SKIP=whole-server` (see tests/README.md).

use crate::env::containers_mode;
use crate::mysql::My;
use crate::pg::Pg;
use crate::util::{free_port, have, poll, run};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const START_LIMIT: Duration = Duration::from_secs(120);

/// The opt-out token of `CAIRN_TEST_ALLOW_SKIP` that lets whole-server tests pass without
/// running when their private server cannot start.
pub const WHOLE_SERVER: &str = "whole-server";

/// Whether `CAIRN_TEST_ALLOW_SKIP` (a comma-separated list) names `token`.
pub fn skip_allowed(token: &str) -> bool {
    std::env::var("CAIRN_TEST_ALLOW_SKIP").is_ok_and(|v| v.split(',').any(|t| t.trim() == token))
}

/// The started server, or: a panic with `why` (a test that cannot run fails), or `None`
/// with a message on stderr when the operator allowed `token` to be skipped.
#[track_caller]
pub fn or_fail<T>(started: Result<T, String>, what: &str, token: &str) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(why) if skip_allowed(token) => {
            eprintln!("SKIPPED (CAIRN_TEST_ALLOW_SKIP={token}) {what}: {why}");
            None
        }
        Err(why) => panic!(
            "cannot start {what}: {why}\n(set CAIRN_TEST_ALLOW_SKIP={token} to let this test \
             pass without running on a machine that cannot start one)"
        ),
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The directory of the newest PostgreSQL server binaries (`/usr/lib/postgresql/N/bin`).
fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CAIRN_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, d)| d)
}

/// A PostgreSQL cluster of this test alone (trust auth on 127.0.0.1).
pub struct PrivatePg {
    pub pg: Pg,
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl PrivatePg {
    /// Starts a cluster; `None` only when it cannot start and `CAIRN_TEST_ALLOW_SKIP`
    /// names `whole-server`, otherwise a failure naming the reason.
    #[track_caller]
    pub fn start_or_fail() -> Option<PrivatePg> {
        or_fail(
            PrivatePg::start(),
            "a private PostgreSQL cluster",
            WHOLE_SERVER,
        )
    }

    /// Starts a cluster, or says why it cannot (`Err`).
    pub fn start() -> Result<PrivatePg, String> {
        if containers_mode() {
            return Err("CAIRN_TESTCONTAINERS=1: no local initdb".into());
        }
        let bin = pg_bin_dir().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let run_dir = dir.path().join("run");
        std::fs::create_dir(&run_dir).map_err(|e| e.to_string())?;
        let data = run_dir.join("data");
        let as_postgres = running_as_root();
        if as_postgres {
            if !have("runuser") {
                return Err("running as root and runuser is missing".into());
            }
            let out = run(chown_cmd(&run_dir), None, Duration::from_secs(10));
            if out.code != 0 {
                return Err(format!(
                    "chown postgres {}: {}",
                    run_dir.display(),
                    out.stderr
                ));
            }
        }
        let port = free_port();
        let tool = |name: &str| -> Command {
            let path = bin.join(name);
            if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            } else {
                Command::new(path)
            }
        };
        let mut initdb = tool("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]);
        let out = run(initdb, None, START_LIMIT);
        if out.code != 0 {
            return Err(format!("initdb failed: {}{}", out.stdout, out.stderr));
        }
        let mut start = tool("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB",
                run_dir.display()
            ))
            .arg("-l")
            .arg(run_dir.join("log"))
            .args(["-w", "start"]);
        let out = run(start, None, START_LIMIT);
        if out.code != 0 {
            let log = std::fs::read_to_string(run_dir.join("log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl start failed: {}{}\n{log}",
                out.stdout, out.stderr
            ));
        }
        Ok(PrivatePg {
            pg: Pg {
                host: "127.0.0.1".into(),
                port,
                user: "postgres".into(),
            },
            bin,
            data,
            _dir: dir,
        })
    }
}

fn chown_cmd(path: &Path) -> Command {
    let mut c = Command::new("chown");
    c.args(["-R", "postgres:postgres"]).arg(path);
    c
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let mut stop = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
    }
}

/// A MariaDB server of this test alone (root without a password on 127.0.0.1).
pub struct PrivateMy {
    pub my: My,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PrivateMy {
    /// Starts a server; `None` only when it cannot start and `CAIRN_TEST_ALLOW_SKIP`
    /// names `whole-server`, otherwise a failure naming the reason.
    #[track_caller]
    pub fn start_or_fail() -> Option<PrivateMy> {
        or_fail(PrivateMy::start(), "a private MariaDB server", WHOLE_SERVER)
    }

    /// Starts a server, or says why it cannot (`Err`).
    pub fn start() -> Result<PrivateMy, String> {
        if containers_mode() {
            return Err("CAIRN_TESTCONTAINERS=1: no local mariadbd".into());
        }
        if !have("mariadb-install-db") || !(have("mariadbd") || have("/usr/sbin/mariadbd")) {
            return Err("mariadb-install-db or mariadbd is missing".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-my-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let root = running_as_root();
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            // A private tmpdir: concurrent bootstraps sharing /tmp have failed on each
            // other's temporary tables.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            install.arg("--user=root");
        }
        let out = run(install, None, START_LIMIT);
        if out.code != 0 {
            return Err(format!(
                "mariadb-install-db failed: {}{}",
                out.stdout, out.stderr
            ));
        }
        let port = free_port();
        let server = if have("mariadbd") {
            "mariadbd".to_string()
        } else {
            "/usr/sbin/mariadbd".to_string()
        };
        let log =
            std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            // Its own tmpdir: at startup mariadbd deletes every `#sql*` file in its
            // tmpdir, which would pull live temporary tables from under other servers.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if root {
            cmd.arg("--user=root");
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start mariadbd: {e}"))?;
        let server = PrivateMy {
            my: My {
                host: "127.0.0.1".into(),
                port,
                user: "root".into(),
            },
            child,
            _dir: dir,
        };
        poll(
            "the private mariadbd to accept connections",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || (server.my.try_sql(None, "SELECT 1").0 == 0).then_some(()),
        );
        Ok(server)
    }
}

impl Drop for PrivateMy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
