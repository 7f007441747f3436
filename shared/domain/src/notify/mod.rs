//! Notifications: webhooks told when a job ends.
//!
//! A [`Notifier`] names a webhook URL and which job ends it wants (outcome, kind,
//! target). When one matches, the scheduler POSTs a [`Notification`] to it, signed when
//! the notifier has a secret, and records every delivery attempt as a
//! [`Delivery`]. Which URLs may be called at all is decided in `endpoint.rs`.

pub mod endpoint;

use crate::event::EventPayload;
use crate::failure::Failure;
use crate::job::JobKind;
use crate::names::{NotifierName, TargetName};
use crate::state::JobState;
use crate::{BackupId, JobId};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a job ended, as notifications tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    Succeeded,
    /// Ended by a permanent failure (bad credentials, a refused restore, …).
    Failed,
    /// Ended because every attempt failed with a retryable failure.
    Dead,
}

impl NotifyOn {
    pub const ALL: [NotifyOn; 3] = [NotifyOn::Succeeded, NotifyOn::Failed, NotifyOn::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOn::Succeeded => "succeeded",
            NotifyOn::Failed => "failed",
            NotifyOn::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<NotifyOn> {
        NotifyOn::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The job end an event records, if it records one. A failure that will be retried
    /// ends nothing; running out of attempts is `dead`, recorded by its own event.
    pub fn of_event(payload: &EventPayload) -> Option<NotifyOn> {
        match payload {
            EventPayload::JobSucceeded { .. } => Some(NotifyOn::Succeeded),
            EventPayload::JobFailed {
                failure,
                retry_at: None,
                ..
            } if !failure.retryable => Some(NotifyOn::Failed),
            // Its JobFailed, just before, is the end told.
            EventPayload::JobDeadLettered {
                permanent: true, ..
            } => None,
            EventPayload::JobDeadLettered { .. } => Some(NotifyOn::Dead),
            _ => None,
        }
    }
}

impl fmt::Display for NotifyOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored notifier. The secret is only the name of an environment variable of the
/// server, read when a notification is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notifier {
    pub name: NotifierName,
    /// The webhook URL (http or https, no user or password in it).
    pub webhook: String,
    /// Which outcomes are told (all when the request named none).
    pub on: Vec<NotifyOn>,
    /// Which kinds of job are told (all when the request named none).
    pub kinds: Vec<JobKind>,
    /// Only this target's jobs, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetName>,
    /// The environment variable holding the signing secret, if notifications are signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Whether link-local and cloud metadata addresses were allowed explicitly.
    #[serde(default)]
    pub allow_private_endpoint: bool,
    pub created_at: DateTime<Utc>,
    /// The token that added it.
    pub created_by: String,
}

impl Notifier {
    /// Whether this notifier wants to hear of this job end.
    pub fn wants(&self, outcome: NotifyOn, job: &JobState) -> bool {
        self.on.contains(&outcome)
            && self.kinds.contains(&job.kind())
            && self.target.as_ref().is_none_or(|t| t == job.spec.target())
    }
}

/// `POST /v1/notifiers`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NotifierAddRequest {
    pub name: String,
    pub webhook: String,
    /// Empty: every outcome.
    #[serde(default)]
    pub on: Vec<NotifyOn>,
    /// Empty: every kind.
    #[serde(default)]
    pub kinds: Vec<JobKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub allow_private_endpoint: bool,
}

/// The body POSTed to a webhook when a job ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    /// Always `job.ended`.
    pub event: String,
    /// The notifier this was sent for.
    pub notifier: NotifierName,
    pub job_id: JobId,
    pub kind: JobKind,
    /// The target the job wrote (restore) or read (backup).
    pub target: TargetName,
    pub outcome: NotifyOn,
    /// The backup made (backup) or restored (restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<BackupId>,
    /// For a restore from another target: that target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TargetName>,
    /// Uncompressed bytes read from (backup) or written to (restore) the database.
    pub bytes_db: u64,
    /// Bytes written to (backup) or read from (restore) storage.
    pub bytes_storage: u64,
    pub attempts: u32,
    pub queued_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// From queued to ended.
    pub duration_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Who asked for the job (a token's name, or a schedule).
    pub requested_by: String,
}

impl Notification {
    /// The notification of a job that ended with `outcome`.
    pub fn of(notifier: &Notifier, outcome: NotifyOn, job: &JobState) -> Notification {
        use crate::job::JobSpec;
        let (backup_id, source) = match &job.spec {
            JobSpec::Restore { source, backup, .. } => {
                let other = (source != job.spec.target()).then(|| source.clone());
                (Some(backup.clone()), other)
            }
            _ => (job.backup.as_ref().map(|m| m.id.clone()), None),
        };
        let duration = (job.updated_at - job.queued_at).num_milliseconds().max(0) as f64 / 1000.0;
        Notification {
            event: "job.ended".to_string(),
            notifier: notifier.name.clone(),
            job_id: job.job_id,
            kind: job.kind(),
            target: job.spec.target().clone(),
            outcome,
            backup_id,
            source,
            // A backup's manifest has the final sizes; progress reports may lag them.
            bytes_db: job.backup.as_ref().map_or(job.bytes_db, |m| m.size_bytes),
            bytes_storage: job
                .backup
                .as_ref()
                .map_or(job.bytes_storage, |m| m.stored_bytes),
            attempts: job.attempt,
            queued_at: job.queued_at,
            ended_at: job.updated_at,
            duration_seconds: duration,
            failure: job.failure.clone(),
            requested_by: job.requested_by.clone(),
        }
    }
}

/// One delivery attempt of a notification, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    pub id: u64,
    pub notifier: NotifierName,
    pub job_id: JobId,
    pub outcome: NotifyOn,
    /// 1 for the first try.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// Whether the webhook answered 2xx.
    pub delivered: bool,
    /// The HTTP status the webhook answered, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether another attempt follows.
    pub will_retry: bool,
}
