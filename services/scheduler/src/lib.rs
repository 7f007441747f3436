//! The scheduler: cairn's control plane. It owns the ledger, serves the HTTP API, grants
//! claims (with per-target exclusivity and attempt fencing), decides retries, and
//! reconciles the bus with the ledger: a job the ledger holds as queued or retry-due is
//! published again, and an attempt whose lease ran out is expired.

pub mod api;
#[cfg(feature = "testing")]
pub mod conformance;
mod control;
mod core;
mod follow_up;
mod leases;
mod metrics;
pub mod nats;
pub mod notify;
mod reconcile;
pub mod schedules;
pub mod tokens;

pub use crate::core::{Scheduler, Settings};
