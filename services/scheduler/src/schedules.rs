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

use crate::core::{actor, Scheduler};
use cairn_domain::schedule::{decide, jitter, slot_job_id, Decision, DueCheck};
use cairn_domain::{
    EventPayload, JobId, JobKind, JobSpec, JobStatus, NewEvent, PolicyRecord, StorageName,
    TargetName,
};
use cairn_ledger::{LedgerError, ScheduleCursor};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

/// How often the loop looks for due slots (the fire lag is at most this).
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

impl Scheduler {
    /// Decides and records every slot that came due up to `now`, for every policy in force
    /// whose target still exists.
    pub async fn fire_due(&self, now: DateTime<Utc>) -> Result<FirePass, LedgerError> {
        let ledger = &self.inner.ledger;
        let mut pass = FirePass::default();
        let mut busy: Option<HashSet<TargetName>> = None;
        for record in ledger.policies()? {
            let Some(policy) = &record.policy else {
                continue;
            };
            let handled_through = match ledger.schedule_cursor(&record.target)? {
                Some(c) if c.policy_id == record.policy_id && c.version == record.version => {
                    c.handled_through.max(record.at)
                }
                _ => record.at,
            };
            let delay = jitter(&record.target, policy.jitter.as_duration());
            let next = policy.schedule.next_after(handled_through);
            if next + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX) > now {
                continue;
            }
            // A removed target's schedule does not fire.
            let Some(target) = ledger.target(&record.target)? else {
                continue;
            };
            // Scheduled backups go to the policy's storage, or else the target's.
            let storage = policy.storage.clone().unwrap_or(target.storage);
            let busy = match &mut busy {
                Some(set) => set,
                None => busy.insert(self.busy_targets()?),
            };
            let check = DueCheck {
                handled_through,
                now,
                catch_up: policy.catch_up,
                previous_running: busy.contains(&record.target),
                jitter: delay,
            };
            let decisions = decide(&policy.schedule, &check);
            for decision in &decisions {
                self.record(&record, &storage, decision, &mut pass).await?;
            }
            if let Some(last) = decisions.last() {
                let cursor = ScheduleCursor {
                    policy_id: record.policy_id,
                    version: record.version,
                    handled_through: last.slot(),
                };
                ledger.set_schedule_cursor(&record.target, &cursor).await?;
            }
        }
        Ok(pass)
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
        pass: &mut FirePass,
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

    /// Runs [`Scheduler::fire_due`] with the system clock every [`TICK`] until `shutdown`.
    pub async fn run_schedules(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {
                    if let Err(e) = self.fire_due(Utc::now()).await {
                        tracing::error!(error = %e, "firing schedules failed; trying again at the next tick");
                    }
                }
            }
        }
    }
}
