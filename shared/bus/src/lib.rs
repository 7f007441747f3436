//! The bus: how work and control messages travel between the scheduler and workers.
//!
//! Two small ports with two implementations each (in-process today, JetStream next):
//! - [`JobBus`]: job messages on `cairn.jobs.<kind>.<target>`, one shared queue per worker
//!   kind, with ack / nak-with-delay / progress and dedup by job id;
//! - [`Control`]: the request/reply calls `cairn.ctl.claim|renew|append|fail` that let a
//!   worker claim a job, keep its lease, append the events of its own attempt (fenced by
//!   the attempt number) and report a failure.

pub mod control;
pub mod inproc;
pub mod worker;

use async_trait::async_trait;
use cairn_domain::{JobId, JobKind, TargetName};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use control::{
    AppendReply, AppendRequest, ClaimReply, ClaimRequest, Control, ControlError, ControlExt,
    FailReply, FailRequest, Grant, RenewReply, RenewRequest, WorkerEvent,
};

/// A job to do, as it travels on the bus. Carries no secret and no spec: the claim reply
/// hands the worker what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: JobId,
    pub kind: JobKind,
    pub target: TargetName,
}

impl JobMessage {
    /// `cairn.jobs.<kind>.<target>`
    pub fn subject(&self) -> String {
        format!("cairn.jobs.{}.{}", self.kind, self.target)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus closed")]
    Closed,
    #[error("bus error: {0}")]
    Other(String),
}

/// Where job messages are published and consumed.
#[async_trait]
pub trait JobBus: Send + Sync + 'static {
    /// Publishes a job; a message for a job id that is already pending is dropped (dedup).
    async fn publish(&self, msg: JobMessage) -> Result<(), BusError>;
    /// The shared queue of one worker kind: every replica that subscribes splits the work.
    async fn subscribe(&self, kind: JobKind) -> Result<Box<dyn Subscription>, BusError>;
}

#[async_trait]
pub trait Subscription: Send {
    /// The next delivery, or `None` when the bus shuts down.
    async fn next(&mut self) -> Option<Delivery>;
}

/// One delivery of a job message, to be settled exactly once.
pub struct Delivery {
    pub msg: JobMessage,
    /// How many times this message was delivered (1 the first time).
    pub delivered: u32,
    acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("msg", &self.msg)
            .field("delivered", &self.delivered)
            .finish()
    }
}

impl Delivery {
    pub fn new(msg: JobMessage, delivered: u32, acker: Box<dyn Acker>) -> Self {
        Self {
            msg,
            delivered,
            acker,
        }
    }
    /// Done with the message: it is removed from the queue.
    pub async fn ack(self) {
        self.acker.ack().await
    }
    /// Give the message back, to be redelivered after `delay`.
    pub async fn nak(self, delay: Duration) {
        self.acker.nak(delay).await
    }
    /// Still working: keeps the message from being redelivered.
    pub async fn progress(&self) {
        self.acker.progress().await
    }
}

/// Settles one delivery; each bus implements it.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(&self);
    async fn nak(&self, delay: Duration);
    async fn progress(&self);
}
