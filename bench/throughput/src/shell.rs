//! Running the bare tools: shell pipelines with `pipefail`, timed, with the peak memory
//! of their processes sampled; and the benchmark's scratch directory.

use crate::measure::{Sampler, Timed};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// PostgreSQL, MariaDB and Redis of the project machine.
pub const PG: &str = "PGHOST=127.0.0.1 PGUSER=postgres";
pub const MY: &str = "mariadb -h 127.0.0.1 -u root";
pub const REDIS: &str = "redis-cli -h 127.0.0.1 -p 6379";

/// Runs `script` with bash (`set -euo pipefail`); fails with its stderr otherwise.
pub fn sh(script: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .stdin(Stdio::null())
        .output()
        .context("run bash")?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            script.lines().next().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `script` as [`sh`] does, timing it and sampling the peak RSS of its processes.
pub fn timed(script: &str) -> Result<Timed> {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("run bash")?;
    let sampler = Sampler::start(vec![child.id()], None);
    let started = std::time::Instant::now();
    let stderr = {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    };
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let peaks = sampler.stop();
    if !status.success() {
        bail!(
            "`{}` failed: {}",
            script.lines().next().unwrap_or(""),
            stderr.trim()
        );
    }
    Ok(Timed {
        seconds,
        peaks,
        cairn_cpu: 0.0,
    })
}

/// A scratch directory under the system's temp dir, removed on drop.
pub struct WorkDir(PathBuf);

impl WorkDir {
    pub fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("cairn-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Self(dir))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Size of a file in bytes.
pub fn file_size(path: &str) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("stat {path}"))?
        .len())
}
