//! Events: the immutable facts of a job's life, and the envelope the ledger stores them in.

use crate::config::TargetSettings;
use crate::failure::Failure;
use crate::ids::{Attempt, BackupId, EventId, JobId, WorkerId};
use crate::job::{JobKind, JobSpec};
use crate::manifest::Manifest;
use crate::names::{TargetName, TokenName};
use crate::policy::Policy;
use crate::schedule::{PolicyId, PolicyVersion};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who appended an event: a service and, for workers, the worker id; for an event caused
/// by an API request, the name of the token that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerId>,
    /// The API token whose request caused the event (absent in ledgers written before
    /// tokens existed, and for events no request caused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenName>,
}

impl Actor {
    pub fn service(name: &str) -> Self {
        Self {
            service: name.to_string(),
            worker: None,
            token: None,
        }
    }
    pub fn worker(service: &str, worker: WorkerId) -> Self {
        Self {
            service: service.to_string(),
            worker: Some(worker),
            token: None,
        }
    }
    /// This actor, acting on a request made with `token`.
    pub fn on_behalf_of(self, token: TokenName) -> Self {
        Self {
            token: Some(token),
            ..self
        }
    }
}

/// What happened. On the wire (flattened into the envelope) this is `"type": "<EventType>"`
/// beside `"payload": {…}`; the names are the event types of design.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "payload")]
// Events are data read and written once each; boxing the manifest would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum EventPayload {
    JobQueued {
        spec: JobSpec,
        max_attempts: u32,
        /// Who asked: the API token's name for a request, `schedule:<policy>`, …
        requested_by: String,
    },
    JobClaimed {
        attempt: Attempt,
        worker_id: WorkerId,
        lease_until: DateTime<Utc>,
    },
    /// Preflight passed; the attempt is about to touch data.
    JobStarted {
        attempt: Attempt,
        server_version: String,
    },
    JobProgress {
        attempt: Attempt,
        /// Uncompressed bytes read from (backup) or written to (restore) the database.
        bytes_db: u64,
        /// Bytes written to (backup) or read from (restore) storage.
        bytes_storage: u64,
        lease_until: DateTime<Utc>,
    },
    BackupStored {
        attempt: Attempt,
        manifest: Manifest,
    },
    RestoreApplied {
        attempt: Attempt,
        source: TargetName,
        backup: BackupId,
        bytes: u64,
    },
    JobSucceeded {
        attempt: Attempt,
    },
    JobFailed {
        attempt: Attempt,
        failure: Failure,
        /// When another attempt may start; `None` ends the job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
    /// The attempt's lease ran out without word from its worker (crash, kill, partition).
    LeaseExpired {
        attempt: Attempt,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
    /// The job is given up and ends failed: its attempts are used up, or (`permanent`) the
    /// last one failed in a way no retry can fix.
    JobDeadLettered {
        attempts: u32,
        reason: String,
        /// The last attempt's failure was permanent: the job's end is that failure, already
        /// counted and told as `failed` by its `JobFailed`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        permanent: bool,
    },
    JobCancelled {
        reason: String,
    },
    /// The request was refused before any work (unknown target or backup): recorded so the
    /// history shows who asked for what, even when nothing ran.
    JobRejected {
        failure: Failure,
    },
    /// A partial upload left by an attempt was removed.
    PartialArtifactRemoved {
        attempt: Attempt,
        path: String,
    },
    /// A schedule's slot came while the target's previous job still ran: this slot's
    /// backup (queued by the schedule just before) is not run. Ends the job cancelled.
    ScheduleSkipped {
        slot: DateTime<Utc>,
        policy_version: PolicyVersion,
    },
    /// Slots of a schedule passed unfired (cairn was down longer than the catch-up window,
    /// or a newer slot superseded them): `count` slots from `first` to `last`, recorded on
    /// the job of `last`. Ends the job cancelled.
    ScheduleMissed {
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        count: u64,
        policy_version: PolicyVersion,
    },
    /// A prune or forget attempt deleted a backup: it is no longer listed, and its
    /// artifact is gone (or left for the sweeper, after a crash between the two steps).
    BackupDeleted {
        attempt: Attempt,
        backup: BackupId,
        reason: DeletionReason,
    },
    /// Configuration (a target's own stream, see `config`): the target was added.
    TargetAdded {
        settings: TargetSettings,
    },
    /// The target's URL, password reference, storage or CA file changed (`changed` names
    /// which). Never carries the password.
    TargetUpdated {
        changed: Vec<String>,
        settings: TargetSettings,
    },
    /// The target was removed; its backups stay in storage.
    TargetRemoved {},
    /// A new version of the target's policy, in force from `effective`.
    ScheduleSet {
        policy_id: PolicyId,
        version: PolicyVersion,
        policy: Policy,
        effective: DateTime<Utc>,
    },
    /// A new version of the target's policy without a schedule: nothing fires.
    ScheduleCleared {
        policy_id: PolicyId,
        version: PolicyVersion,
        effective: DateTime<Utc>,
    },
}

/// What kind of stream an event belongs to: a job's (its kind), or a target's
/// configuration. On the wire it is the job kind's word, or `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Backup,
    Restore,
    Prune,
    Check,
    Config,
}

impl StreamKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamKind::Backup => "backup",
            StreamKind::Restore => "restore",
            StreamKind::Prune => "prune",
            StreamKind::Check => "check",
            StreamKind::Config => "config",
        }
    }
    /// The job kind, for events of a job.
    pub fn job_kind(&self) -> Option<JobKind> {
        match self {
            StreamKind::Backup => Some(JobKind::Backup),
            StreamKind::Restore => Some(JobKind::Restore),
            StreamKind::Prune => Some(JobKind::Prune),
            StreamKind::Check => Some(JobKind::Check),
            StreamKind::Config => None,
        }
    }
}

impl From<JobKind> for StreamKind {
    fn from(k: JobKind) -> Self {
        match k {
            JobKind::Backup => StreamKind::Backup,
            JobKind::Restore => StreamKind::Restore,
            JobKind::Prune => StreamKind::Prune,
            JobKind::Check => StreamKind::Check,
        }
    }
}

impl std::fmt::Display for StreamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a backup was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletionReason {
    /// No retention rule keeps it (`cairn prune`, or the prune after a backup).
    Retention,
    /// Removed by name (`cairn forget`).
    Forgotten,
    /// Removed with its target (`cairn target remove --purge`).
    Purged,
}

impl DeletionReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeletionReason::Retention => "retention",
            DeletionReason::Forgotten => "forgotten",
            DeletionReason::Purged => "purged",
        }
    }
}

impl EventPayload {
    /// The event type name (`JobQueued`, …), as used in subjects and indexes.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventPayload::JobQueued { .. } => "JobQueued",
            EventPayload::JobClaimed { .. } => "JobClaimed",
            EventPayload::JobStarted { .. } => "JobStarted",
            EventPayload::JobProgress { .. } => "JobProgress",
            EventPayload::BackupStored { .. } => "BackupStored",
            EventPayload::RestoreApplied { .. } => "RestoreApplied",
            EventPayload::JobSucceeded { .. } => "JobSucceeded",
            EventPayload::JobFailed { .. } => "JobFailed",
            EventPayload::LeaseExpired { .. } => "LeaseExpired",
            EventPayload::JobDeadLettered { .. } => "JobDeadLettered",
            EventPayload::JobCancelled { .. } => "JobCancelled",
            EventPayload::JobRejected { .. } => "JobRejected",
            EventPayload::PartialArtifactRemoved { .. } => "PartialArtifactRemoved",
            EventPayload::ScheduleSkipped { .. } => "ScheduleSkipped",
            EventPayload::ScheduleMissed { .. } => "ScheduleMissed",
            EventPayload::BackupDeleted { .. } => "BackupDeleted",
            EventPayload::TargetAdded { .. } => "TargetAdded",
            EventPayload::TargetUpdated { .. } => "TargetUpdated",
            EventPayload::TargetRemoved {} => "TargetRemoved",
            EventPayload::ScheduleSet { .. } => "ScheduleSet",
            EventPayload::ScheduleCleared { .. } => "ScheduleCleared",
        }
    }

    /// The attempt an event belongs to, if it belongs to one (its fencing token).
    pub fn attempt(&self) -> Option<Attempt> {
        match self {
            EventPayload::JobClaimed { attempt, .. }
            | EventPayload::JobStarted { attempt, .. }
            | EventPayload::JobProgress { attempt, .. }
            | EventPayload::BackupStored { attempt, .. }
            | EventPayload::RestoreApplied { attempt, .. }
            | EventPayload::JobSucceeded { attempt }
            | EventPayload::JobFailed { attempt, .. }
            | EventPayload::LeaseExpired { attempt, .. }
            | EventPayload::PartialArtifactRemoved { attempt, .. }
            | EventPayload::BackupDeleted { attempt, .. } => Some(*attempt),
            EventPayload::JobQueued { .. }
            | EventPayload::JobDeadLettered { .. }
            | EventPayload::JobCancelled { .. }
            | EventPayload::JobRejected { .. }
            | EventPayload::ScheduleSkipped { .. }
            | EventPayload::ScheduleMissed { .. }
            | EventPayload::TargetAdded { .. }
            | EventPayload::TargetUpdated { .. }
            | EventPayload::TargetRemoved {}
            | EventPayload::ScheduleSet { .. }
            | EventPayload::ScheduleCleared { .. } => None,
        }
    }

    /// Is this an event of a target's configuration stream (not of a job)?
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            EventPayload::TargetAdded { .. }
                | EventPayload::TargetUpdated { .. }
                | EventPayload::TargetRemoved {}
                | EventPayload::ScheduleSet { .. }
                | EventPayload::ScheduleCleared { .. }
        )
    }
}

/// An event before the ledger gave it its sequence numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub actor: Actor,
    pub payload: EventPayload,
}

impl NewEvent {
    pub fn new(actor: Actor, payload: EventPayload) -> Self {
        Self { actor, payload }
    }
}

/// An event as stored: the envelope of design.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventEnvelope {
    pub event_id: EventId,
    pub job_id: JobId,
    /// 1, 2, 3 … within the job, without gaps.
    pub seq: u64,
    /// Ledger-wide, monotonic.
    pub global_seq: u64,
    pub at: DateTime<Utc>,
    /// The job's kind, or `config` for a target's configuration stream (then `job_id` is
    /// the stream's id, see `config::config_stream_id`).
    pub kind: StreamKind,
    pub target: TargetName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<Attempt>,
    pub actor: Actor,
    #[serde(flatten)]
    pub payload: EventPayload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_json_has_type_and_payload_and_round_trips() {
        let e = EventEnvelope {
            event_id: EventId::new(),
            job_id: JobId(uuid::Uuid::from_u128(1)),
            seq: 2,
            global_seq: 9,
            at: Utc::now(),
            kind: StreamKind::Backup,
            target: TargetName::parse("orders").unwrap(),
            attempt: Some(Attempt(1)),
            actor: Actor::service("scheduler"),
            payload: EventPayload::JobSucceeded {
                attempt: Attempt(1),
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "JobSucceeded");
        assert_eq!(json["payload"]["attempt"], 1);
        assert_eq!(json["attempt"], 1);
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text.matches("\"attempt\"").count(),
            2,
            "once in the envelope, once in the payload: {text}"
        );
        assert_eq!(serde_json::from_str::<EventEnvelope>(&text).unwrap(), e);
    }

    #[test]
    fn actors_without_a_token_read_and_write_as_before() {
        let old = r#"{"service":"scheduler"}"#;
        let actor: Actor = serde_json::from_str(old).unwrap();
        assert_eq!(actor, Actor::service("scheduler"));
        assert_eq!(serde_json::to_string(&actor).unwrap(), old);
        let by = actor.on_behalf_of(TokenName::parse("ci").unwrap());
        let json = serde_json::to_value(&by).unwrap();
        assert_eq!(json["token"], "ci");
        assert_eq!(serde_json::from_value::<Actor>(json).unwrap(), by);
    }
}
