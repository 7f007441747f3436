//! The control plane's request/reply calls, as a port: claim a job, renew its lease,
//! append the attempt's own events, report a failure. The scheduler implements it; workers
//! call it (in-process, or over `cairn.ctl.*`). The bodies are the wire types of
//! `cairn_domain::control`.

use async_trait::async_trait;
pub use cairn_domain::control::{
    AppendReply, AppendRequest, ClaimReply, ClaimRequest, ControlError, FailReply, FailRequest,
    Grant, RenewReply, RenewRequest, WorkerEvent,
};
use cairn_domain::{Attempt, Failure, JobId, WorkerId};

#[async_trait]
pub trait Control: Send + Sync + 'static {
    /// May this worker run the job now? Granted (with a lease), busy (nak, come back) or
    /// denied (ack, drop the duplicate).
    async fn claim(&self, req: ClaimRequest) -> Result<ClaimReply, ControlError>;
    /// The attempt is alive: extends its lease (held by the scheduler, not a ledger event).
    async fn renew(&self, req: RenewRequest) -> Result<RenewReply, ControlError>;
    /// Appends events of the current attempt, in one write. `Fenced` when a newer attempt
    /// exists or this one ended; `Rejected` when the job's state does not allow them.
    async fn append(&self, req: AppendRequest) -> Result<AppendReply, ControlError>;
    /// Ends the attempt as failed; the control plane decides whether and when it is retried.
    async fn fail(&self, req: FailRequest) -> Result<FailReply, ControlError>;
}

/// The control calls with positional arguments, for callers that hold the parts rather
/// than a request (tests, tools). Implemented for every [`Control`].
#[async_trait]
pub trait ControlExt: Control {
    async fn claim_job(
        &self,
        job_id: JobId,
        worker: &WorkerId,
    ) -> Result<ClaimReply, ControlError> {
        let req = ClaimRequest {
            job_id,
            worker_id: worker.clone(),
        };
        self.claim(req).await
    }
    async fn renew_lease(
        &self,
        job_id: JobId,
        attempt: Attempt,
    ) -> Result<RenewReply, ControlError> {
        self.renew(RenewRequest { job_id, attempt }).await
    }
    async fn append_events(
        &self,
        job_id: JobId,
        attempt: Attempt,
        events: Vec<WorkerEvent>,
    ) -> Result<AppendReply, ControlError> {
        let req = AppendRequest {
            job_id,
            attempt,
            events,
        };
        self.append(req).await
    }
    async fn fail_attempt(
        &self,
        job_id: JobId,
        attempt: Attempt,
        failure: Failure,
    ) -> Result<FailReply, ControlError> {
        let req = FailRequest {
            job_id,
            attempt,
            failure,
        };
        self.fail(req).await
    }
}

impl<C: Control + ?Sized> ControlExt for C {}
