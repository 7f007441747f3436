//! The control plane's conformance suite: the claim, fencing, retry, lease and progress
//! rules every way of reaching the scheduler must keep, written once against
//! `Arc<dyn Control>` so that each transport runs the same bodies.
//!
//! A transport implements [`Wire`]: given the scheduler under test, it returns the
//! `Control` a worker would use to reach it (in-process: the scheduler itself, see
//! [`InProcess`]; over NATS: a `cairn.ctl.*` client, with this scheduler answering).
//! Each suite function builds its own scheduler on a fresh ledger, drives it through
//! the wire, and checks the ledger directly. Call each from a `#[tokio::test]`; the
//! concurrent ones need `flavor = "multi_thread"` (see services/scheduler/tests/claims.rs).
//!
//! Compiled with the `testing` feature.

pub mod claims;
pub mod exclusivity;
pub mod leases;

use crate::{Scheduler, Settings};
use async_trait::async_trait;
use cairn_bus::inproc::InProcessBus;
use cairn_bus::{ClaimReply, Control, Grant};
use cairn_domain::{
    CredentialRef, Endpoint, EventEnvelope, JobId, JobSpec, JobState, StorageName, Target,
    TargetName, WorkerId,
};
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use std::path::Path;
use std::sync::Arc;

/// How workers reach a scheduler.
#[async_trait]
pub trait Wire: Send + Sync {
    /// The `Control` through which workers reach `scheduler`. Called again after a
    /// restart (a new scheduler on the same ledger).
    async fn connect(&self, scheduler: &Scheduler) -> Arc<dyn Control>;

    /// Stops whatever `connect` started for the scheduler about to stop (a responder
    /// task), and returns once it has let go of its `Scheduler` clone: the restarted
    /// scheduler can only open the ledger after every clone of the old one is dropped.
    async fn disconnect(&self) {}
}

/// Workers in the scheduler's own process: the scheduler is the `Control`.
#[derive(Debug, Clone, Copy)]
pub struct InProcess;

#[async_trait]
impl Wire for InProcess {
    async fn connect(&self, scheduler: &Scheduler) -> Arc<dyn Control> {
        Arc::new(scheduler.clone())
    }
}

/// The targets every harness has, with the database each names.
pub const TARGETS: &[(&str, &str)] = &[
    ("orders", "postgres://postgres@127.0.0.1:5432/orders"),
    ("users", "postgres://postgres@127.0.0.1:5432/users"),
    ("orders-alias", "postgresql://other@localhost/orders"),
    ("orders-v6", "postgres://postgres@[::1]:5432/orders"),
    ("cluster", "postgres://postgres@localhost:5432/"),
    ("elsewhere", "postgres://postgres@127.0.0.1:5433/orders"),
];

/// A scheduler on its own ledger, reached through a wire.
pub struct Harness {
    pub scheduler: Scheduler,
    pub control: Arc<dyn Control>,
    dir: tempfile::TempDir,
}

async fn open_scheduler(dir: &Path, settings: Settings) -> Scheduler {
    let ledger = Ledger::open(&dir.join("ledger")).expect("open the ledger");
    let keyring = Keyring::from_hex(&"33".repeat(32)).expect("a test key");
    Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir,
        settings,
    )
    .await
    .expect("start the scheduler")
}

impl Harness {
    /// A new scheduler with `settings` and the [`TARGETS`], reached through `wire`.
    pub async fn start(wire: &dyn Wire, settings: Settings) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let scheduler = open_scheduler(dir.path(), settings).await;
        for (name, url) in TARGETS {
            let target = Target {
                name: TargetName::parse(*name).expect("a valid name"),
                endpoint: Endpoint::parse(url).expect("a valid URL"),
                credential: CredentialRef::None,
                storage: StorageName::default_storage(),
                created_at: chrono::Utc::now(),
                ca_file: None,
            };
            scheduler
                .ledger()
                .put_target(&target, None)
                .await
                .expect("add a target");
        }
        let control = wire.connect(&scheduler).await;
        Harness {
            scheduler,
            control,
            dir,
        }
    }

    /// Stops this scheduler (closing its ledger) and starts a new one on the same data
    /// dir, as a restarted process would; workers reconnect through `wire`.
    pub async fn restart(self, wire: &dyn Wire, settings: Settings) -> Harness {
        let Harness {
            scheduler,
            control,
            dir,
        } = self;
        drop(control);
        wire.disconnect().await;
        drop(scheduler);
        let scheduler = open_scheduler(dir.path(), settings).await;
        let control = wire.connect(&scheduler).await;
        Harness {
            scheduler,
            control,
            dir,
        }
    }

    pub async fn enqueue(&self, spec: JobSpec) -> JobId {
        self.scheduler
            .enqueue(spec, "test")
            .await
            .expect("queue a job")
            .job_id
    }

    pub fn job(&self, job: JobId) -> JobState {
        self.scheduler
            .ledger()
            .job(job)
            .expect("read the ledger")
            .expect("the job exists")
    }

    pub fn events(&self, job: JobId) -> Vec<EventEnvelope> {
        self.scheduler
            .ledger()
            .events(job)
            .expect("read the ledger")
    }

    pub fn types(&self, job: JobId) -> Vec<&'static str> {
        self.events(job)
            .iter()
            .map(|e| e.payload.type_name())
            .collect()
    }
}

pub fn backup(target: &str) -> JobSpec {
    JobSpec::Backup {
        target: TargetName::parse(target).expect("a valid name"),
        storage: StorageName::default_storage(),
    }
}

pub fn prune(target: &str) -> JobSpec {
    JobSpec::prune(
        TargetName::parse(target).expect("a valid name"),
        StorageName::default_storage(),
        cairn_domain::Keep::last(std::num::NonZeroU32::MIN),
    )
}

pub fn worker(n: u32) -> WorkerId {
    WorkerId(format!("w{n}"))
}

pub fn granted(reply: ClaimReply) -> Grant {
    match reply {
        ClaimReply::Granted(g) => *g,
        other => panic!("expected a grant, got {other:?}"),
    }
}
