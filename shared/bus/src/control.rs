//! The control plane's request/reply calls, as a port: claim a job, append an attempt's
//! events, report a failure. The scheduler implements it; workers call it (in-process or
//! over `cairn.ctl.*`).

use async_trait::async_trait;
use cairn_domain::{
    Attempt, EventPayload, Failure, JobId, JobState, StorageConfig, Target, WorkerId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a worker gets when its claim is granted: everything to run the attempt.
/// `target.credential` is a reference or a sealed value, never a password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub attempt: Attempt,
    pub lease_until: DateTime<Utc>,
    pub job: JobState,
    /// The target the job acts on (restore: the database overwritten).
    pub target: Target,
    /// Restores: the target whose backup is restored (may equal `target`).
    pub source: Option<Target>,
    /// Where the job's artifacts are (backup: written; restore: read).
    pub storage: StorageConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum ClaimReply {
    Granted(Box<Grant>),
    /// Another job holds the target, or a retry is not due yet: nak and come back later.
    Busy {
        retry_after_ms: u64,
        reason: String,
    },
    /// The job runs elsewhere under a live lease, ended, or was cancelled: ack and move on.
    Denied {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendReply {
    /// The lease after this append (renewed by progress).
    pub lease_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailReply {
    /// Redeliver after this long, or `None`: the job has ended (ack the message).
    pub retry_in_ms: Option<u64>,
}

impl FailReply {
    pub fn retry_in(&self) -> Option<Duration> {
        self.retry_in_ms.map(Duration::from_millis)
    }
}

#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum ControlError {
    /// The attempt is no longer the job's current one: stop working, do not ack.
    #[error("attempt {attempt} of job {job_id} is fenced: {reason}")]
    Fenced {
        job_id: JobId,
        attempt: Attempt,
        reason: String,
    },
    #[error("job {0} not found")]
    NotFound(JobId),
    #[error("control plane unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Control: Send + Sync + 'static {
    async fn claim(&self, job_id: JobId, worker: &WorkerId) -> Result<ClaimReply, ControlError>;
    /// Appends events of the current attempt (`JobStarted`, `JobProgress`, `BackupStored`,
    /// `RestoreApplied`, `PartialArtifactRemoved`, `JobSucceeded`). `JobProgress` renews the
    /// lease (its `lease_until` is set by the control plane).
    async fn append(
        &self,
        job_id: JobId,
        attempt: Attempt,
        events: Vec<EventPayload>,
    ) -> Result<AppendReply, ControlError>;
    /// Ends the attempt as failed; the control plane decides whether and when it is retried.
    async fn fail(
        &self,
        job_id: JobId,
        attempt: Attempt,
        failure: Failure,
    ) -> Result<FailReply, ControlError>;
}
