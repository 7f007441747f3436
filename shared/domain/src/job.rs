//! Jobs: what kind of work, what it acts on, and the status a job can be in.

use crate::ids::BackupId;
use crate::names::{StorageName, TargetName};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Restore,
    Prune,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Backup, JobKind::Restore, JobKind::Prune];
    pub fn as_str(&self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Prune => "prune",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job does, fixed when it is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobSpec {
    Backup {
        target: TargetName,
        storage: StorageName,
    },
    Restore {
        /// The database that is overwritten.
        target: TargetName,
        /// The target whose backup is restored (often `target` itself).
        source: TargetName,
        /// A concrete backup id: `latest` is resolved before the job is queued.
        backup: BackupId,
        storage: StorageName,
        /// The operator accepted a backup this cairn did not sign (`--trust-unsigned`).
        #[serde(default)]
        trust_unsigned: bool,
    },
    Prune {
        target: TargetName,
        storage: StorageName,
        keep: u32,
    },
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Backup { .. } => JobKind::Backup,
            JobSpec::Restore { .. } => JobKind::Restore,
            JobSpec::Prune { .. } => JobKind::Prune,
        }
    }
    /// The target whose per-target exclusivity the job takes.
    pub fn target(&self) -> &TargetName {
        match self {
            JobSpec::Backup { target, .. }
            | JobSpec::Restore { target, .. }
            | JobSpec::Prune { target, .. } => target,
        }
    }
}

/// Where a job is in its life. Derived from events only (see `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker to claim it.
    Queued,
    /// Claimed by a worker under a lease.
    Running,
    /// An attempt failed (or its lease expired); another attempt may claim it after `retry_at`.
    RetryDue,
    Succeeded,
    /// Ended without success: a permanent failure, or out of attempts.
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::RetryDue,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::RetryDue => "retry_due",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
