//! The control plane's messages on `cairn.ctl.*`: one request body per subject, and one
//! reply envelope, `{"ok": …}` or `{"err": {"code": …, "message": …}}`.

use cairn_bus::ControlError;
use cairn_domain::{Attempt, EventPayload, Failure, JobId, WorkerId};
use serde::{Deserialize, Serialize};

pub const CLAIM: &str = "cairn.ctl.claim";
pub const APPEND: &str = "cairn.ctl.append";
pub const FAIL: &str = "cairn.ctl.fail";
/// Checks a worker's token at start-up, so a worker with a bad token refuses to start.
pub const HELLO: &str = "cairn.ctl.hello";
/// Every control subject, for the scheduler's subscription.
pub const ALL: &str = "cairn.ctl.*";
/// The queue group of the schedulers answering control calls.
pub const QUEUE_GROUP: &str = "cairn-scheduler";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub job_id: JobId,
    pub worker_id: WorkerId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    pub job_id: JobId,
    pub attempt: Attempt,
    pub events: Vec<EventPayload>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    pub job_id: JobId,
    pub attempt: Attempt,
    pub failure: Failure,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloRequest {
    pub worker_id: WorkerId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloReply {
    /// The name of the token the scheduler accepted.
    pub token: String,
}

/// Why the scheduler did not carry out a control call.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum WireError {
    /// The call reached the control plane, which refused it.
    #[error("{error}")]
    Control { error: ControlError },
    /// No token, or an unknown or revoked one.
    #[error("unauthenticated: {message}")]
    Unauthenticated { message: String },
    /// A known token whose role does not cover the call.
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// The request body or subject is not one the scheduler understands.
    #[error("invalid request: {message}")]
    Invalid { message: String },
}

/// The reply envelope of every control call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Err(WireError),
}
