//! The fold behind the metrics: which jobs are open, and what an event that ends one
//! means. Pure: no clock, no I/O. Memory is bounded by the jobs not yet ended.

use cairn_domain::{Engine, EventEnvelope, EventPayload, JobId, JobKind, TargetName};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// How a job ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Succeeded,
    /// A permanent failure (nothing to retry).
    Failed,
    /// Out of attempts, or interrupted and not resumed.
    DeadLettered,
    /// Refused before any work (unknown target or backup, …).
    Rejected,
    Cancelled,
    /// A schedule slot not run because the target's previous job still ran.
    Skipped,
    /// Schedule slots that passed while cairn was down.
    Missed,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::DeadLettered,
        Outcome::Rejected,
        Outcome::Cancelled,
        Outcome::Skipped,
        Outcome::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
            Outcome::Missed => "missed",
        }
    }

    /// The end an event records, if it records one. A failure that is retried ends
    /// nothing; one that runs out of attempts is followed (in the same append) by
    /// `JobDeadLettered`, which is the end counted.
    pub fn of_event(payload: &EventPayload) -> Option<Outcome> {
        match payload {
            EventPayload::JobSucceeded { .. } => Some(Outcome::Succeeded),
            EventPayload::JobFailed {
                failure,
                retry_at: None,
                ..
            } if !failure.retryable => Some(Outcome::Failed),
            // Its JobFailed, just before, is the end counted.
            EventPayload::JobDeadLettered {
                permanent: true, ..
            } => None,
            EventPayload::JobDeadLettered { .. } => Some(Outcome::DeadLettered),
            EventPayload::JobRejected { .. } => Some(Outcome::Rejected),
            EventPayload::JobCancelled { .. } => Some(Outcome::Cancelled),
            EventPayload::ScheduleSkipped { .. } => Some(Outcome::Skipped),
            EventPayload::ScheduleMissed { .. } => Some(Outcome::Missed),
            _ => None,
        }
    }
}

/// A job that has not ended.
#[derive(Debug)]
struct Open {
    kind: JobKind,
    target: TargetName,
    engine: String,
    first_claim: Option<DateTime<Utc>>,
    stored_bytes: Option<u64>,
}

/// A job that ended with one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ended {
    pub kind: JobKind,
    pub target: TargetName,
    pub engine: String,
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
    /// Seconds from the first claim to the end; `None` when no worker ever claimed it.
    pub worked_seconds: Option<f64>,
    /// The stored size of the backup a successful backup job wrote.
    pub stored_bytes: Option<u64>,
}

/// What one event changed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Step {
    /// A job was queued: its kind, target and engine (`None` if the target is unknown).
    pub queued: Option<(JobKind, TargetName, Option<Engine>)>,
    pub ended: Option<Ended>,
}

/// The jobs that are open.
#[derive(Debug, Default)]
pub(crate) struct Fold {
    open: HashMap<JobId, Open>,
}

/// The `engine` label of a target whose engine is not known any more (removed target).
const UNKNOWN: &str = "unknown";

impl Fold {
    pub fn apply(
        &mut self,
        event: &EventEnvelope,
        engine_of: impl FnOnce(&TargetName) -> Option<Engine>,
    ) -> Step {
        let mut step = Step::default();
        if let EventPayload::JobQueued { spec, .. } = &event.payload {
            let target = spec.target().clone();
            let engine = engine_of(&target);
            self.open.insert(
                event.job_id,
                Open {
                    kind: spec.kind(),
                    target: target.clone(),
                    engine: engine.map_or(UNKNOWN, |e| e.as_str()).to_string(),
                    first_claim: None,
                    stored_bytes: None,
                },
            );
            step.queued = Some((spec.kind(), target, engine));
        }
        let Some(open) = self.open.get_mut(&event.job_id) else {
            return step;
        };
        match &event.payload {
            EventPayload::JobClaimed { .. } => {
                open.first_claim.get_or_insert(event.at);
            }
            EventPayload::BackupStored { manifest, .. } => {
                open.engine = manifest.engine.as_str().to_string();
                open.stored_bytes = Some(manifest.stored_bytes);
            }
            _ => {}
        }
        if let Some(outcome) = Outcome::of_event(&event.payload) {
            if let Some(open) = self.open.remove(&event.job_id) {
                step.ended = Some(Ended {
                    worked_seconds: open
                        .first_claim
                        .map(|t| (event.at - t).num_milliseconds().max(0) as f64 / 1000.0),
                    stored_bytes: open.stored_bytes.filter(|_| open.kind == JobKind::Backup),
                    kind: open.kind,
                    target: open.target,
                    engine: open.engine,
                    outcome,
                    at: event.at,
                });
            }
        }
        step
    }

    #[cfg(test)]
    pub fn open_jobs(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests;
