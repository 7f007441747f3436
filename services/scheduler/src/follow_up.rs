//! What follows a job's success: a backup of a target with a policy queues a prune job
//! with the policy's retention, for the retention sweeper to run.
//!
//! The prune's job id is derived from the backup's (UUID v5), so a success reported twice
//! queues one prune.

use crate::core::{actor, Scheduler};
use cairn_domain::{JobId, JobKind, JobSpec, JobState, JobStatus, NewEvent};
use cairn_ledger::LedgerError;
use uuid::Uuid;

/// Namespace of the prune job ids derived from backup job ids.
const PRUNE_NAMESPACE: Uuid = Uuid::from_u128(0x3f6a_91c2_7d04_4b8e_a5e1_0c9d_2b7f_6e13);

/// The id of the prune job that follows backup `backup`.
pub fn prune_job_id(backup: JobId) -> JobId {
    JobId(Uuid::new_v5(&PRUNE_NAMESPACE, backup.as_bytes()))
}

impl Scheduler {
    /// After a worker's append: queue the prune a successful backup calls for. A failure
    /// here is logged, never the worker's problem (the next backup queues a prune again).
    pub(crate) async fn after_success(&self, state: &JobState) {
        if state.status != JobStatus::Succeeded || state.kind() != JobKind::Backup {
            return;
        }
        if let Err(e) = self.queue_prune(state).await {
            tracing::error!(job_id = %state.job_id, error = %e, "queueing the prune after a backup failed");
        }
    }

    async fn queue_prune(&self, backup: &JobState) -> Result<(), LedgerError> {
        let JobSpec::Backup { target, storage } = &backup.spec else {
            return Ok(());
        };
        let Some(policy) = self.inner.ledger.policy(target)?.and_then(|r| r.policy) else {
            return Ok(());
        };
        let spec = JobSpec::Prune {
            target: target.clone(),
            storage: storage.clone(),
            keep: policy.keep,
            zone: policy.schedule.zone(),
        };
        let job_id = prune_job_id(backup.job_id);
        let queued = self.queued(spec, &format!("retention:{target}"));
        match self
            .inner
            .ledger
            .append(job_id, 0, vec![NewEvent::new(actor(), queued)])
            .await
        {
            Ok(_) => {}
            Err(LedgerError::Conflict { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        if let Some(state) = self.inner.ledger.job(job_id)? {
            self.publish(&state).await;
        }
        Ok(())
    }
}
