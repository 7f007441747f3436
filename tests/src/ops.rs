//! The CLI verbs the suites use again and again, as `App` methods that assert success,
//! and readers for the JSON the CLI prints (summaries, job views, backup lists).

use crate::app::App;
use crate::util::{poll_until, sha256_file, Output};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How long a `--wait` on a small database may take.
pub const WAIT_LIMIT: Duration = Duration::from_secs(180);

impl App {
    /// `cairn target add NAME --url URL`, which must succeed.
    #[track_caller]
    pub fn add_target(&self, name: &str, url: &str) {
        self.cairn(&["target", "add", name, "--url", url])
            .expect_code(0, &format!("target add {name} {url}"));
    }

    /// `cairn target add NAME --url URL --password-stdin` with `password` on stdin, which
    /// must succeed.
    #[track_caller]
    pub fn add_target_with_password(&self, name: &str, url: &str, password: &str) {
        self.cairn_stdin(
            &["target", "add", name, "--url", url, "--password-stdin"],
            format!("{password}\n").as_bytes(),
        )
        .expect_code(0, &format!("target add {name} --password-stdin"));
    }

    /// `cairn backup T --wait --json`: must exit 0 with a succeeded summary; returns it.
    #[track_caller]
    pub fn backup_wait(&self, target: &str) -> Value {
        let out = self.cairn_limit(&["backup", target, "--wait", "--json"], WAIT_LIMIT);
        out.expect_code(0, &format!("backup {target} --wait --json"));
        let summary = summary(&out);
        assert_eq!(
            status_of(&summary),
            "succeeded",
            "backup summary of {target}: {summary}"
        );
        summary
    }

    /// `cairn backup T` (no wait): the created job's id.
    #[track_caller]
    pub fn backup_start(&self, target: &str) -> String {
        let out = self.cairn(&["backup", target, "--json"]);
        out.expect_code(0, &format!("backup {target} --json"));
        let v = out.json();
        v["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no job_id in {v}"))
            .to_string()
    }

    /// `cairn restore T --backup B --yes --wait --json [--from S]`, returning the output.
    pub fn restore_wait(&self, target: &str, backup: &str, from: Option<&str>) -> Output {
        let mut args = vec![
            "restore", target, "--backup", backup, "--yes", "--wait", "--json",
        ];
        if let Some(from) = from {
            args.extend(["--from", from]);
        }
        self.cairn_limit(&args, WAIT_LIMIT)
    }

    /// `cairn backups T --json`: the flat array.
    #[track_caller]
    pub fn backups(&self, target: &str) -> Vec<Value> {
        let out = self.cairn(&["backups", target, "--json"]);
        out.expect_code(0, &format!("backups {target} --json"));
        match out.json() {
            Value::Array(items) => items,
            other => panic!("backups --json is not an array: {other}"),
        }
    }

    /// `cairn job ID --json`: `{state, events}`.
    #[track_caller]
    pub fn job(&self, id: &str) -> Value {
        let out = self.cairn(&["job", id, "--json"]);
        out.expect_code(0, &format!("job {id} --json"));
        out.json()
    }

    /// `cairn history --json <filters>`: the flat array.
    #[track_caller]
    pub fn history(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["history", "--json"];
        args.extend_from_slice(filters);
        let out = self.cairn(&args);
        out.expect_code(0, &format!("history {filters:?}"));
        match out.json() {
            Value::Array(items) => items,
            other => panic!("history --json is not an array: {other}"),
        }
    }

    /// Polls `cairn job ID --json` until the job is terminal; panics after `deadline`.
    pub fn wait_terminal(&self, id: &str, deadline: Duration) -> Value {
        let mut last = Value::Null;
        let ended = poll_until(deadline, Duration::from_millis(250), || {
            let out = self.cairn(&["job", id, "--json"]);
            if out.code != 0 {
                return None;
            }
            last = out.json();
            is_terminal(job_status(&last)).then(|| last.clone())
        });
        ended.unwrap_or_else(|| {
            panic!("job {id} is not terminal after {deadline:?}; last view:\n{last:#}")
        })
    }

    /// The folder of a listed backup in the default storage.
    pub fn backup_dir(&self, target: &str, id: &str) -> PathBuf {
        self.storage_dir(target).join(id)
    }

    /// The artifact file (`dump.*.zst`) of a listed backup; panics if there is not
    /// exactly one.
    pub fn artifact_path(&self, target: &str, id: &str) -> PathBuf {
        let dir = self.backup_dir(target, id);
        let found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("backup folder {} unreadable: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump.") && n.ends_with(".zst"))
            })
            .collect();
        assert_eq!(found.len(), 1, "artifacts in {}: {found:?}", dir.display());
        found.into_iter().next().unwrap_or_default()
    }

    /// Checks a listed backup against its files: a manifest is there and the artifact's
    /// sha256 and size match what the listing says.
    #[track_caller]
    pub fn assert_backup_verifies(&self, target: &str, backup: &Value) {
        let id = backup["id"].as_str().expect("backup id");
        let dir = self.backup_dir(target, id);
        assert!(
            dir.join("manifest.json").is_file(),
            "listed backup {id} has no manifest.json in {}",
            dir.display()
        );
        let artifact = self.artifact_path(target, id);
        assert_eq!(
            backup["sha256"].as_str(),
            Some(sha256_file(&artifact).as_str()),
            "sha256 of {} differs from the listing",
            artifact.display()
        );
        let len = std::fs::metadata(&artifact).map(|m| m.len()).unwrap_or(0);
        assert_eq!(
            backup["stored_bytes"].as_u64(),
            Some(len),
            "stored_bytes of {id}"
        );
    }
}

/// The last JSON object on stdout (the summary of `--wait --json`).
#[track_caller]
pub fn summary(out: &Output) -> Value {
    out.stdout
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .or_else(|| serde_json::from_str::<Value>(out.stdout.trim()).ok())
        .unwrap_or_else(|| {
            panic!(
                "no JSON summary on stdout\nstdout:\n{}\nstderr:\n{}",
                out.stdout, out.stderr
            )
        })
}

/// `status` of a summary, or `state.status` of a job view.
pub fn status_of(v: &Value) -> String {
    v.get("status")
        .or_else(|| v.get("state").and_then(|s| s.get("status")))
        .and_then(Value::as_str)
        .unwrap_or("<none>")
        .to_string()
}

/// `job_id` of a summary or job view.
pub fn job_id_of(v: &Value) -> String {
    v.get("job_id")
        .or_else(|| v.get("state").and_then(|s| s.get("job_id")))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no job_id in {v}"))
        .to_string()
}

/// `state.status` of a job view.
pub fn job_status(job: &Value) -> &str {
    job["state"]["status"].as_str().unwrap_or("<none>")
}

pub fn is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

/// The event types of a job view, in the order given.
pub fn event_types(job: &Value) -> Vec<String> {
    job["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["type"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The `failure.code` of every `JobFailed` event of a job view.
pub fn failure_codes(job: &Value) -> Vec<String> {
    job["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "JobFailed")
                .map(|e| {
                    // `{type, payload: {failure}}` (adjacently tagged envelope).
                    let failure = e["payload"].get("failure").unwrap_or(&e["failure"]);
                    failure["code"].as_str().unwrap_or("?").to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Panics unless the job's events carry seq 1, 2, 3 … in order.
#[track_caller]
pub fn assert_contiguous_seqs(job: &Value) {
    let seqs: Vec<u64> = job["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["seq"].as_u64()).collect())
        .unwrap_or_default();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "event seqs are not 1..n in order: {job:#}");
}

/// Checks one entry of `cairn backups T --json`: every field there and well-formed, the
/// job that made it, and its files in storage (manifest, artifact sha256 and size).
#[track_caller]
pub fn assert_listed_backup(app: &App, target: &str, entry: &Value, engine: &str, job_id: &str) {
    let view: cairn_domain::api::BackupView =
        serde_json::from_value(entry.clone()).unwrap_or_else(|e| {
            panic!("backup entry lacks a field or has a wrong type ({e}): {entry:#}")
        });
    cairn_domain::BackupId::parse(&view.id).unwrap_or_else(|e| panic!("backup id: {e}"));
    assert_eq!(view.target, target, "target of {entry}");
    let created = entry["created_at"].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(created)
        .unwrap_or_else(|e| panic!("created_at {created:?} is not RFC 3339: {e}"));
    assert!(view.size_bytes > 0, "size_bytes of {entry}");
    assert!(view.stored_bytes > 0, "stored_bytes of {entry}");
    assert!(
        view.sha256.len() == 64
            && view
                .sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "sha256 is not 64 lowercase hex digits: {entry}"
    );
    assert_eq!(view.engine.as_str(), engine, "engine of {entry}");
    assert!(!view.server_version.is_empty(), "server_version of {entry}");
    assert_eq!(view.job_id.to_string(), job_id, "job_id of {entry}");
    app.assert_backup_verifies(target, entry);
}
