//! Subjects of the control plane on NATS. The bodies are `cairn_domain::control`'s wire
//! types (schemas in `schemas/ctl-*.json`): a request is `{"token": …, <body>}`, a reply
//! `{"ok": …}` or `{"error": {"code": …}}`. `cairn.ctl.hello` (a worker checking its
//! token at start) is this crate's own: `{"token": …, "worker_id": …}` → `{"ok":
//! {"token": NAME}}`.

pub use cairn_domain::control::subjects::{APPEND, CLAIM, FAIL, RENEW};
use cairn_domain::WorkerId;
use serde::{Deserialize, Serialize};

/// Checks a worker's token at start-up, so a worker with a bad token refuses to start.
pub const HELLO: &str = "cairn.ctl.hello";
/// Every control subject, for the scheduler's subscription.
pub const ALL: &str = "cairn.ctl.*";
/// The queue group of the schedulers answering control and platform requests.
pub const QUEUE_GROUP: &str = "cairn-scheduler";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloRequest {
    pub worker_id: WorkerId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloReply {
    /// The name of the token the scheduler accepted.
    pub token: String,
}
