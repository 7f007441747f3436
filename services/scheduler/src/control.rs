//! The scheduler's side of `cairn.ctl.*`: claims with per-target and per-database
//! exclusivity, appends fenced by the attempt number, and the retry decision on failure.

use crate::core::{actor, Scheduler};
use async_trait::async_trait;
use cairn_bus::{AppendReply, ClaimReply, Control, ControlError, FailReply, Grant};
use cairn_domain::resource;
use cairn_domain::{
    AfterInterruption, Attempt, EventPayload, Failure, JobId, JobSpec, JobState, JobStatus,
    NewEvent, WorkerId,
};
use cairn_ledger::LedgerError;
use chrono::{DateTime, Utc};

/// Appends retried this many times when another writer moved the job first.
const CAS_TRIES: usize = 5;

fn unavailable(e: LedgerError) -> ControlError {
    ControlError::Unavailable(e.to_string())
}

impl Scheduler {
    fn job(&self, job_id: JobId) -> Result<JobState, ControlError> {
        self.inner
            .ledger
            .job(job_id)
            .map_err(unavailable)?
            .ok_or(ControlError::NotFound(job_id))
    }

    /// Appends to the job's log at its current sequence, as long as `attempt` is the job's
    /// running attempt; retried on a CAS conflict with a concurrent writer.
    async fn append_fenced(
        &self,
        job_id: JobId,
        attempt: Attempt,
        mut build: impl FnMut(&JobState) -> Vec<EventPayload>,
    ) -> Result<JobState, ControlError> {
        for _ in 0..CAS_TRIES {
            let state = self.job(job_id)?;
            if state.status != JobStatus::Running || state.attempt != attempt.0 {
                return Err(ControlError::Fenced {
                    job_id,
                    attempt,
                    reason: format!("the job is {} at attempt {}", state.status, state.attempt),
                });
            }
            let events = build(&state)
                .into_iter()
                .map(|p| NewEvent::new(actor(), p))
                .collect();
            match self.inner.ledger.append(job_id, state.seq, events).await {
                Ok(_) => return self.job(job_id),
                Err(LedgerError::Conflict { .. }) => continue,
                Err(LedgerError::Transition(t)) => {
                    return Err(ControlError::Fenced {
                        job_id,
                        attempt,
                        reason: t.to_string(),
                    })
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(ControlError::Unavailable(format!(
            "job {job_id} kept changing; try again"
        )))
    }

    /// Ends a running attempt whose worker went silent: the next attempt may start at
    /// `now`, unless the job is out of attempts or is a restore past its resume window
    /// (decided by the domain), which dead-letters it.
    pub(crate) async fn expire_lease(
        &self,
        state: &JobState,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let window = self.inner.settings.restore_resume_window;
        let attempt = Attempt(state.attempt);
        let events = match state.after_interruption(now, window) {
            AfterInterruption::Retry => vec![EventPayload::LeaseExpired {
                attempt,
                retry_at: Some(now),
            }],
            AfterInterruption::DeadLetter { reason } => {
                tracing::warn!(job_id = %state.job_id, %reason, "interrupted job not retried");
                vec![
                    EventPayload::LeaseExpired {
                        attempt,
                        retry_at: None,
                    },
                    EventPayload::JobDeadLettered {
                        attempts: state.attempt,
                        reason,
                    },
                ]
            }
        };
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
            Ok(_) | Err(LedgerError::Conflict { .. }) => Ok(()),
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
        let name = state.spec.target();
        let others = running.iter().filter(|j| j.job_id != state.job_id);
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

    async fn try_claim(
        &self,
        job_id: JobId,
        worker: &WorkerId,
    ) -> Result<ClaimReply, ControlError> {
        let _one_at_a_time = self.inner.claim_lock.lock().await;
        let now = Utc::now();
        let mut state = self.job(job_id)?;
        if state.lease_expired_at(now) {
            self.expire_lease(&state, now).await.map_err(unavailable)?;
            state = self.job(job_id)?;
        }
        match state.status {
            JobStatus::Running => {
                return Ok(ClaimReply::Denied {
                    reason: format!("attempt {} holds a live lease", state.attempt),
                });
            }
            s if s.is_terminal() => {
                return Ok(ClaimReply::Denied {
                    reason: format!("the job is {s}"),
                })
            }
            _ => {}
        }
        if !state.claimable_at(now) {
            let wait = state
                .retry_at
                .map(|t| (t - now).num_milliseconds().max(50) as u64)
                .unwrap_or(1000);
            return Ok(ClaimReply::Busy {
                retry_after_ms: wait,
                reason: "retry not due yet".into(),
            });
        }
        let target_name = state.spec.target().clone();
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
        let (source_name, storage_name) = match &state.spec {
            JobSpec::Backup { storage, .. }
            | JobSpec::Prune { storage, .. }
            | JobSpec::Forget { storage, .. }
            | JobSpec::Purge { storage, .. } => (None, storage),
            JobSpec::Restore {
                source, storage, ..
            } => (Some(source), storage),
        };
        let target = ledger.target(&target_name).map_err(unavailable)?;
        // A removed source is fine: its backups stay in storage and are restorable.
        let source = match source_name {
            Some(n) => ledger.target(n).map_err(unavailable)?,
            None => None,
        };
        let storage = ledger.storage(storage_name).map_err(unavailable)?;
        let missing = match (&target, &storage) {
            (None, _) => Some(format!("target {target_name} was removed")),
            (_, None) => Some(format!("storage {storage_name} was removed")),
            _ => None,
        };
        if let Some(reason) = missing {
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
        let attempt = Attempt(state.attempt + 1);
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
        let job = self.job(job_id)?;
        let grant = Grant {
            attempt,
            lease_until,
            job,
            target: target.expect("checked above"),
            source,
            storage: storage.expect("checked above"),
        };
        Ok(ClaimReply::Granted(Box::new(grant)))
    }
}

#[async_trait]
impl Control for Scheduler {
    async fn claim(&self, job_id: JobId, worker: &WorkerId) -> Result<ClaimReply, ControlError> {
        self.try_claim(job_id, worker).await
    }

    async fn append(
        &self,
        job_id: JobId,
        attempt: Attempt,
        events: Vec<EventPayload>,
    ) -> Result<AppendReply, ControlError> {
        let lease_until = self.lease_until(Utc::now());
        let events: Vec<EventPayload> = events
            .into_iter()
            .map(|e| match e {
                EventPayload::JobProgress {
                    attempt,
                    bytes_db,
                    bytes_storage,
                    ..
                } => EventPayload::JobProgress {
                    attempt,
                    bytes_db,
                    bytes_storage,
                    lease_until,
                },
                other => other,
            })
            .collect();
        let state = self
            .append_fenced(job_id, attempt, |_| events.clone())
            .await?;
        self.after_success(&state).await;
        Ok(AppendReply {
            lease_until: state.lease_until.unwrap_or(lease_until),
        })
    }

    async fn fail(
        &self,
        job_id: JobId,
        attempt: Attempt,
        failure: Failure,
    ) -> Result<FailReply, ControlError> {
        let now = Utc::now();
        let mut retry_in = None;
        self.append_fenced(job_id, attempt, |state| {
            let retry = failure.retryable && state.attempts_left();
            retry_in = retry.then(|| self.backoff(attempt.0));
            let retry_at =
                retry_in.map(|d| now + chrono::Duration::from_std(d).unwrap_or_default());
            let mut events = vec![EventPayload::JobFailed {
                attempt,
                failure: failure.clone(),
                retry_at,
            }];
            if failure.retryable && !retry {
                events.push(EventPayload::JobDeadLettered {
                    attempts: attempt.0,
                    reason: format!("gave up after {} attempts", attempt.0),
                });
            }
            events
        })
        .await?;
        Ok(FailReply {
            retry_in_ms: retry_in.map(|d| d.as_millis() as u64),
        })
    }
}
