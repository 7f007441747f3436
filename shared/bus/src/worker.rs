//! The loop every worker kind runs: fetch a job message, claim it, run the attempt under a
//! heartbeat that renews the lease, report the outcome, then settle the message.
//!
//! How a worker acts on the control plane's refusals:
//! - `Fenced` (a newer attempt owns the job, or this one's lease lapsed): stop at once,
//!   record nothing more, and never ack: the message is handed back (nak) for the ledger's
//!   current attempt to settle;
//! - `Rejected` (the job's state does not allow what the attempt appended): the attempt
//!   has failed; it reports that failure (`fail`) and the scheduler decides what follows.
//!
//! Progress: the heartbeat renews the lease every tick (not a ledger event) and sends
//! byte counters only when [`progress_due`] says they are worth an event (every 15 s or
//! 1 GiB); the scheduler applies the same rule again, so no worker can flood the ledger.

use crate::control::{
    AppendRequest, ClaimReply, ClaimRequest, Control, ControlError, FailRequest, Grant,
    RenewRequest, WorkerEvent,
};
use crate::{Delivery, JobBus};
use async_trait::async_trait;
use cairn_domain::control::{progress_due, ProgressMark};
use cairn_domain::{Attempt, Failure, JobId, JobKind, WorkerId};
use chrono::Utc;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Reads the attempt's byte counters `(bytes_db, bytes_storage)` for progress reports.
pub type ProgressSource = Box<dyn Fn() -> (u64, u64) + Send + Sync>;

/// One attempt's handle on the control plane.
pub struct AttemptCtx {
    pub grant: Grant,
    pub worker: WorkerId,
    control: Arc<dyn Control>,
    /// Cancelled when the attempt is fenced (a newer attempt owns the job) or on shutdown.
    pub cancel: CancellationToken,
    progress: Mutex<Option<ProgressSource>>,
    /// The last progress this attempt sent for the ledger.
    progress_sent: Mutex<Option<ProgressMark>>,
}

impl AttemptCtx {
    pub fn job_id(&self) -> JobId {
        self.grant.job.job_id
    }
    pub fn attempt(&self) -> Attempt {
        self.grant.attempt
    }

    /// Appends events of this attempt. A fenced attempt cancels itself (it stops and
    /// records nothing more); a rejected one returns the failure it then reports.
    pub async fn append(&self, events: Vec<WorkerEvent>) -> Result<(), Failure> {
        let req = AppendRequest {
            job_id: self.job_id(),
            attempt: self.attempt(),
            events,
        };
        self.control
            .append(req)
            .await
            .map(|_| ())
            .map_err(|e| self.refused(e))
    }

    /// The lease is renewed; a fenced attempt cancels itself.
    async fn renew(&self) -> Result<(), Failure> {
        let req = RenewRequest {
            job_id: self.job_id(),
            attempt: self.attempt(),
        };
        self.control
            .renew(req)
            .await
            .map(|_| ())
            .map_err(|e| self.refused(e))
    }

    fn refused(&self, e: ControlError) -> Failure {
        match e {
            ControlError::Fenced { .. } => {
                self.cancel.cancel();
                Failure::permanent("fenced", e.to_string())
            }
            ControlError::Rejected { .. } => Failure::permanent("rejected", e.to_string()),
            e => Failure::retryable("control", e.to_string()),
        }
    }

    /// Names the counters the heartbeat reports from now on.
    pub fn report_progress_from(&self, source: ProgressSource) {
        *self.progress.lock().expect("progress lock") = Some(source);
    }

    fn snapshot(&self) -> Option<(u64, u64)> {
        self.progress
            .lock()
            .expect("progress lock")
            .as_ref()
            .map(|f| f())
    }
}

/// What a worker kind does with a granted attempt. Returning `Ok` means the attempt
/// appended its own success events (`BackupStored`/`RestoreApplied`, `JobSucceeded`).
#[async_trait]
pub trait AttemptRunner: Send + Sync + 'static {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure>;
}

/// Settings of one worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub kind: JobKind,
    pub worker_id: WorkerId,
    /// Attempts this worker runs at once.
    pub concurrency: usize,
    /// How often progress is reported (and the lease renewed).
    pub heartbeat: Duration,
}

/// Runs the worker until `shutdown` completes. Attempts in flight are cancelled on
/// shutdown; their leases lapse and another worker takes the jobs over.
pub async fn run_worker(
    config: WorkerConfig,
    bus: Arc<dyn JobBus>,
    control: Arc<dyn Control>,
    runner: Arc<dyn AttemptRunner>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), crate::BusError> {
    let mut sub = bus.subscribe(config.kind).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let delivery = tokio::select! {
            _ = &mut shutdown => break,
            d = sub.next() => match d { Some(d) => d, None => break },
        };
        let (config, control, runner, stop) = (
            config.clone(),
            control.clone(),
            runner.clone(),
            stop.child_token(),
        );
        tasks.spawn(async move {
            handle(config, control, runner, delivery, stop).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn handle(
    config: WorkerConfig,
    control: Arc<dyn Control>,
    runner: Arc<dyn AttemptRunner>,
    delivery: Delivery,
    stop: CancellationToken,
) {
    let job_id = delivery.msg.job_id;
    let req = ClaimRequest {
        job_id,
        worker_id: config.worker_id.clone(),
    };
    let grant = match control.claim(req).await {
        Ok(ClaimReply::Granted(g)) => *g,
        Ok(ClaimReply::Busy {
            retry_after_ms,
            reason,
        }) => {
            tracing::debug!(%job_id, %reason, "claim busy; redelivering later");
            delivery
                .nak(Duration::from_millis(retry_after_ms.max(50)))
                .await;
            return;
        }
        Ok(ClaimReply::Denied { reason }) => {
            tracing::debug!(%job_id, %reason, "claim denied; dropping duplicate delivery");
            delivery.ack().await;
            return;
        }
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "claim failed; redelivering later");
            delivery.nak(Duration::from_secs(1)).await;
            return;
        }
    };
    let span = tracing::info_span!("attempt", %job_id, kind = %config.kind, attempt = grant.attempt.0, target = %grant.job.spec.target());
    async move {
        let ctx = Arc::new(AttemptCtx {
            grant,
            worker: config.worker_id.clone(),
            control: control.clone(),
            cancel: stop,
            progress: Mutex::new(None),
            progress_sent: Mutex::new(None),
        });
        tracing::info!("attempt started");
        let outcome = {
            let run = runner.run(ctx.clone());
            tokio::pin!(run);
            let mut tick = tokio::time::interval(config.heartbeat);
            tick.tick().await;
            loop {
                tokio::select! {
                    r = &mut run => break r,
                    _ = ctx.cancel.cancelled() => break Err(Failure::retryable("cancelled", "the attempt was cancelled (fenced or shutting down)")),
                    _ = tick.tick() => heartbeat(&ctx, &delivery).await,
                }
            }
        };
        settle(&ctx, control.as_ref(), delivery, outcome).await;
    }
    .instrument(span)
    .await
}

/// Every tick: keep the message and the lease; now and then, record the byte counters.
async fn heartbeat(ctx: &AttemptCtx, delivery: &Delivery) {
    delivery.progress().await;
    if let Err(f) = ctx.renew().await {
        tracing::warn!(failure = %f, "lease renewal refused");
        return;
    }
    let Some((bytes_db, bytes_storage)) = ctx.snapshot() else {
        return;
    };
    let now = Utc::now();
    let bytes = bytes_db.max(bytes_storage);
    let due = progress_due(
        ctx.progress_sent.lock().expect("progress lock").as_ref(),
        now,
        bytes,
    );
    if !due {
        return;
    }
    let progress = WorkerEvent::JobProgress {
        bytes_db,
        bytes_storage,
    };
    match ctx.append(vec![progress]).await {
        Ok(()) => {
            *ctx.progress_sent.lock().expect("progress lock") =
                Some(ProgressMark { at: now, bytes })
        }
        Err(f) => tracing::warn!(failure = %f, "progress report refused"),
    }
}

async fn settle(
    ctx: &AttemptCtx,
    control: &dyn Control,
    delivery: Delivery,
    outcome: Result<(), Failure>,
) {
    let failure = match outcome {
        Ok(()) => {
            tracing::info!("attempt succeeded");
            delivery.ack().await;
            return;
        }
        Err(f) => f,
    };
    if ctx.cancel.is_cancelled() {
        // Fenced or shutting down: the ledger already moved on, or the lease will lapse and
        // the scheduler will hand the job to another attempt. Leave the message alone.
        tracing::warn!(failure = %failure, "attempt abandoned");
        delivery.nak(Duration::from_secs(1)).await;
        return;
    }
    tracing::warn!(code = %failure.code, retryable = failure.retryable, error = %cairn_domain::text::Printable(&failure.message), "attempt failed");
    let req = FailRequest {
        job_id: ctx.job_id(),
        attempt: ctx.attempt(),
        failure,
    };
    match control.fail(req).await {
        Ok(reply) => match reply.retry_in() {
            Some(delay) => delivery.nak(delay).await,
            None => delivery.ack().await,
        },
        Err(e @ ControlError::Fenced { .. }) => {
            // A newer attempt owns the job: its worker settles the message, not this one.
            tracing::warn!(error = %e, "attempt fenced; handing the message back");
            delivery.nak(Duration::from_secs(1)).await;
        }
        Err(ControlError::NotFound { .. }) => delivery.ack().await,
        Err(e) => {
            tracing::warn!(error = %e, "could not record the failure; redelivering");
            delivery.nak(Duration::from_secs(1)).await;
        }
    }
}
