//! `App`: one `cairn up` server on a free port with its own data directory, started as a
//! child process in its own process group, and the CLI pointed at it.
//!
//! As in zero2prod's `spawn_app()`: every test gets a fresh server, and dropping the
//! handle kills it (with every child it started, such as a running `pg_dump`). Every CLI
//! call presents the server's first admin token (`<data>/admin.token`) through
//! `CAIRN_TOKEN`, unless a test asks for another token or none (`cairn_as`).

use crate::util::{self, free_port, poll, Output};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a server may take to answer `/v1/health` after it was started.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Upper bound of one CLI call; `--wait` calls get `App::wait_limit`.
const CLI_LIMIT: Duration = Duration::from_secs(60);

/// The `cairn` binary under test: `CAIRN_BIN`, else `<target>/debug/cairn` next to the
/// test executable (which lives in `<target>/debug/deps`).
pub fn cairn_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CAIRN_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "CAIRN_BIN={} does not exist", bin.display());
        return bin;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let debug_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in <target>/debug/deps");
    let bin = debug_dir.join("cairn");
    assert!(
        bin.is_file(),
        "the cairn binary is missing at {}: build it first with `cargo build -p cairn` \
         (or set CAIRN_BIN to its path)",
        bin.display()
    );
    bin
}

/// A running `cairn up`.
pub struct App {
    /// Holds the data dir and the server log; removed on drop.
    root: tempfile::TempDir,
    data_dir: Option<PathBuf>,
    pub port: u16,
    env: BTreeMap<String, String>,
    up_args: Vec<String>,
    listen_host: String,
    /// Set when the server serves HTTPS: the CA file the CLI trusts.
    ca_file: Option<PathBuf>,
    child: Option<Child>,
    scheduler_only: bool,
    /// The first admin token, read from `<data>/admin.token` once the server is up.
    admin_token: String,
}

/// Options for `App::start_with`.
#[derive(Debug, Default, Clone)]
pub struct AppOptions {
    /// Extra environment of the server process (for `--password-env` targets).
    pub env: BTreeMap<String, String>,
    /// Files written into the data directory before the first start (name, content).
    pub data_files: Vec<(String, Vec<u8>)>,
    /// Extra flags of `cairn up`.
    pub up_args: Vec<String>,
    /// The address to listen on (default `127.0.0.1`); the CLI still calls 127.0.0.1.
    pub listen_host: Option<String>,
    /// Serve HTTPS with `(cert, key, ca)` PEM files; the CLI is given `--ca-file ca`.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// The server's `--data-dir`, if not `<tempdir>/data` (an existing directory the test
    /// owns, e.g. a small tmpfs).
    pub data_dir: Option<PathBuf>,
    /// Run `cairn-scheduler` (the scheduler alone, workers elsewhere on NATS) instead of
    /// `cairn up`; `up_args` then needs `--nats URL`.
    pub scheduler_only: bool,
}

impl App {
    /// Starts a server on a free port with a fresh data directory.
    pub fn start() -> App {
        App::start_with(AppOptions::default())
    }

    pub fn start_with(options: AppOptions) -> App {
        let root = tempfile::Builder::new()
            .prefix("cairn-it-app-")
            .tempdir()
            .expect("tempdir for the app");
        std::fs::create_dir_all(root.path().join("data")).expect("create data dir");
        for (name, content) in &options.data_files {
            std::fs::write(root.path().join("data").join(name), content)
                .expect("write a file into the data dir");
        }
        let mut up_args = options.up_args;
        let ca_file = options.tls.map(|(cert, key, ca)| {
            up_args.push("--tls-cert".into());
            up_args.push(cert.display().to_string());
            up_args.push("--tls-key".into());
            up_args.push(key.display().to_string());
            ca
        });
        let mut app = App {
            root,
            data_dir: options.data_dir,
            port: free_port(),
            env: options.env,
            up_args,
            listen_host: options.listen_host.unwrap_or_else(|| "127.0.0.1".into()),
            ca_file,
            child: None,
            scheduler_only: options.scheduler_only,
            admin_token: String::new(),
        };
        app.spawn();
        app
    }

    /// The server's `--data-dir`: `<tempdir>/data` unless the options named one.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| self.root.path().join("data"))
    }

    /// Where the default storage keeps a target's backups.
    pub fn storage_dir(&self, target: &str) -> PathBuf {
        self.data_dir().join("storage").join(target)
    }

    /// The server's stderr (all of its runs), appended to across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("server.log")
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    pub fn server_url(&self) -> String {
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The first admin token, as `cairn up` wrote it to `<data>/admin.token`.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Creates a token with `role` (read, operate, admin, worker) and returns it.
    pub fn create_token(&self, name: &str, role: &str) -> String {
        let out = self.cairn(&["token", "create", name, "--role", role, "--json"]);
        out.expect_code(0, "token create");
        out.json()["token"]
            .as_str()
            .expect("token create --json has a token field")
            .to_string()
    }

    /// The server's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let mut cmd = if self.scheduler_only {
            Command::new(crate::nats::sibling_bin("cairn-scheduler"))
        } else {
            let mut cmd = Command::new(cairn_bin());
            cmd.arg("up");
            cmd
        };
        cmd.arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(format!("{}:{}", self.listen_host, self.port))
            .args(&self.up_args)
            .env_remove("CAIRN_SERVER")
            .env("RUST_LOG", "info")
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("start `cairn up`");
        self.child = Some(child);
        self.wait_healthy();
        let path = self.data_dir().join("admin.token");
        self.admin_token = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("`cairn up` is up but {} is unreadable: {e}", path.display())
        });
    }

    fn wait_healthy(&mut self) {
        let url = format!("127.0.0.1:{}", self.port);
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "`cairn up` exited with {status} before answering /v1/health\nlog:\n{}",
                    self.log()
                );
            }
            let healthy = if self.ca_file.is_some() {
                // HTTPS: the plain probe cannot speak TLS; an accepting socket will do, the
                // CLI calls of the test then go through TLS.
                std::net::TcpStream::connect(&url).is_ok()
            } else {
                health_ok(&url)
            };
            if healthy {
                return;
            }
            if start.elapsed() > START_DEADLINE {
                panic!(
                    "`cairn up` did not answer GET /v1/health on {url} within {START_DEADLINE:?}\nlog:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` of the server's whole process group (its dump/restore children too),
    /// then reaps it. The data dir stays.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id());
            let _ = child.wait();
            // Children of the group that outlive the leader for a moment: wait until the
            // group is empty so a restart does not race them.
            let pgid = child.id();
            poll(
                "the killed process group to be gone",
                Duration::from_secs(10),
                Duration::from_millis(20),
                || (!group_alive(pgid)).then_some(()),
            );
        }
    }

    /// Replaces the extra `cairn up` flags used from the next `restart`.
    pub fn set_server_args(&mut self, args: Vec<String>) {
        self.up_args = args;
    }

    /// Starts the server again on the same data dir and port (a new port if another
    /// process took the old one meanwhile).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after kill9");
        // Another test may have been handed the port meanwhile (it was free): take a new
        // one then, or this server would fail to bind, or the health probe would see theirs.
        if std::net::TcpListener::bind(("127.0.0.1", self.port)).is_err() {
            self.port = free_port();
        }
        self.spawn();
    }

    /// Runs `cairn <args>` against this server.
    pub fn cairn(&self, args: &[&str]) -> Output {
        self.cairn_full(args, None, &[], CLI_LIMIT)
    }

    /// Runs `cairn <args>` with bytes on stdin.
    pub fn cairn_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.cairn_full(args, Some(stdin), &[], CLI_LIMIT)
    }

    /// Runs `cairn <args>` allowing it `limit` (for `--wait`).
    pub fn cairn_limit(&self, args: &[&str], limit: Duration) -> Output {
        self.cairn_full(args, None, &[], limit)
    }

    /// Runs `cairn <args>` presenting `token` (none at all with `None`).
    pub fn cairn_as(&self, token: Option<&str>, args: &[&str]) -> Output {
        self.run_cli(token, args, None, &[], CLI_LIMIT)
    }

    /// Runs `cairn <args>` as the admin, with extra environment (which may set another
    /// `CAIRN_TOKEN`).
    pub fn cairn_full(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
        limit: Duration,
    ) -> Output {
        self.run_cli(Some(&self.admin_token), args, stdin, env, limit)
    }

    fn run_cli(
        &self,
        token: Option<&str>,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
        limit: Duration,
    ) -> Output {
        let mut cmd = Command::new(cairn_bin());
        cmd.arg("--server")
            .arg(self.server_url())
            .args(args)
            .env("CAIRN_SERVER", self.server_url())
            .env_remove("RUST_LOG")
            .env_remove("CAIRN_TOKEN")
            .env_remove("CAIRN_TOKEN_FILE")
            .env_remove("CAIRN_CA_FILE")
            .env_remove("CAIRN_DATA_DIR");
        if let Some(token) = token {
            cmd.env("CAIRN_TOKEN", token);
        }
        if let Some(ca) = &self.ca_file {
            cmd.env("CAIRN_CA_FILE", ca);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        util::run(cmd, stdin, limit)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id());
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "---- last lines of the cairn up log ({}) ----",
                self.log_path().display()
            );
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Whether any process is still in process group `pgid` (zombies do not count).
fn group_alive(pgid: u32) -> bool {
    crate::procs::all_pids()
        .into_iter()
        .any(|pid| crate::procs::stat(pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
}

/// One plain HTTP/1.0 GET /v1/health; true on a 200 answer.
fn health_ok(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v1/health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}
