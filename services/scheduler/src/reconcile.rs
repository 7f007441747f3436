//! Reconciliation: the ledger is the truth and the bus only transport, so the scheduler
//! periodically expires silent attempts and publishes every claimable job again (the bus
//! drops duplicates of a pending job id).

use crate::core::Scheduler;
use cairn_domain::JobStatus;
use chrono::Utc;
use std::future::Future;

impl Scheduler {
    /// One pass: expire lapsed leases, republish queued and retry-due jobs.
    pub async fn reconcile(&self) -> Result<(), cairn_ledger::LedgerError> {
        let now = Utc::now();
        let running = self.inner.ledger.jobs_in(&[JobStatus::Running])?;
        self.inner.leases.retain_running(&running);
        for job in running {
            if self.lease_of(&job, now).is_some_and(|until| until <= now) {
                tracing::warn!(job_id = %job.job_id, attempt = job.attempt, "lease expired; the attempt's worker went silent");
                self.expire_lease(&job, now).await?;
            }
        }
        for job in self
            .inner
            .ledger
            .jobs_in(&[JobStatus::Queued, JobStatus::RetryDue])?
        {
            self.publish(&job).await;
        }
        Ok(())
    }

    /// At the start of an embedded (`cairn up`) process: every running attempt belonged to
    /// this process's previous life, whose workers are gone, so their leases end now.
    pub async fn expire_orphaned_attempts(&self) -> Result<usize, cairn_ledger::LedgerError> {
        let running = self.inner.ledger.jobs_in(&[JobStatus::Running])?;
        let now = Utc::now();
        for job in &running {
            tracing::warn!(job_id = %job.job_id, attempt = job.attempt, "attempt was running when cairn stopped; expiring its lease");
            self.expire_lease(job, now).await?;
        }
        Ok(running.len())
    }

    /// Runs `reconcile` every `settings.reconcile_every` until `shutdown`.
    pub async fn run_reconciler(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.inner.settings.reconcile_every);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {
                    if let Err(e) = self.reconcile().await {
                        tracing::error!(error = %e, "reconcile failed");
                    }
                }
            }
        }
    }
}
