//! The scheduler's decisions on a job, as pure functions over [`JobState`]: may it be
//! claimed now, what follows a failed or interrupted attempt, and whether a progress
//! report is worth a ledger event. The scheduler only reads the ledger, calls these, and
//! writes what they return.

use crate::event::EventPayload;
use crate::failure::Failure;
use crate::ids::Attempt;
use crate::job::JobStatus;
use crate::state::{AfterInterruption, JobState};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A progress report becomes a ledger event at most this often …
pub const PROGRESS_EVERY: Duration = Duration::from_secs(15);
/// … unless the attempt moved at least this many bytes since the last recorded one.
pub const PROGRESS_STEP: u64 = 1 << 30;

/// How failed and interrupted attempts are retried. The number of attempts is the job's
/// own (`JobQueued.max_attempts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the second attempt; doubled for each further one …
    pub backoff: Duration,
    /// … up to this.
    pub max_backoff: Duration,
    /// How long after its first claim an interrupted restore is still resumed.
    pub restore_resume_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            restore_resume_window: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after `attempt` (1-based): doubling, capped.
    pub fn backoff_after(&self, attempt: Attempt) -> Duration {
        let factor = 1u32 << attempt.0.saturating_sub(1).min(16);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What a claim of a job may lead to, before per-target exclusivity (which needs the
/// other running jobs, and is the scheduler's to check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimDecision {
    /// The job may start attempt `attempt`.
    Claimable { attempt: Attempt },
    /// The running attempt's lease lapsed: expire it ([`decide_expiry`]), then decide again.
    ExpireLease,
    /// A retry is not due yet: come back after `retry_after`.
    NotDue { retry_after: Duration },
    /// It runs under a live lease, has ended, or was cancelled: drop the message.
    Denied { reason: String },
}

/// Decides a claim at `now`. `lease_until` is the running attempt's lease as the
/// scheduler holds it (in memory); `None` for a running job means "alive".
pub fn decide_claim(
    state: &JobState,
    lease_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ClaimDecision {
    match state.status {
        JobStatus::Running if lease_until.is_some_and(|t| t <= now) => ClaimDecision::ExpireLease,
        JobStatus::Running => ClaimDecision::Denied {
            reason: format!("attempt {} holds a live lease", state.attempt),
        },
        s if s.is_terminal() => ClaimDecision::Denied {
            reason: format!("the job is {s}"),
        },
        JobStatus::RetryDue if state.retry_at.is_some_and(|t| t > now) => {
            let wait = state.retry_at.map_or(Duration::ZERO, |t| {
                (t - now).to_std().unwrap_or(Duration::ZERO)
            });
            ClaimDecision::NotDue {
                retry_after: wait.max(Duration::from_millis(50)),
            }
        }
        _ => ClaimDecision::Claimable {
            attempt: Attempt(state.attempt + 1),
        },
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureDecision {
    /// Another attempt may start at `at` (after `delay`).
    Retry { delay: Duration, at: DateTime<Utc> },
    /// The job is dead-lettered: a retryable failure with the attempts used up, or
    /// (`permanent`) a failure no retry can fix, after one attempt.
    DeadLetter { reason: String, permanent: bool },
}

impl FailureDecision {
    /// The ledger events that record the failure of `attempt` and this decision.
    pub fn events(&self, attempt: Attempt, failure: &Failure) -> Vec<EventPayload> {
        let retry_at = match self {
            FailureDecision::Retry { at, .. } => Some(*at),
            _ => None,
        };
        let mut events = vec![EventPayload::JobFailed {
            attempt,
            failure: failure.clone(),
            retry_at,
        }];
        if let FailureDecision::DeadLetter { reason, permanent } = self {
            events.push(EventPayload::JobDeadLettered {
                attempts: attempt.0,
                reason: reason.clone(),
                permanent: *permanent,
            });
        }
        events
    }

    /// How long until the job's message should come back, if it is retried.
    pub fn retry_in(&self) -> Option<Duration> {
        match self {
            FailureDecision::Retry { delay, .. } => Some(*delay),
            _ => None,
        }
    }
}

/// Decides, at `now`, what follows `failure` of the job's current attempt.
pub fn decide_failure(
    state: &JobState,
    failure: &Failure,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> FailureDecision {
    if !failure.retryable {
        return FailureDecision::DeadLetter {
            reason: format!(
                "{} is permanent: retrying cannot help; fix the cause and start a new job",
                failure.code
            ),
            permanent: true,
        };
    }
    if !state.attempts_left() {
        return FailureDecision::DeadLetter {
            reason: format!("gave up after {} attempts", state.attempt),
            permanent: false,
        };
    }
    let delay = policy.backoff_after(Attempt(state.attempt));
    let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
    FailureDecision::Retry { delay, at }
}

/// The ledger events that end the current attempt whose lease lapsed at `now`: retried at
/// once while attempts are left (restores only within their resume window), otherwise
/// dead-lettered with a reason that says what to do.
pub fn decide_expiry(
    state: &JobState,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> Vec<EventPayload> {
    let attempt = Attempt(state.attempt);
    match state.after_interruption(now, policy.restore_resume_window) {
        AfterInterruption::Retry => vec![EventPayload::LeaseExpired {
            attempt,
            retry_at: Some(now),
        }],
        AfterInterruption::DeadLetter { reason } => vec![
            EventPayload::LeaseExpired {
                attempt,
                retry_at: None,
            },
            EventPayload::JobDeadLettered {
                attempts: state.attempt,
                reason,
                permanent: false,
            },
        ],
    }
}

/// The last progress of an attempt that was recorded in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressMark {
    pub at: DateTime<Utc>,
    /// The larger of the attempt's two byte counters then.
    pub bytes: u64,
}

/// Is a progress report of `bytes` at `now` worth a ledger event, after `last`? The first
/// one is; later ones after [`PROGRESS_EVERY`] or [`PROGRESS_STEP`] more bytes.
pub fn progress_due(last: Option<&ProgressMark>, now: DateTime<Utc>, bytes: u64) -> bool {
    let Some(last) = last else {
        return true;
    };
    let every = chrono::Duration::from_std(PROGRESS_EVERY).unwrap_or(chrono::Duration::zero());
    now - last.at >= every || bytes.saturating_sub(last.bytes) >= PROGRESS_STEP
}

#[cfg(test)]
mod tests;
