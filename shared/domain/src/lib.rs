//! cairn's domain: names, targets, jobs, events and the job state machine.
//!
//! Pure code only: no I/O, no async, no database or bus types. Everything the services
//! exchange (events, API bodies, manifests) is defined here so that one crate owns the
//! vocabulary of `shared/design.md`.

pub mod api;
pub mod config;
pub mod control;
pub mod endpoint;
pub mod event;
pub mod failure;
pub mod ids;
pub mod job;
pub mod manifest;
pub mod names;
pub mod notify;
pub mod policy;
pub mod resource;
pub mod retention;
pub mod role;
pub mod schedule;
pub mod state;
pub mod storage;
pub mod target;
pub mod text;
pub mod tls;
pub mod url_rules;

pub use config::{config_stream_id, ConfigState, TargetSettings};
pub use endpoint::{Endpoint, Engine, Scope};
pub use event::{Actor, DeletionReason, EventEnvelope, EventPayload, NewEvent, StreamKind};
pub use failure::Failure;
pub use ids::{Attempt, BackupId, EventId, JobId, WorkerId};
pub use job::{JobKind, JobSpec, JobStatus};
pub use manifest::Manifest;
pub use names::{NameError, NotifierName, StorageName, TargetName, TokenName};
pub use policy::{Policy, PolicyRecord};
pub use retention::{Keep, KeepError};
pub use role::Role;
pub use schedule::{Schedule, ScheduleError, Zone};
pub use state::{AfterInterruption, JobState, TransitionError};
pub use target::{CredentialRef, StorageConfig, StorageKind, Target};
pub use tls::TlsMode;
