//! A real `cairn up` with a private data directory, and the CLI that drives it.

use crate::measure::{self, Sampler, Timed};
use crate::shell::WorkDir;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cairn binary: `explicit`, or built now with the profile this benchmark was built
/// with, next to the benchmark's own binary.
pub fn binary(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--quiet", "-p", "cairn", "--bin", "cairn"]);
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let status = cargo.status().context("run cargo build -p cairn")?;
    anyhow::ensure!(status.success(), "cargo build -p cairn failed");
    let me = std::env::current_exe()?;
    let bin = me
        .parent()
        .context("the benchmark binary has no folder")?
        .join("cairn");
    anyhow::ensure!(bin.exists(), "{} is missing", bin.display());
    Ok(bin)
}

/// A running `cairn up`; stopped on drop.
pub struct Up {
    bin: PathBuf,
    child: Child,
    server: String,
    token: String,
    data: PathBuf,
}

impl Up {
    pub fn start(bin: &Path, work: &WorkDir) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data = work.path().join("cairn-data");
        let log = std::fs::File::create(work.path().join("cairn-up.log"))?;
        let child = Command::new(bin)
            .arg("up")
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("CAIRN_SERVER")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start cairn up")?;
        let mut up = Self {
            bin: bin.to_path_buf(),
            child,
            server: format!("http://127.0.0.1:{port}"),
            token: String::new(),
            data,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let token_file = up.data.join("admin.token");
        loop {
            if let Some(status) = up.child.try_wait()? {
                bail!(
                    "cairn up exited ({status}): {}",
                    std::fs::read_to_string(work.path().join("cairn-up.log")).unwrap_or_default()
                );
            }
            let healthy = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if healthy {
                if let Ok(token) = std::fs::read_to_string(&token_file) {
                    up.token = token.trim().to_string();
                    if up.cli(&["target", "list"]).is_ok() {
                        return Ok(up);
                    }
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "cairn up did not come up in 120 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("CAIRN_SERVER", &self.server)
            .env("CAIRN_TOKEN", &self.token)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a CLI command; its stdout, or an error with its output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output()?;
        if !out.status.success() {
            bail!(
                "cairn {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Runs a job command with `--wait`, timing it and sampling the memory of cairn (the
    /// server and the CLI) and of the tools cairn runs. Also returns the bytes the server
    /// process wrote to disk meanwhile.
    pub fn timed(&self, args: &[&str]) -> Result<(Timed, u64)> {
        let written = measure::written_bytes(self.child.id());
        let cpu = measure::cpu_seconds(self.child.id());
        let started = Instant::now();
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let sampler = Sampler::start(vec![child.id()], Some(self.child.id()));
        let out = child.wait_with_output()?;
        let seconds = started.elapsed().as_secs_f64();
        let peaks = sampler.stop();
        if !out.status.success() {
            bail!(
                "cairn {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let written = measure::written_bytes(self.child.id()).saturating_sub(written);
        let cairn_cpu = measure::cpu_seconds(self.child.id()) - cpu;
        Ok((
            Timed {
                seconds,
                peaks,
                cairn_cpu,
            },
            written,
        ))
    }

    /// Adds a target (again: an existing one is updated to `url`).
    pub fn target(&self, name: &str, url: &str) -> Result<()> {
        if self.cli(&["target", "add", name, "--url", url]).is_err() {
            self.cli(&["target", "update", name, "--url", url])?;
        }
        Ok(())
    }

    /// Stored bytes of the target's newest backup.
    pub fn latest_stored_bytes(&self, target: &str) -> Result<u64> {
        let list: serde_json::Value =
            serde_json::from_str(&self.cli(&["backups", target, "--json"])?)?;
        list.get(0)
            .and_then(|b| b.get("stored_bytes"))
            .and_then(|v| v.as_u64())
            .context("no backup listed")
    }

    /// Peak RSS of the server over its whole life so far (VmHWM), KiB.
    pub fn hwm_kib(&self) -> u64 {
        measure::hwm_kib(self.child.id())
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
