//! The firing loop: turns each policy's due slots into backups, skips and misses.
//!
//! One pass ([`Scheduler::fire_due`]) takes `now` as a parameter, so tests drive time; the
//! loop ([`Scheduler::run_schedules`]) calls it with the system clock once a second. What to
//! do with a slot is the domain's [`decide`]; this file only records the answers:
//! - a fire appends `JobQueued` to the slot's deterministic job id ([`slot_job_id`]) with
//!   expected sequence 0, so a second pass, a restart or a second scheduler finds the job
//!   there and fires nothing (the ledger refuses the append);
//! - a skipped or missed slot is recorded on the same job id as `JobQueued` followed, in the
//!   same append, by `ScheduleSkipped` or `ScheduleMissed`, which end the job cancelled:
//!   every slot has exactly one fate, found under one id (`cairn job ID`, `cairn history`).
//!
//! After each pass that decided something, the target's cursor (the newest slot decided) is
//! stored, so a restart resumes there instead of re-deciding older slots.
//!
//! Between passes the next fire of every policy is kept in a min-heap ([`Armed`]), so a
//! pass reads only the due policies, and the loop sleeps until the earliest fire (at most
//! [`TICK`]): the fire lag is the time to record the due slots, not a tick.

use crate::core::{actor, Scheduler};
use cairn_domain::schedule::{decide, jitter, slot_job_id, Decision, DueCheck};
use cairn_domain::{
    EventPayload, JobId, JobKind, JobSpec, JobStatus, NewEvent, PolicyRecord, StorageName,
    TargetName,
};
use cairn_ledger::{LedgerError, ScheduleCursor};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::future::Future;
use std::time::Duration;

/// The longest the loop sleeps: it wakes at the next fire it knows of, and at least this
/// often to see policy changes.
pub const TICK: Duration = Duration::from_secs(1);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirePass {
    /// Backups queued (not those a previous pass or process had queued already).
    pub fired: Vec<JobId>,
    /// Slots recorded as skipped.
    pub skipped: usize,
    /// Slots recorded as missed.
    pub missed: u64,
}

/// `requested_by` of the jobs a target's schedule queues.
pub fn requested_by(target: &TargetName) -> String {
    format!("schedule:{target}")
}

/// The next fire of every policy in force, kept in memory between passes so that a pass
/// touches only the policies that are due. Rebuilt from the ledger whenever its
/// [`schedule generation`](cairn_ledger::Ledger::schedule_generation) moved (a policy was
/// set or cleared, a target added or removed, a cursor set from outside the loop).
#[derive(Default)]
pub(crate) struct Armed {
    generation: Option<u64>,
    next: BinaryHeap<Reverse<(DateTime<Utc>, TargetName)>>,
}

/// What deciding one due target produced.
struct TargetPass {
    fired: Vec<JobId>,
    skipped: usize,
    missed: u64,
    cursor: Option<ScheduleCursor>,
    /// When to look at this target again (`None`: it has no policy in force any more).
    next_fire: Option<DateTime<Utc>>,
}

/// How many due targets are decided at once: their appends share the ledger's flushes, so
/// the more wait on one flush the fewer flushes a busy minute needs (a flush costs the same
/// for one append as for thousands).
const CONCURRENT_TARGETS: usize = 16_384;

/// The instant `record`'s schedule next fires after `handled_through`, with its jitter.
fn fire_after(record: &PolicyRecord, handled_through: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let policy = record.policy.as_ref()?;
    let delay = jitter(&record.target, policy.jitter.as_duration());
    let next = policy.schedule.next_after(handled_through);
    Some(next + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX))
}

impl Scheduler {
    /// Where the schedule of `record` was decided up to.
    fn handled_through(&self, record: &PolicyRecord) -> Result<DateTime<Utc>, LedgerError> {
        Ok(match self.inner.ledger.schedule_cursor(&record.target)? {
            Some(c) if c.policy_id == record.policy_id && c.version == record.version => {
                c.handled_through.max(record.at)
            }
            _ => record.at,
        })
    }

    /// Decides and records every slot that came due up to `now`, for every policy in force
    /// whose target still exists. Due targets are decided concurrently (each one's slots
    /// in order), so their appends share flushes; the cursors they moved are written in one
    /// flush at the end.
    pub async fn fire_due(&self, now: DateTime<Utc>) -> Result<FirePass, LedgerError> {
        let ledger = &self.inner.ledger;
        let mut armed = self.inner.armed.lock().await;
        let generation = ledger.schedule_generation();
        if armed.generation != Some(generation) {
            armed.next.clear();
            for record in ledger.policies()? {
                let through = self.handled_through(&record)?;
                if let Some(at) = fire_after(&record, through) {
                    armed.next.push(Reverse((at, record.target)));
                }
            }
            armed.generation = Some(generation);
        }
        let mut due = Vec::new();
        while armed.next.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse((at, target))) = armed.next.pop() {
                due.push((at, target));
            }
        }
        let mut pass = FirePass::default();
        if due.is_empty() {
            return Ok(pass);
        }
        let busy = self.busy_targets()?;
        let results: Vec<_> = futures::stream::iter(due)
            .map(|(at, target)| {
                let busy = &busy;
                async move { (at, self.fire_target(&target, now, busy).await, target) }
            })
            .buffer_unordered(CONCURRENT_TARGETS)
            .collect()
            .await;
        let mut cursors = Vec::new();
        let mut failed = None;
        for (at, result, target) in results {
            match result {
                Ok(done) => {
                    pass.fired.extend(done.fired);
                    pass.skipped += done.skipped;
                    pass.missed += done.missed;
                    if let Some(cursor) = done.cursor {
                        cursors.push((target.clone(), cursor));
                    }
                    if let Some(next) = done.next_fire {
                        armed.next.push(Reverse((next, target)));
                    }
                }
                Err(e) => {
                    // Looked at again next pass; a slot recorded meanwhile is refused then.
                    armed.next.push(Reverse((at, target)));
                    failed.get_or_insert(e);
                }
            }
        }
        if let Err(e) = ledger.advance_schedule_cursors(&cursors).await {
            // The slots are recorded; without their cursors the next pass re-decides them
            // and the ledger refuses the repeats. Re-read everything then.
            armed.generation = None;
            return Err(e);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(pass),
        }
    }

    /// The earliest instant a policy fires next, as far as the last pass knew.
    pub async fn next_fire(&self) -> Option<DateTime<Utc>> {
        let armed = self.inner.armed.lock().await;
        armed.next.peek().map(|Reverse((at, _))| *at)
    }

    /// Decides one due target's slots up to `now` and records them in order.
    async fn fire_target(
        &self,
        target: &TargetName,
        now: DateTime<Utc>,
        busy: &HashSet<TargetName>,
    ) -> Result<TargetPass, LedgerError> {
        let ledger = &self.inner.ledger;
        let mut done = TargetPass {
            fired: Vec::new(),
            skipped: 0,
            missed: 0,
            cursor: None,
            next_fire: None,
        };
        let Some(record) = ledger.policy(target)? else {
            return Ok(done);
        };
        let Some(policy) = &record.policy else {
            return Ok(done);
        };
        let handled_through = self.handled_through(&record)?;
        done.next_fire = fire_after(&record, handled_through);
        if done.next_fire.is_none_or(|at| at > now) {
            return Ok(done);
        }
        // A removed target's schedule does not fire (looked at again next pass).
        let Some(target) = ledger.target(target)? else {
            return Ok(done);
        };
        // Scheduled backups go to the policy's storage, or else the target's.
        let storage = policy.storage.clone().unwrap_or(target.storage);
        let check = DueCheck {
            handled_through,
            now,
            catch_up: policy.catch_up,
            previous_running: busy.contains(&record.target),
            jitter: jitter(&record.target, policy.jitter.as_duration()),
        };
        let decisions = decide(&policy.schedule, &check);
        for decision in &decisions {
            self.record(&record, &storage, decision, &mut done).await?;
        }
        if let Some(last) = decisions.last() {
            done.cursor = Some(ScheduleCursor {
                policy_id: record.policy_id,
                version: record.version,
                handled_through: last.slot(),
            });
            done.next_fire = fire_after(&record, last.slot());
        }
        Ok(done)
    }

    /// Targets whose previous job still runs: any running job, or a backup not yet started.
    fn busy_targets(&self) -> Result<HashSet<TargetName>, LedgerError> {
        let ledger = &self.inner.ledger;
        let running = ledger.jobs_in(&[JobStatus::Running])?;
        let waiting = ledger.jobs_in(&[JobStatus::Queued, JobStatus::RetryDue])?;
        Ok(running
            .into_iter()
            .chain(waiting.into_iter().filter(|j| j.kind() == JobKind::Backup))
            .map(|j| j.spec.target().clone())
            .collect())
    }

    async fn record(
        &self,
        record: &PolicyRecord,
        storage: &StorageName,
        decision: &Decision,
        pass: &mut TargetPass,
    ) -> Result<(), LedgerError> {
        let target = &record.target;
        let spec = JobSpec::Backup {
            target: target.clone(),
            storage: storage.clone(),
        };
        let version = record.version;
        let after = match *decision {
            Decision::Fire { .. } => None,
            Decision::Skipped { slot } => Some(EventPayload::ScheduleSkipped {
                slot,
                policy_version: version,
            }),
            Decision::Missed { slot } => Some(EventPayload::ScheduleMissed {
                first: slot,
                last: slot,
                count: 1,
                policy_version: version,
            }),
            Decision::MissedRun { first, last, count } => Some(EventPayload::ScheduleMissed {
                first,
                last,
                count,
                policy_version: version,
            }),
        };
        let job_id = slot_job_id(record.policy_id, version, decision.slot());
        let events: Vec<NewEvent> = std::iter::once(self.queued(spec, &requested_by(target)))
            .chain(after.clone())
            .map(|p| NewEvent::new(actor(), p))
            .collect();
        match self.inner.ledger.append(job_id, 0, events).await {
            Ok(_) => {}
            // This slot's fate was recorded before (a restart, or another scheduler).
            Err(LedgerError::Conflict { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        match after {
            None => {
                tracing::info!(target = %target, %job_id, slot = %decision.slot(), "schedule fired");
                if let Some(state) = self.inner.ledger.job(job_id)? {
                    self.publish(&state).await;
                }
                pass.fired.push(job_id);
            }
            Some(EventPayload::ScheduleMissed { count, .. }) => {
                tracing::warn!(target = %target, %job_id, count, slot = %decision.slot(), "schedule slots missed");
                pass.missed += count;
            }
            Some(_) => {
                tracing::warn!(target = %target, %job_id, slot = %decision.slot(), "schedule slot skipped: the previous job still runs");
                pass.skipped += 1;
            }
        }
        Ok(())
    }

    /// Runs [`Scheduler::fire_due`] with the system clock until `shutdown`: at the next
    /// fire instant it knows of, and at least every [`TICK`] (to see policy changes).
    pub async fn run_schedules(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.fire_due(Utc::now()).await {
                tracing::error!(error = %e, "firing schedules failed; trying again at the next tick");
            }
            let wait = match self.next_fire().await {
                Some(at) => (at - Utc::now()).to_std().unwrap_or_default().min(TICK),
                None => TICK,
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
