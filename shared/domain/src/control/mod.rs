//! The control plane as a wire protocol: the calls a worker makes to the scheduler
//! (`cairn.ctl.claim|renew|append|fail`), their replies, and the platform requests on
//! `cairn.requests.backup|restore`. Every body here is a serde type with a JSON Schema in
//! `schemas/`; the same types travel in-process (`cairn up`) and over NATS.
//!
//! The port is narrow on purpose: a worker may append only the events of its own attempt
//! ([`WorkerEvent`]) and report a failure. Retry, dead-letter, lease and claim decisions are
//! the scheduler's, made by the pure functions in [`decide`].

pub mod decide;
mod wire;

pub use decide::{
    decide_claim, decide_expiry, decide_failure, progress_due, ClaimDecision, FailureDecision,
    ProgressMark, RetryPolicy, PROGRESS_EVERY, PROGRESS_STEP,
};
pub use wire::*;

/// Subjects of the control plane and of platform requests (request/reply, core NATS).
pub mod subjects {
    pub const CLAIM: &str = "cairn.ctl.claim";
    pub const RENEW: &str = "cairn.ctl.renew";
    pub const APPEND: &str = "cairn.ctl.append";
    pub const FAIL: &str = "cairn.ctl.fail";
    pub const REQUEST_BACKUP: &str = "cairn.requests.backup";
    pub const REQUEST_RESTORE: &str = "cairn.requests.restore";
}

/// The JSON Schemas of the control calls and platform requests (`schemas/ctl-*.json`,
/// `schemas/platform-*.json`): each call's wire request (token + body) and wire reply.
pub fn schema_documents() -> Vec<(&'static str, schemars::schema::RootSchema)> {
    use schemars::schema_for;
    vec![
        ("ctl-claim-request", schema_for!(CtlRequest<ClaimRequest>)),
        ("ctl-claim-reply", schema_for!(CtlResponse<ClaimReply>)),
        ("ctl-renew-request", schema_for!(CtlRequest<RenewRequest>)),
        ("ctl-renew-reply", schema_for!(CtlResponse<RenewReply>)),
        ("ctl-append-request", schema_for!(CtlRequest<AppendRequest>)),
        ("ctl-append-reply", schema_for!(CtlResponse<AppendReply>)),
        ("ctl-fail-request", schema_for!(CtlRequest<FailRequest>)),
        ("ctl-fail-reply", schema_for!(CtlResponse<FailReply>)),
        ("worker-event", schema_for!(WorkerEvent)),
        (
            "platform-backup-request",
            schema_for!(crate::api::BackupRequest),
        ),
        (
            "platform-restore-request",
            schema_for!(crate::api::RestoreRequest),
        ),
        ("platform-reply", schema_for!(PlatformReply)),
    ]
}
