//! Job state as a fold over its events, with every valid transition in one `match`.

use crate::event::{EventEnvelope, EventPayload};
use crate::failure::Failure;
use crate::ids::{Attempt, JobId, WorkerId};
use crate::job::{JobKind, JobSpec, JobStatus};
use crate::manifest::Manifest;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod interrupted;
pub use interrupted::AfterInterruption;

/// The failure code of an attempt whose worker went silent.
const LEASE_EXPIRED: &str = "lease_expired";

/// Why an event does not fit the job's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the first event of a job must be JobQueued, not {0}")]
    NotQueuedFirst(&'static str),
    #[error("job is already queued; JobQueued may only come first")]
    AlreadyQueued,
    #[error("event {event} belongs to attempt {got} but the current attempt is {current}: a stale worker (fenced)")]
    StaleAttempt {
        event: &'static str,
        got: u32,
        current: u32,
    },
    #[error("claim for attempt {got} but the next attempt is {expected}")]
    WrongNextAttempt { got: u32, expected: u32 },
    #[error("{event} is not allowed while the job is {status}")]
    NotAllowed {
        event: &'static str,
        status: JobStatus,
    },
    #[error("{event} does not belong to a {kind} job")]
    WrongKind { event: &'static str, kind: JobKind },
    #[error("{0} belongs to a target's configuration stream, not to a job")]
    ConfigEvent(&'static str),
    #[error("{0} is not an event of a target's configuration")]
    NotConfig(&'static str),
    #[error("{event} refused: {reason}")]
    ConfigRefused {
        event: &'static str,
        reason: &'static str,
    },
    #[error("{event} for policy version {got}, but the next version is {expected}")]
    PolicyVersion {
        event: &'static str,
        got: u32,
        expected: u32,
    },
}

/// One attempt as the history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptInfo {
    pub attempt: Attempt,
    pub worker_id: WorkerId,
    pub claimed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded`, `failed`, `lease_expired`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Everything known about a job, derived from its events alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobState {
    pub job_id: JobId,
    pub spec: JobSpec,
    pub status: JobStatus,
    pub max_attempts: u32,
    pub requested_by: String,
    /// The last attempt claimed (0 before the first claim).
    pub attempt: u32,
    pub attempts: Vec<AttemptInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    pub bytes_db: u64,
    pub bytes_storage: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Manifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub dead_lettered: bool,
    pub queued_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Sequence number of the last event folded in.
    pub seq: u64,
}

impl JobState {
    pub fn kind(&self) -> JobKind {
        self.spec.kind()
    }

    /// Folds a job's whole log. The log must start with `JobQueued`.
    pub fn from_events(events: &[EventEnvelope]) -> Result<Option<JobState>, TransitionError> {
        let mut state: Option<JobState> = None;
        for e in events {
            state = Some(Self::next(state.as_ref(), e.job_id, e.at, &e.payload)?);
            if let Some(s) = state.as_mut() {
                s.seq = e.seq;
            }
        }
        Ok(state)
    }

    /// The state after one more event, or why that event is not allowed now.
    pub fn next(
        state: Option<&JobState>,
        job_id: JobId,
        at: DateTime<Utc>,
        payload: &EventPayload,
    ) -> Result<JobState, TransitionError> {
        if payload.is_config() {
            return Err(TransitionError::ConfigEvent(payload.type_name()));
        }
        let Some(current) = state else {
            return match payload {
                EventPayload::JobQueued {
                    spec,
                    max_attempts,
                    requested_by,
                } => Ok(JobState {
                    job_id,
                    spec: spec.clone(),
                    status: JobStatus::Queued,
                    max_attempts: (*max_attempts).max(1),
                    requested_by: requested_by.clone(),
                    attempt: 0,
                    attempts: Vec::new(),
                    lease_until: None,
                    retry_at: None,
                    server_version: None,
                    bytes_db: 0,
                    bytes_storage: 0,
                    backup: None,
                    failure: None,
                    dead_lettered: false,
                    queued_at: at,
                    updated_at: at,
                    seq: 1,
                }),
                other => Err(TransitionError::NotQueuedFirst(other.type_name())),
            };
        };
        let mut s = current.clone();
        s.updated_at = at;
        s.seq = current.seq + 1;
        let event = payload.type_name();
        let not_allowed = || TransitionError::NotAllowed {
            event,
            status: current.status,
        };
        // Fencing: an event of a past attempt is refused, whatever the state.
        if let Some(a) = payload.attempt() {
            let is_claim = matches!(payload, EventPayload::JobClaimed { .. });
            if !is_claim && a.0 != current.attempt {
                return Err(TransitionError::StaleAttempt {
                    event,
                    got: a.0,
                    current: current.attempt,
                });
            }
        }
        use EventPayload as E;
        use JobStatus as S;
        match (current.status, payload) {
            (_, E::JobQueued { .. }) => return Err(TransitionError::AlreadyQueued),
            (
                S::Queued | S::RetryDue,
                E::JobClaimed {
                    attempt,
                    worker_id,
                    lease_until,
                },
            ) => {
                let expected = current.attempt + 1;
                if attempt.0 != expected {
                    return Err(TransitionError::WrongNextAttempt {
                        got: attempt.0,
                        expected,
                    });
                }
                s.status = S::Running;
                s.attempt = attempt.0;
                s.lease_until = Some(*lease_until);
                s.retry_at = None;
                s.attempts.push(AttemptInfo {
                    attempt: *attempt,
                    worker_id: worker_id.clone(),
                    claimed_at: at,
                    ended_at: None,
                    outcome: "running".into(),
                    failure: None,
                });
            }
            (S::Running, E::JobStarted { server_version, .. }) => {
                s.server_version = Some(server_version.clone());
            }
            (
                S::Running,
                E::JobProgress {
                    bytes_db,
                    bytes_storage,
                    lease_until,
                    ..
                },
            ) => {
                s.bytes_db = *bytes_db;
                s.bytes_storage = *bytes_storage;
                s.lease_until = Some(*lease_until);
            }
            (S::Running, E::BackupStored { manifest, .. }) => {
                if current.kind() != JobKind::Backup {
                    return Err(TransitionError::WrongKind {
                        event,
                        kind: current.kind(),
                    });
                }
                s.backup = Some(manifest.clone());
            }
            (S::Running, E::RestoreApplied { .. }) => {
                if current.kind() != JobKind::Restore {
                    return Err(TransitionError::WrongKind {
                        event,
                        kind: current.kind(),
                    });
                }
            }
            (S::Running, E::PartialArtifactRemoved { .. }) => {}
            (S::Running, E::BackupDeleted { .. }) => {
                if current.kind() != JobKind::Prune {
                    return Err(TransitionError::WrongKind {
                        event,
                        kind: current.kind(),
                    });
                }
            }
            (S::Running, E::JobSucceeded { .. }) => {
                if current.kind() == JobKind::Backup && current.backup.is_none() {
                    return Err(not_allowed());
                }
                s.status = S::Succeeded;
                s.lease_until = None;
                s.failure = None;
                end_attempt(&mut s, at, "succeeded", None);
            }
            (
                S::Running,
                E::JobFailed {
                    failure, retry_at, ..
                },
            ) => {
                end_unsuccessfully(&mut s, at, "failed", failure.clone(), *retry_at);
            }
            (S::Running, E::LeaseExpired { retry_at, .. }) => {
                let failure = Failure::retryable(
                    LEASE_EXPIRED,
                    "the worker stopped reporting before the attempt ended (crash, kill or lost connection)",
                );
                end_unsuccessfully(&mut s, at, "lease_expired", failure, *retry_at);
            }
            (S::Failed, E::JobDeadLettered { reason, .. }) if !current.dead_lettered => {
                s.dead_lettered = true;
                // An interrupted attempt has no failure of its own to show: the reason
                // it was not tried again says what happened and what to do.
                if s.failure.as_ref().is_some_and(|f| f.code == LEASE_EXPIRED) {
                    s.failure = Some(Failure::permanent("interrupted", reason.clone()));
                }
            }
            (S::Queued, E::JobRejected { failure }) if current.attempt == 0 => {
                s.status = S::Failed;
                s.failure = Some(failure.clone());
            }
            // A slot the schedule did not run: recorded in the same append as its JobQueued.
            (S::Queued, E::ScheduleSkipped { .. } | E::ScheduleMissed { .. })
                if current.attempt == 0 && current.kind() == JobKind::Backup =>
            {
                s.status = S::Cancelled;
            }
            (S::Queued | S::RetryDue, E::JobCancelled { .. }) => {
                s.status = S::Cancelled;
                s.retry_at = None;
            }
            _ => return Err(not_allowed()),
        }
        Ok(s)
    }

    /// May a new attempt claim this job at `now`? (The scheduler also checks per-target exclusivity.)
    pub fn claimable_at(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            JobStatus::Queued => true,
            JobStatus::RetryDue => self.retry_at.is_none_or(|t| t <= now),
            _ => false,
        }
    }

    /// Is the current attempt's lease over at `now`?
    pub fn lease_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.status == JobStatus::Running && self.lease_until.is_some_and(|t| t <= now)
    }

    pub fn attempts_left(&self) -> bool {
        self.attempt < self.max_attempts
    }
}

/// The attempt ended without success: retry at `retry_at`, or end the job failed.
fn end_unsuccessfully(
    s: &mut JobState,
    at: DateTime<Utc>,
    outcome: &str,
    failure: Failure,
    retry_at: Option<DateTime<Utc>>,
) {
    s.status = if retry_at.is_some() {
        JobStatus::RetryDue
    } else {
        JobStatus::Failed
    };
    s.retry_at = retry_at;
    s.lease_until = None;
    s.failure = Some(failure.clone());
    end_attempt(s, at, outcome, Some(failure));
}

fn end_attempt(s: &mut JobState, at: DateTime<Utc>, outcome: &str, failure: Option<Failure>) {
    if let Some(a) = s.attempts.last_mut() {
        a.ended_at = Some(at);
        a.outcome = outcome.to_string();
        a.failure = failure;
    }
}

#[cfg(test)]
mod tests;
