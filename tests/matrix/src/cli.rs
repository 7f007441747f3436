//! The two ways the matrix runs cairn, behind one small trait: a local `cairn up`
//! (`cairn_tests::App`) and cairn's own image (`Remote`). Both are driven through the
//! `cairn` CLI of this build; the verbs the suites need are provided on top.

use cairn_testcontainers::{Cairn, RunningCairn};
use cairn_tests::util::{run, Output};
use cairn_tests::{cairn_bin, status_of, summary, App, WAIT_LIMIT};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CLI_LIMIT: Duration = Duration::from_secs(60);

/// A cairn server the CLI can talk to.
pub trait Cli {
    /// Runs `cairn <args>` against the server within `limit`.
    fn cli(&self, args: &[&str], limit: Duration) -> Output;

    /// The host directory holding a target's backups (`<storage>/<target>`).
    fn storage_dir(&self, target: &str) -> PathBuf;

    /// `cairn target add NAME --url URL`, which must succeed.
    #[track_caller]
    fn add_target(&self, name: &str, url: &str) {
        self.cli(&["target", "add", name, "--url", url], CLI_LIMIT)
            .expect_code(0, &format!("target add {name} {url}"));
    }

    /// `cairn backup T --wait --json`: must succeed; returns the summary.
    #[track_caller]
    fn backup_wait(&self, target: &str) -> Value {
        let out = self.cli(&["backup", target, "--wait", "--json"], WAIT_LIMIT);
        out.expect_code(0, &format!("backup {target} --wait --json"));
        let summary = summary(&out);
        assert_eq!(
            status_of(&summary),
            "succeeded",
            "backup of {target}: {summary}"
        );
        summary
    }

    /// `cairn backup T --wait --json`, whatever its outcome.
    fn backup_try(&self, target: &str) -> Output {
        self.cli(&["backup", target, "--wait", "--json"], WAIT_LIMIT)
    }

    /// `cairn restore T --backup latest --yes --wait --json [--from S]`.
    fn restore_latest(&self, target: &str, from: Option<&str>) -> Output {
        let mut args = vec![
            "restore", target, "--backup", "latest", "--yes", "--wait", "--json",
        ];
        if let Some(from) = from {
            args.extend(["--from", from]);
        }
        self.cli(&args, WAIT_LIMIT)
    }

    /// `restore_latest` that must succeed.
    #[track_caller]
    fn restore_ok(&self, target: &str, from: Option<&str>) {
        let out = self.restore_latest(target, from);
        out.expect_code(0, &format!("restore {target} (from {from:?})"));
        assert_eq!(
            status_of(&summary(&out)),
            "succeeded",
            "restore of {target}"
        );
    }

    /// The manifest of the target's only backup, read from storage.
    #[track_caller]
    fn only_manifest(&self, target: &str) -> Value {
        let dir = self.storage_dir(target);
        let folders: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
        assert_eq!(
            folders.len(),
            1,
            "one backup folder in {}: {folders:?}",
            dir.display()
        );
        read_json(&folders[0].join("manifest.json"))
    }
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

impl Cli for App {
    fn cli(&self, args: &[&str], limit: Duration) -> Output {
        self.cairn_limit(args, limit)
    }
    fn storage_dir(&self, target: &str) -> PathBuf {
        App::storage_dir(self, target)
    }
}

/// cairn in its own container (`cairn-local/cairn:dev`), its storage in a host directory.
pub struct Remote {
    cairn: Option<RunningCairn>,
    storage: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl Remote {
    pub fn start() -> Remote {
        Remote::start_with(&[])
    }

    /// With extra environment for `cairn up` (for `--password-env` targets).
    pub fn start_with(env: &[(&str, &str)]) -> Remote {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let storage = tempfile::Builder::new()
            .prefix("cairn-matrix-storage-")
            .tempdir()
            .expect("storage tempdir");
        let mut image = Cairn::default().with_storage_dir(storage.path());
        for (k, v) in env {
            image = image.with_env(k, v);
        }
        let cairn = runtime.block_on(image.start()).unwrap_or_else(|e| {
            panic!(
                "the cairn container did not start: {e}\n(build its image first: \
                 scripts/images --cairn-bin target/debug/cairn)"
            )
        });
        Remote {
            cairn: Some(cairn),
            storage,
            runtime,
        }
    }

    fn cairn(&self) -> &RunningCairn {
        self.cairn.as_ref().expect("running")
    }
}

impl Cli for Remote {
    fn cli(&self, args: &[&str], limit: Duration) -> Output {
        let api = self.cairn().api_url();
        let mut cmd = Command::new(cairn_bin());
        cmd.arg("--server")
            .arg(api)
            .args(args)
            .env("CAIRN_SERVER", api)
            .env_remove("RUST_LOG");
        if let Some(token) = self.cairn().admin_token() {
            cmd.env("CAIRN_TOKEN", token);
        }
        run(cmd, None, limit)
    }

    fn storage_dir(&self, target: &str) -> PathBuf {
        self.storage.path().join(target)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let Some(cairn) = self.cairn.take() else {
            return;
        };
        if std::thread::panicking() {
            let log = self
                .runtime
                .block_on(cairn.container().stderr_to_vec())
                .unwrap_or_default();
            let log = String::from_utf8_lossy(&log);
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- last lines of the cairn container's log ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        self.runtime.block_on(async move { drop(cairn) });
    }
}
