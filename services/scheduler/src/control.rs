//! The scheduler's side of `cairn.ctl.*`: claims with per-target and per-database
//! exclusivity, lease renewals in memory, appends fenced by the attempt number, and
//! failures. Every decision is a pure function of `cairn_domain::control`; this file only
//! reads the ledger, asks, and writes the answer.

use crate::core::{actor, Scheduler};
use async_trait::async_trait;
use cairn_bus::{
    AppendReply, AppendRequest, ClaimReply, ClaimRequest, Control, ControlError, FailReply,
    FailRequest, Grant, RenewReply, RenewRequest, WorkerEvent,
};
use cairn_domain::control::{
    decide_claim, decide_expiry, decide_failure, ClaimDecision, ProgressMark,
};
use cairn_domain::resource;
use cairn_domain::{
    Attempt, EventPayload, JobId, JobKind, JobSpec, JobState, JobStatus, NewEvent, StorageName,
    WorkerId,
};
use cairn_ledger::LedgerError;
use chrono::{DateTime, Utc};

/// Appends retried this many times when another writer moved the job first.
const CAS_TRIES: usize = 5;

fn unavailable(e: LedgerError) -> ControlError {
    ControlError::Unavailable {
        reason: e.to_string(),
    }
}

/// `Fenced` unless `attempt` is the job's running attempt.
fn current(state: &JobState, attempt: Attempt) -> Result<(), ControlError> {
    let reason = if state.attempt != attempt.0 {
        format!(
            "attempt {attempt} is not the job's current attempt ({})",
            state.attempt
        )
    } else if state.status != JobStatus::Running {
        format!("attempt {attempt} has ended: the job is {}", state.status)
    } else {
        return Ok(());
    };
    Err(ControlError::Fenced {
        job_id: state.job_id,
        attempt,
        reason,
    })
}

impl Scheduler {
    fn job(&self, job_id: JobId) -> Result<JobState, ControlError> {
        self.inner
            .ledger
            .job(job_id)
            .map_err(unavailable)?
            .ok_or(ControlError::NotFound { job_id })
    }

    /// The running attempt's lease (a fresh one if this scheduler has not seen it yet).
    pub(crate) fn lease_of(&self, state: &JobState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.inner.leases.of(state, self.lease_until(now))
    }

    /// The job's state with the lease as this scheduler holds it (renewals are not in the
    /// ledger, so the folded `lease_until` is the one last recorded).
    pub fn with_live_lease(&self, mut state: JobState) -> JobState {
        if let Some(until) = self.inner.leases.peek(&state) {
            state.lease_until = Some(until);
        }
        state
    }

    /// Appends to the job's log at its current sequence, as long as `attempt` is the job's
    /// running attempt (else `Fenced`); events the state machine refuses are `Rejected`.
    /// Retried on a CAS conflict with a concurrent writer.
    async fn append_current(
        &self,
        job_id: JobId,
        attempt: Attempt,
        mut build: impl FnMut(&JobState) -> Vec<EventPayload>,
    ) -> Result<JobState, ControlError> {
        for _ in 0..CAS_TRIES {
            let state = self.job(job_id)?;
            current(&state, attempt)?;
            let events = build(&state)
                .into_iter()
                .map(|p| NewEvent::new(actor(), p))
                .collect();
            match self.inner.ledger.append(job_id, state.seq, events).await {
                Ok(_) => return self.job(job_id),
                Err(LedgerError::Conflict { .. }) => continue,
                Err(LedgerError::Transition(t)) => {
                    return Err(ControlError::Rejected {
                        job_id,
                        attempt,
                        reason: t.to_string(),
                    })
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(ControlError::Unavailable {
            reason: format!("job {job_id} kept changing; try again"),
        })
    }

    /// Ends a running attempt whose worker went silent: the next attempt may start at
    /// `now`, unless the job is out of attempts or is a restore past its resume window
    /// (decided by the domain), which dead-letters it.
    pub(crate) async fn expire_lease(
        &self,
        state: &JobState,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let events = decide_expiry(state, &self.settings().retry_policy(), now);
        if let Some(EventPayload::JobDeadLettered { reason, .. }) = events.last() {
            tracing::warn!(job_id = %state.job_id, %reason, "interrupted job not retried");
        }
        let events = events
            .into_iter()
            .map(|p| NewEvent::new(actor(), p))
            .collect();
        match self
            .inner
            .ledger
            .append(state.job_id, state.seq, events)
            .await
        {
            Ok(_) => {
                self.inner.leases.end(state.job_id);
                Ok(())
            }
            Err(LedgerError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Why `state` cannot run now because a running job holds what it needs: the same
    /// target, or (for jobs that touch the database) the same database through another
    /// target (`resource::endpoints_conflict`).
    fn held_by_another(
        &self,
        state: &JobState,
        running: &[JobState],
    ) -> Result<Option<String>, ControlError> {
        // A check only reads the server's version and role: it neither waits for another
        // job nor holds its target against one.
        if state.kind() == JobKind::Check {
            return Ok(None);
        }
        let name = state.spec.target();
        let others = running
            .iter()
            .filter(|j| j.job_id != state.job_id && j.kind() != JobKind::Check);
        if let Some(other) = others.clone().find(|j| j.spec.target() == name) {
            return Ok(Some(format!(
                "{} job {} holds target {name}",
                other.kind(),
                other.job_id
            )));
        }
        if !resource::touches_database(state.kind()) {
            return Ok(None);
        }
        let ledger = &self.inner.ledger;
        let Some(mine) = ledger.target(name).map_err(unavailable)? else {
            return Ok(None);
        };
        for other in others.filter(|j| resource::touches_database(j.kind())) {
            let Some(theirs) = ledger.target(other.spec.target()).map_err(unavailable)? else {
                continue;
            };
            if resource::endpoints_conflict(&mine.endpoint, &theirs.endpoint) {
                return Ok(Some(format!(
                    "{} job {} of target {} holds the same database ({})",
                    other.kind(),
                    other.job_id,
                    theirs.name,
                    theirs.endpoint
                )));
            }
        }
        Ok(None)
    }

    /// The domain's claim decision, after expiring a lapsed lease first.
    async fn claim_decision(
        &self,
        job_id: JobId,
        now: DateTime<Utc>,
    ) -> Result<(JobState, ClaimDecision), ControlError> {
        let state = self.job(job_id)?;
        match decide_claim(&state, self.lease_of(&state, now), now) {
            ClaimDecision::ExpireLease => {
                self.expire_lease(&state, now).await.map_err(unavailable)?;
                let state = self.job(job_id)?;
                let decision = decide_claim(&state, self.lease_of(&state, now), now);
                Ok((state, decision))
            }
            decision => Ok((state, decision)),
        }
    }

    async fn try_claim(
        &self,
        job_id: JobId,
        worker: &WorkerId,
    ) -> Result<ClaimReply, ControlError> {
        let _one_at_a_time = self.inner.claim_lock.lock().await;
        let now = Utc::now();
        let (state, attempt) = match self.claim_decision(job_id, now).await? {
            (state, ClaimDecision::Claimable { attempt }) => (state, attempt),
            (_, ClaimDecision::NotDue { retry_after }) => {
                return Ok(ClaimReply::Busy {
                    retry_after_ms: retry_after.as_millis().try_into().unwrap_or(u64::MAX),
                    reason: "retry not due yet".into(),
                })
            }
            (_, ClaimDecision::Denied { reason }) => return Ok(ClaimReply::Denied { reason }),
            (state, ClaimDecision::ExpireLease) => {
                // Expired just above; another writer moved the job meanwhile.
                return Ok(ClaimReply::Busy {
                    retry_after_ms: 100,
                    reason: format!("attempt {} is being expired", state.attempt),
                });
            }
        };
        let running = self
            .inner
            .ledger
            .jobs_in(&[JobStatus::Running])
            .map_err(unavailable)?;
        if let Some(reason) = self.held_by_another(&state, &running)? {
            return Ok(ClaimReply::Busy {
                retry_after_ms: 2000,
                reason,
            });
        }
        let ledger = &self.inner.ledger;
        let target_name = state.spec.target().clone();
        let target = ledger.target(&target_name).map_err(unavailable)?;
        let (source_name, storage_name) = match &state.spec {
            JobSpec::Backup { storage, .. }
            | JobSpec::Prune { storage, .. }
            | JobSpec::Forget { storage, .. }
            | JobSpec::Purge { storage, .. } => (None, storage.clone()),
            JobSpec::Restore {
                source, storage, ..
            } => (Some(source), storage.clone()),
            // A check touches no storage; the grant names the target's own.
            JobSpec::Check { .. } => (
                None,
                target
                    .as_ref()
                    .map_or_else(StorageName::default_storage, |t| t.storage.clone()),
            ),
        };
        // A removed source is fine: its backups stay in storage and are restorable.
        let source = match source_name {
            Some(n) => ledger.target(n).map_err(unavailable)?,
            None => None,
        };
        let storage = ledger.storage(&storage_name).map_err(unavailable)?;
        let (target, storage) = match (target, storage) {
            (Some(t), Some(s)) => (t, s),
            (t, _) => {
                let reason = if t.is_none() {
                    format!("target {target_name} was removed")
                } else {
                    format!("storage {storage_name} was removed")
                };
                let cancel = NewEvent::new(
                    actor(),
                    EventPayload::JobCancelled {
                        reason: reason.clone(),
                    },
                );
                ledger
                    .append(job_id, state.seq, vec![cancel])
                    .await
                    .map_err(unavailable)?;
                return Ok(ClaimReply::Denied { reason });
            }
        };
        let lease_until = self.lease_until(now);
        let claimed = NewEvent::new(
            actor(),
            EventPayload::JobClaimed {
                attempt,
                worker_id: worker.clone(),
                lease_until,
            },
        );
        match ledger.append(job_id, state.seq, vec![claimed]).await {
            Ok(_) => {}
            Err(LedgerError::Conflict { .. }) => {
                return Ok(ClaimReply::Busy {
                    retry_after_ms: 100,
                    reason: "the job changed meanwhile".into(),
                })
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.inner.leases.grant(job_id, attempt, lease_until);
        let grant = Grant {
            attempt,
            lease_until,
            job: self.job(job_id)?,
            target,
            source,
            storage,
        };
        Ok(ClaimReply::Granted(Box::new(grant)))
    }

    /// Drops progress reports that come too soon after the last recorded one (the rule of
    /// `progress_due`): a worker cannot flood the ledger, whatever it sends.
    fn worth_recording(&self, req: &AppendRequest, now: DateTime<Utc>) -> Vec<WorkerEvent> {
        let leases = &self.inner.leases;
        req.events
            .iter()
            .filter(|e| match e {
                WorkerEvent::JobProgress {
                    bytes_db,
                    bytes_storage,
                } => leases.progress_due(
                    req.job_id,
                    req.attempt,
                    now,
                    (*bytes_db).max(*bytes_storage),
                ),
                _ => true,
            })
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Control for Scheduler {
    async fn claim(&self, req: ClaimRequest) -> Result<ClaimReply, ControlError> {
        self.try_claim(req.job_id, &req.worker_id).await
    }

    async fn renew(&self, req: RenewRequest) -> Result<RenewReply, ControlError> {
        let state = self.job(req.job_id)?;
        current(&state, req.attempt)?;
        let lease_until = self.lease_until(Utc::now());
        self.inner
            .leases
            .renew(req.job_id, req.attempt, lease_until);
        Ok(RenewReply { lease_until })
    }

    async fn append(&self, req: AppendRequest) -> Result<AppendReply, ControlError> {
        let now = Utc::now();
        let events = self.worth_recording(&req, now);
        if events.is_empty() {
            // Only progress that is not worth an event: the attempt is alive, nothing more.
            let reply = self
                .renew(RenewRequest {
                    job_id: req.job_id,
                    attempt: req.attempt,
                })
                .await?;
            return Ok(AppendReply {
                lease_until: reply.lease_until,
            });
        }
        let lease_until = self.lease_until(now);
        let progress = events.iter().rev().find_map(|e| match e {
            WorkerEvent::JobProgress {
                bytes_db,
                bytes_storage,
            } => Some(ProgressMark {
                at: now,
                bytes: (*bytes_db).max(*bytes_storage),
            }),
            _ => None,
        });
        let attempt = req.attempt;
        let state = self
            .append_current(req.job_id, attempt, |_| {
                events
                    .iter()
                    .cloned()
                    .map(|e| e.into_event(attempt, lease_until))
                    .collect()
            })
            .await?;
        let leases = &self.inner.leases;
        if state.status == JobStatus::Running {
            leases.renew(req.job_id, attempt, lease_until);
            if let Some(mark) = progress {
                leases.recorded_progress(req.job_id, attempt, mark);
            }
        } else {
            leases.end(req.job_id);
        }
        self.after_success(&state).await;
        Ok(AppendReply { lease_until })
    }

    async fn fail(&self, req: FailRequest) -> Result<FailReply, ControlError> {
        let now = Utc::now();
        let policy = self.settings().retry_policy();
        let mut decision = None;
        self.append_current(req.job_id, req.attempt, |state| {
            let d = decide_failure(state, &req.failure, &policy, now);
            let events = d.events(req.attempt, &req.failure);
            decision = Some(d);
            events
        })
        .await?;
        self.inner.leases.end(req.job_id);
        let retry_in = decision.and_then(|d| d.retry_in());
        Ok(FailReply {
            retry_in_ms: retry_in.map(|d| d.as_millis().try_into().unwrap_or(u64::MAX)),
        })
    }
}
