//! Leases of running attempts, held in the scheduler's memory (not in the ledger): a
//! renewal is a map update, not a durable event. The ledger still records each claim's
//! first lease (`JobClaimed.lease_until`) and the lease at each recorded progress.
//!
//! After a restart the map is empty: a running attempt then gets a fresh lease window
//! from the moment the scheduler first looks at it (its worker may well be alive and
//! renewing). An embedded `cairn up`, whose workers died with it, expires such attempts at
//! start instead (`expire_orphaned_attempts`).

use cairn_domain::control::{progress_due, ProgressMark};
use cairn_domain::{Attempt, JobId, JobState, JobStatus};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
struct Lease {
    attempt: Attempt,
    until: DateTime<Utc>,
    /// The attempt's last progress recorded in the ledger.
    progress: Option<ProgressMark>,
}

/// job → lease of its running attempt.
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<HashMap<JobId, Lease>>);

impl Leases {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Lease>> {
        // A panic while holding this lock leaves a consistent map (every update is one
        // insert or remove), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new attempt holds the job until `until`.
    pub fn grant(&self, job: JobId, attempt: Attempt, until: DateTime<Utc>) {
        let lease = Lease {
            attempt,
            until,
            progress: None,
        };
        self.map().insert(job, lease);
    }

    /// The lease of the job's running attempt; one it has no entry for (the scheduler
    /// restarted) gets `fresh`. `None` when the job is not running.
    pub fn of(&self, state: &JobState, fresh: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if state.status != JobStatus::Running {
            return None;
        }
        let attempt = Attempt(state.attempt);
        let mut map = self.map();
        let lease = map
            .entry(state.job_id)
            .and_modify(|l| {
                if l.attempt != attempt {
                    *l = Lease {
                        attempt,
                        until: fresh,
                        progress: None,
                    };
                }
            })
            .or_insert(Lease {
                attempt,
                until: fresh,
                progress: None,
            });
        Some(lease.until)
    }

    /// The lease this scheduler holds for the job's running attempt, if any (no side
    /// effect: for views).
    pub fn peek(&self, state: &JobState) -> Option<DateTime<Utc>> {
        let map = self.map();
        map.get(&state.job_id)
            .filter(|l| state.status == JobStatus::Running && l.attempt.0 == state.attempt)
            .map(|l| l.until)
    }

    /// Extends the lease of `attempt` (checked current by the caller) to `until`.
    pub fn renew(&self, job: JobId, attempt: Attempt, until: DateTime<Utc>) {
        let mut map = self.map();
        match map.get_mut(&job) {
            Some(l) if l.attempt == attempt => l.until = l.until.max(until),
            _ => {
                map.insert(
                    job,
                    Lease {
                        attempt,
                        until,
                        progress: None,
                    },
                );
            }
        }
    }

    /// Is a progress report of `bytes` worth a ledger event now?
    pub fn progress_due(
        &self,
        job: JobId,
        attempt: Attempt,
        now: DateTime<Utc>,
        bytes: u64,
    ) -> bool {
        let map = self.map();
        let last = map
            .get(&job)
            .filter(|l| l.attempt == attempt)
            .and_then(|l| l.progress);
        progress_due(last.as_ref(), now, bytes)
    }

    /// A progress event of `attempt` was recorded.
    pub fn recorded_progress(&self, job: JobId, attempt: Attempt, mark: ProgressMark) {
        if let Some(l) = self.map().get_mut(&job).filter(|l| l.attempt == attempt) {
            l.progress = Some(mark);
        }
    }

    /// The attempt ended: its lease is gone.
    pub fn end(&self, job: JobId) {
        self.map().remove(&job);
    }

    /// Drops the leases of jobs that no longer run (ended by another path).
    pub fn retain_running(&self, running: &[JobState]) {
        let ids: std::collections::HashSet<JobId> = running.iter().map(|j| j.job_id).collect();
        self.map().retain(|job, _| ids.contains(job));
    }
}
