//! Helpers shared by the ledger's integration tests: a ledger in a temporary directory
//! and short constructors for the events of a job's life.
#![allow(dead_code)]

use cairn_domain::{
    Actor, Attempt, BackupId, EventPayload, Failure, JobId, JobKind, JobSpec, NewEvent,
    StorageName, TargetName, WorkerId,
};
use cairn_ledger::Ledger;
use chrono::{Duration, Utc};
use tempfile::TempDir;

/// A fresh ledger in its own temporary directory (kept alive by the returned guard).
pub fn ledger() -> (Ledger, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(&dir.path().join("ledger")).expect("open a fresh ledger");
    (ledger, dir)
}

pub fn name(s: &str) -> TargetName {
    TargetName::parse(s).expect("valid name")
}

pub fn ev(payload: EventPayload) -> NewEvent {
    NewEvent::new(Actor::service("test"), payload)
}

pub fn queued(target: &str, kind: JobKind) -> NewEvent {
    let target = name(target);
    let storage = StorageName::default_storage();
    let spec = match kind {
        JobKind::Backup => JobSpec::Backup { target, storage },
        JobKind::Restore => JobSpec::Restore {
            source: target.clone(),
            target,
            backup: BackupId::new(Utc::now(), JobId::new_random()),
            storage,
            trust_unsigned: false,
        },
        JobKind::Prune => JobSpec::prune(
            target,
            storage,
            cairn_domain::Keep::last(std::num::NonZeroU32::new(3).unwrap()),
        ),
        JobKind::Check => JobSpec::Check { target },
    };
    ev(EventPayload::JobQueued {
        spec,
        max_attempts: 3,
        requested_by: "test".into(),
    })
}

pub fn claim(attempt: u32) -> NewEvent {
    ev(EventPayload::JobClaimed {
        attempt: Attempt(attempt),
        worker_id: WorkerId("w1".into()),
        lease_until: Utc::now() + Duration::seconds(30),
    })
}

pub fn started(attempt: u32) -> NewEvent {
    ev(EventPayload::JobStarted {
        attempt: Attempt(attempt),
        server_version: "15".into(),
    })
}

pub fn progress(attempt: u32, bytes: u64) -> NewEvent {
    ev(EventPayload::JobProgress {
        attempt: Attempt(attempt),
        bytes_db: bytes,
        bytes_storage: bytes / 2,
        lease_until: Utc::now() + Duration::seconds(30),
    })
}

pub fn failed(attempt: u32, retry: bool) -> NewEvent {
    ev(EventPayload::JobFailed {
        attempt: Attempt(attempt),
        failure: Failure::retryable("unreachable", "no route"),
        retry_at: retry.then(Utc::now),
    })
}

pub fn cancelled() -> NewEvent {
    ev(EventPayload::JobCancelled {
        reason: "operator".into(),
    })
}
