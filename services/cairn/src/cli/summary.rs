//! The end of a waited-for job: one summary object (`--json`) or one line for people.

use super::error::{CliError, Outcome};
use super::output;
use cairn_domain::api::{BackupView, JobView};
use cairn_domain::manifest::Trust;
use cairn_domain::{EventPayload, Failure, JobId, JobKind, JobSpec, JobStatus};
use serde::Serialize;

/// The last message of `--wait --json`. Fields may be added, never renamed.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub message_type: &'static str,
    pub job_id: JobId,
    pub kind: JobKind,
    pub target: String,
    pub status: JobStatus,
    /// The backup a backup job made.
    pub backup: Option<BackupView>,
    pub failure: Option<Failure>,
    pub attempts: u32,
    /// From queueing to the job's last event.
    pub duration_seconds: f64,
    /// What a restore job applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreSummary>,
    /// The server version a check job read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RestoreSummary {
    /// The target whose backup was restored.
    pub source: String,
    pub backup: String,
    /// Bytes written to the database (known once the restore was applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl Summary {
    pub fn of(view: &JobView) -> Self {
        let state = &view.state;
        let backup = match (&state.spec, &state.backup) {
            (JobSpec::Backup { storage, .. }, Some(manifest)) => {
                // The manifest of a backup job comes from this cairn's own ledger, written
                // by its dump worker: signed means signed by this cairn.
                let trust = match manifest.signature {
                    Some(_) => Trust::Signed,
                    None => Trust::Unsigned,
                };
                Some(BackupView::from_manifest(manifest, storage.as_str(), trust))
            }
            _ => None,
        };
        let restore = match &state.spec {
            JobSpec::Restore { source, backup, .. } => Some(RestoreSummary {
                source: source.to_string(),
                backup: backup.to_string(),
                bytes: view.events.iter().rev().find_map(|e| match &e.payload {
                    EventPayload::RestoreApplied { bytes, .. } => Some(*bytes),
                    _ => None,
                }),
            }),
            _ => None,
        };
        let duration = state.updated_at - state.queued_at;
        Self {
            message_type: "summary",
            job_id: state.job_id,
            kind: state.kind(),
            target: state.spec.target().to_string(),
            status: state.status,
            backup,
            failure: failure_of(view),
            attempts: state.attempt,
            duration_seconds: duration.num_milliseconds().max(0) as f64 / 1000.0,
            restore,
            server_version: match state.spec {
                JobSpec::Check { .. } => state.server_version.clone(),
                _ => None,
            },
        }
    }

    pub fn outcome(&self) -> Outcome {
        if self.status == JobStatus::Succeeded {
            Outcome::Success
        } else {
            Outcome::JobFailed
        }
    }

    /// Prints the summary: JSON on stdout, or a line on stdout (success) or stderr.
    pub fn print(&self, json: bool) -> Result<Outcome, CliError> {
        if json {
            output::json_line(self)?;
        } else if self.status == JobStatus::Succeeded {
            output::line(&self.success_line())?;
        } else {
            eprintln!("{}", self.failure_line());
        }
        Ok(self.outcome())
    }

    fn success_line(&self) -> String {
        let took = output::duration(self.duration_seconds);
        if let Some(b) = &self.backup {
            return format!(
                "backup {} of {}: {} dumped, {} stored, took {took}",
                b.id,
                self.target,
                output::bytes(b.size_bytes),
                output::bytes(b.stored_bytes),
            );
        }
        if let Some(r) = &self.restore {
            let applied = r
                .bytes
                .map(|n| format!(", {} applied", output::bytes(n)))
                .unwrap_or_default();
            return format!(
                "restored backup {} of {} onto {}{applied}, took {took}",
                r.backup, r.source, self.target
            );
        }
        if let Some(version) = &self.server_version {
            return format!(
                "{} works: server {version}, a primary, credentials accepted; took {took}",
                self.target
            );
        }
        format!("{} job {} succeeded, took {took}", self.kind, self.job_id)
    }

    fn failure_line(&self) -> String {
        let what = format!("{} job {} of {}", self.kind, self.job_id, self.target);
        let failure = self.failure.as_ref();
        match self.status {
            JobStatus::Cancelled => format!(
                "{what} was cancelled: {}",
                failure.map_or("no reason given", |f| f.message.as_str())
            ),
            _ => format!(
                "{what} failed after {} attempt{}: {}",
                self.attempts,
                if self.attempts == 1 { "" } else { "s" },
                failure.map_or_else(|| "no failure recorded".to_string(), |f| f.to_string())
            ),
        }
    }
}

/// Why a job did not succeed: the last attempt's failure, else the event that ended it.
pub fn failure_of(view: &JobView) -> Option<Failure> {
    let state = &view.state;
    if state.status == JobStatus::Succeeded {
        return None;
    }
    let ending = view.events.iter().rev().find_map(|e| match &e.payload {
        EventPayload::JobCancelled { reason } => Some(Failure::permanent("cancelled", reason)),
        EventPayload::JobDeadLettered { reason, .. } => {
            Some(Failure::permanent("dead_lettered", reason))
        }
        _ => None,
    });
    match (state.status, ending) {
        (JobStatus::Cancelled, Some(cancel)) => Some(cancel),
        (_, ending) => state.failure.clone().or(ending),
    }
}
