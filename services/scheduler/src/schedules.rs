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
use cairn_ledger::{JobAppend, LedgerError, ScheduleCursor};
use chrono::{DateTime, TimeDelta, Utc};
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
struct TargetPlan {
    target: TargetName,
    /// Its due slots, in order.
    slots: Vec<Slot>,
    cursor: Option<ScheduleCursor>,
    /// When to look at this target again (`None`: it has no policy in force any more).
    next_fire: Option<DateTime<Utc>>,
}

/// One due slot and what recording it appends.
struct Slot {
    slot: DateTime<Utc>,
    fate: Fate,
    append: JobAppend,
}

#[derive(Clone, Copy)]
enum Fate {
    Fired,
    Skipped,
    Missed(u64),
}

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
    /// whose target still exists. Every due slot of the pass is recorded in one
    /// [batch](cairn_ledger::Ledger::append_batch) (a few hundred slots per transaction,
    /// flushes shared); the cursors they moved are written in one flush at the end.
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
        // Decide every due target (reads and pure code), then record all their slots in
        // one batch: one transaction per few hundred slots instead of one per slot.
        let mut plans = Vec::with_capacity(due.len());
        let mut failed = None;
        for (at, target) in due {
            match self.plan_target(&target, now, &busy) {
                Ok(plan) => plans.push((at, plan)),
                Err(e) => {
                    armed.next.push(Reverse((at, target)));
                    failed.get_or_insert(e);
                }
            }
        }
        let batch: Vec<JobAppend> = plans
            .iter()
            .flat_map(|(_, plan)| plan.slots.iter().map(|slot| slot.append.clone()))
            .collect();
        let mut results = match ledger.append_batch(batch).await {
            Ok(results) => results.into_iter(),
            Err(e) => {
                // Nothing of this pass is known to be recorded: decide it all again.
                for (at, plan) in plans {
                    armed.next.push(Reverse((at, plan.target)));
                }
                return Err(e);
            }
        };
        let mut cursors = Vec::new();
        for (at, plan) in plans {
            let mut target_failed = false;
            for slot in &plan.slots {
                let result = results.next().expect("one result per slot");
                match result {
                    Ok(_) => self.recorded(&plan.target, slot, &mut pass).await,
                    // This slot's fate was recorded before (a restart, or another scheduler).
                    Err(LedgerError::Conflict { .. }) => {}
                    Err(e) => {
                        target_failed = true;
                        failed.get_or_insert(e);
                    }
                }
            }
            if target_failed {
                // Looked at again next pass; the slots recorded meanwhile are refused then.
                armed.next.push(Reverse((at, plan.target)));
                continue;
            }
            if let Some(cursor) = plan.cursor {
                cursors.push((plan.target.clone(), cursor));
            }
            if let Some(next) = plan.next_fire {
                armed.next.push(Reverse((next, plan.target)));
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

    /// Decides one due target's slots up to `now`: what to append for each, in order.
    fn plan_target(
        &self,
        target: &TargetName,
        now: DateTime<Utc>,
        busy: &HashSet<TargetName>,
    ) -> Result<TargetPlan, LedgerError> {
        let ledger = &self.inner.ledger;
        let mut plan = TargetPlan {
            target: target.clone(),
            slots: Vec::new(),
            cursor: None,
            next_fire: None,
        };
        let Some(record) = ledger.policy(target)? else {
            return Ok(plan);
        };
        let Some(policy) = &record.policy else {
            return Ok(plan);
        };
        let handled_through = self.handled_through(&record)?;
        plan.next_fire = fire_after(&record, handled_through);
        if plan.next_fire.is_none_or(|at| at > now) {
            return Ok(plan);
        }
        // A removed target's schedule does not fire (looked at again next pass).
        let Some(target) = ledger.target(target)? else {
            return Ok(plan);
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
        plan.slots = decisions
            .iter()
            .map(|decision| self.slot(&record, &storage, decision))
            .collect();
        if let Some(last) = decisions.last() {
            plan.cursor = Some(ScheduleCursor {
                policy_id: record.policy_id,
                version: record.version,
                handled_through: last.slot(),
            });
            plan.next_fire = fire_after(&record, last.slot());
        }
        Ok(plan)
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

    /// What recording `decision` appends: `JobQueued` on the slot's job id, followed by
    /// the skip or miss when the slot does not fire.
    fn slot(&self, record: &PolicyRecord, storage: &StorageName, decision: &Decision) -> Slot {
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
        let fate = match &after {
            None => Fate::Fired,
            Some(EventPayload::ScheduleMissed { count, .. }) => Fate::Missed(*count),
            Some(_) => Fate::Skipped,
        };
        let events = std::iter::once(self.queued(spec, &requested_by(target)))
            .chain(after)
            .map(|p| NewEvent::new(actor(), p))
            .collect();
        Slot {
            slot: decision.slot(),
            fate,
            append: JobAppend {
                job_id: slot_job_id(record.policy_id, version, decision.slot()),
                expected_seq: 0,
                events,
            },
        }
    }

    /// Counts, logs and (for a fire) publishes a slot the ledger has just recorded.
    async fn recorded(&self, target: &TargetName, slot: &Slot, pass: &mut FirePass) {
        let job_id = slot.append.job_id;
        match slot.fate {
            Fate::Fired => {
                tracing::info!(target = %target, %job_id, slot = %slot.slot, "schedule fired");
                self.publish_job(job_id, JobKind::Backup, target).await;
                pass.fired.push(job_id);
            }
            Fate::Missed(count) => {
                tracing::warn!(target = %target, %job_id, count, slot = %slot.slot, "schedule slots missed");
                pass.missed += count;
            }
            Fate::Skipped => {
                tracing::warn!(target = %target, %job_id, slot = %slot.slot, "schedule slot skipped: the previous job still runs");
                pass.skipped += 1;
            }
        }
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
