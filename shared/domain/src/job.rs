//! Jobs: what kind of work, what it acts on, and the status a job can be in.

use crate::ids::BackupId;
use crate::names::{StorageName, TargetName};
use crate::retention::Keep;
use crate::schedule::Zone;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Restore,
    Prune,
    /// Only the preflight of a target (connect, credentials, version, primary): run by
    /// the dump worker, touches no data and no storage.
    Check,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::Backup,
        JobKind::Restore,
        JobKind::Prune,
        JobKind::Check,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Prune => "prune",
            JobKind::Check => "check",
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
        /// What to keep. Ledgers written before retention buckets existed hold a bare
        /// count (`"keep": 5`), read as `--keep 5`.
        #[serde(deserialize_with = "keep_or_count")]
        keep: Keep,
        /// The zone whose wall clock buckets hourly … yearly rules (the schedule's).
        #[serde(default, skip_serializing_if = "Zone::is_utc")]
        zone: Zone,
    },
    /// Removes every backup of the target (`cairn target remove --purge`).
    Purge {
        target: TargetName,
        storage: StorageName,
    },
    /// Removes one backup (`cairn forget`).
    Forget {
        target: TargetName,
        storage: StorageName,
        backup: BackupId,
    },
    /// Runs the target's preflight only (`cairn check`).
    Check { target: TargetName },
}

impl JobSpec {
    /// A prune of `target` in `storage`, bucketed in UTC, that deletes.
    pub fn prune(target: TargetName, storage: StorageName, keep: Keep) -> Self {
        JobSpec::Prune {
            target,
            storage,
            keep,
            zone: Zone::UTC,
        }
    }
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Backup { .. } => JobKind::Backup,
            JobSpec::Restore { .. } => JobKind::Restore,
            JobSpec::Prune { .. } | JobSpec::Forget { .. } | JobSpec::Purge { .. } => {
                JobKind::Prune
            }
            JobSpec::Check { .. } => JobKind::Check,
        }
    }
    /// The target whose per-target exclusivity the job takes.
    pub fn target(&self) -> &TargetName {
        match self {
            JobSpec::Backup { target, .. }
            | JobSpec::Restore { target, .. }
            | JobSpec::Prune { target, .. }
            | JobSpec::Forget { target, .. }
            | JobSpec::Purge { target, .. }
            | JobSpec::Check { target } => target,
        }
    }
}

/// `keep` as written now (an object) or before retention buckets (a bare count).
fn keep_or_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Keep, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Count(std::num::NonZeroU32),
        Keep(Keep),
    }
    Ok(match Either::deserialize(d)? {
        Either::Count(n) => Keep::last(n),
        Either::Keep(k) => k,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn prune_specs_written_with_a_bare_count_still_read() {
        let old = r#"{"kind":"prune","target":"orders","storage":"default","keep":4}"#;
        let spec: JobSpec = serde_json::from_str(old).unwrap();
        let four = Keep::last(NonZeroU32::new(4).unwrap());
        assert_eq!(
            spec,
            JobSpec::prune(
                TargetName::parse("orders").unwrap(),
                StorageName::default_storage(),
                four
            )
        );
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<JobSpec>(&text).unwrap(), spec);
        assert!(serde_json::from_str::<JobSpec>(&old.replace('4', "0")).is_err());
    }
}
