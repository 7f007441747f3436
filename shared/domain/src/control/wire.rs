//! Request and reply bodies of the control calls and of platform requests.

use crate::event::{DeletionReason, EventPayload};
use crate::failure::Failure;
use crate::ids::{Attempt, BackupId, JobId, WorkerId};
use crate::manifest::Manifest;
use crate::names::TargetName;
use crate::state::JobState;
use crate::target::{StorageConfig, Target};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// An event a worker may append to its own attempt. The attempt number comes from the
/// request, so a worker cannot write for another attempt; the scheduler turns each into
/// the ledger's [`EventPayload`] (`into_event`). Retry decisions, lease expiry,
/// cancellation and dead letters are not here: they are the scheduler's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "payload")]
// A manifest is data written once; boxing it would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum WorkerEvent {
    /// Preflight passed; the attempt is about to touch data.
    JobStarted {
        server_version: String,
    },
    /// Byte counters so far. Recorded in the ledger at most every
    /// [`PROGRESS_EVERY`](super::PROGRESS_EVERY) or [`PROGRESS_STEP`](super::PROGRESS_STEP)
    /// bytes; the rest only renew the lease.
    JobProgress {
        bytes_db: u64,
        bytes_storage: u64,
    },
    BackupStored {
        manifest: Manifest,
    },
    RestoreApplied {
        source: TargetName,
        backup: BackupId,
        bytes: u64,
    },
    /// A partial upload left by an earlier attempt of the job was removed.
    PartialArtifactRemoved {
        path: String,
    },
    /// A prune, forget or purge attempt deleted a backup.
    BackupDeleted {
        backup: BackupId,
        reason: DeletionReason,
    },
    JobSucceeded,
}

impl WorkerEvent {
    /// The ledger event of attempt `attempt`; `lease_until` is the scheduler's lease at
    /// the time, recorded on progress.
    pub fn into_event(self, attempt: Attempt, lease_until: DateTime<Utc>) -> EventPayload {
        match self {
            WorkerEvent::JobStarted { server_version } => EventPayload::JobStarted {
                attempt,
                server_version,
            },
            WorkerEvent::JobProgress {
                bytes_db,
                bytes_storage,
            } => EventPayload::JobProgress {
                attempt,
                bytes_db,
                bytes_storage,
                lease_until,
            },
            WorkerEvent::BackupStored { manifest } => {
                EventPayload::BackupStored { attempt, manifest }
            }
            WorkerEvent::RestoreApplied {
                source,
                backup,
                bytes,
            } => EventPayload::RestoreApplied {
                attempt,
                source,
                backup,
                bytes,
            },
            WorkerEvent::PartialArtifactRemoved { path } => {
                EventPayload::PartialArtifactRemoved { attempt, path }
            }
            WorkerEvent::BackupDeleted { backup, reason } => EventPayload::BackupDeleted {
                attempt,
                backup,
                reason,
            },
            WorkerEvent::JobSucceeded => EventPayload::JobSucceeded { attempt },
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            WorkerEvent::JobStarted { .. } => "JobStarted",
            WorkerEvent::JobProgress { .. } => "JobProgress",
            WorkerEvent::BackupStored { .. } => "BackupStored",
            WorkerEvent::RestoreApplied { .. } => "RestoreApplied",
            WorkerEvent::PartialArtifactRemoved { .. } => "PartialArtifactRemoved",
            WorkerEvent::BackupDeleted { .. } => "BackupDeleted",
            WorkerEvent::JobSucceeded => "JobSucceeded",
        }
    }
}

/// The wire envelope of every control call: the worker's token beside the call's body
/// (flattened). In-process calls carry no envelope; over NATS the scheduler checks the
/// token (role `worker`) before it reads the body.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct CtlRequest<T> {
    /// The worker's bearer token (`CAIRN_TOKEN`). Never logged.
    pub token: String,
    #[serde(flatten)]
    pub body: T,
}

impl<T: fmt::Debug> fmt::Debug for CtlRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtlRequest")
            .field("token", &"<redacted>")
            .field("body", &self.body)
            .finish()
    }
}

/// The wire reply of every control call: `{"ok": …}` or `{"error": {"code": …}}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CtlResponse<T> {
    Ok(T),
    Error(ControlError),
}

impl<T> From<Result<T, ControlError>> for CtlResponse<T> {
    fn from(r: Result<T, ControlError>) -> Self {
        match r {
            Ok(t) => CtlResponse::Ok(t),
            Err(e) => CtlResponse::Error(e),
        }
    }
}

impl<T> From<CtlResponse<T>> for Result<T, ControlError> {
    fn from(r: CtlResponse<T>) -> Self {
        match r {
            CtlResponse::Ok(t) => Ok(t),
            CtlResponse::Error(e) => Err(e),
        }
    }
}

/// `cairn.ctl.claim`: may `worker_id` run job `job_id` now?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimRequest {
    pub job_id: JobId,
    pub worker_id: WorkerId,
}

/// What a worker gets when its claim is granted: everything to run the attempt.
/// `target.credential` is a reference or a sealed value, never a password.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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

/// `cairn.ctl.renew`: the attempt is alive; extend its lease. Not a ledger event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenewRequest {
    pub job_id: JobId,
    pub attempt: Attempt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenewReply {
    pub lease_until: DateTime<Utc>,
}

/// `cairn.ctl.append`: events of the worker's own attempt, appended in one write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppendRequest {
    pub job_id: JobId,
    pub attempt: Attempt,
    pub events: Vec<WorkerEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppendReply {
    /// The lease after this append (every append from the live attempt renews it).
    pub lease_until: DateTime<Utc>,
}

/// `cairn.ctl.fail`: the attempt ended without success; the scheduler decides the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailRequest {
    pub job_id: JobId,
    pub attempt: Attempt,
    pub failure: Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailReply {
    /// Redeliver after this long, or `None`: the job has ended (ack the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

impl FailReply {
    pub fn retry_in(&self) -> Option<Duration> {
        self.retry_in_ms.map(Duration::from_millis)
    }
}

/// Why a control call was refused. What the worker does depends on the code:
/// `fenced` – stop, record nothing, do not ack; `rejected` – record a failure (`fail`);
/// `not_found` – ack and move on; `unauthorized`/`invalid` – fix the worker's setup;
/// `unavailable` – try again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ControlError {
    /// A newer attempt owns the job, or this attempt already ended (its lease lapsed).
    #[error("attempt {attempt} of job {job_id} is fenced: {reason}")]
    Fenced {
        job_id: JobId,
        attempt: Attempt,
        reason: String,
    },
    /// The attempt is current, but the job's state does not allow these events (for
    /// example success without a stored backup): the attempt has failed.
    #[error("attempt {attempt} of job {job_id}: {reason}")]
    Rejected {
        job_id: JobId,
        attempt: Attempt,
        reason: String,
    },
    #[error("job {job_id} not found")]
    NotFound { job_id: JobId },
    /// The call's token is missing, unknown or lacks the `worker` role.
    #[error("not authorized: {reason}")]
    Unauthorized { reason: String },
    /// The request could not be read (bad JSON, a field out of range).
    #[error("invalid request: {reason}")]
    Invalid { reason: String },
    #[error("control plane unavailable: {reason}")]
    Unavailable { reason: String },
}

/// The reply to a platform request on `cairn.requests.backup|restore` (bodies: the HTTP
/// API's `BackupRequest`/`RestoreRequest`; token in an `Authorization: Bearer` header).
/// `{"job_id": …}` when the job is queued, `{"error": …}` naming the field otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PlatformReply {
    /// Refused; when the refusal was recorded as a rejected job, its id.
    Refused {
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<JobId>,
    },
    Queued {
        job_id: JobId,
    },
}
