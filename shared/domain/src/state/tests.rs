//! The job state machine, table-driven: every event in every status.

use super::*;
use crate::endpoint::{Engine, Scope};
use crate::event::EventPayload as E;
use crate::ids::BackupId;
use crate::names::{StorageName, TargetName};
use chrono::TimeZone;

pub(super) fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

fn job() -> JobId {
    JobId(uuid::Uuid::from_u128(7))
}

fn queued(kind: JobKind) -> E {
    let target = TargetName::parse("orders").unwrap();
    let storage = StorageName::default_storage();
    let spec = match kind {
        JobKind::Backup => JobSpec::Backup { target, storage },
        JobKind::Restore => JobSpec::Restore {
            target: target.clone(),
            source: target,
            backup: BackupId::new(t(0), job()),
            storage,
            trust_unsigned: false,
        },
        JobKind::Prune => JobSpec::prune(
            target,
            storage,
            crate::Keep::last(std::num::NonZeroU32::new(3).unwrap()),
        ),
        JobKind::Check => JobSpec::Check { target },
    };
    E::JobQueued {
        spec,
        max_attempts: 3,
        requested_by: "test".into(),
    }
}

pub(super) fn claim(n: u32) -> E {
    E::JobClaimed {
        attempt: Attempt(n),
        worker_id: WorkerId("w1".into()),
        lease_until: t(100),
    }
}

fn manifest() -> Manifest {
    Manifest {
        format: 1,
        id: BackupId::new(t(0), job()),
        target: TargetName::parse("orders").unwrap(),
        engine: Engine::Postgres,
        server_version: "15".into(),
        scope: Scope::Server,
        artifact: "dump.sql.zst".into(),
        size_bytes: 10,
        stored_bytes: 5,
        sha256: "00".into(),
        compression: "zstd".into(),
        format_name: "pg_dumpall-plain".into(),
        job_id: job(),
        created_at: t(0),
        duration_seconds: 1.0,
        signature: None,
        client_version: None,
        encryption: None,
    }
}

fn fail(n: u32, retry: bool) -> E {
    E::JobFailed {
        attempt: Attempt(n),
        failure: Failure::retryable("x", "boom"),
        retry_at: retry.then(|| t(50)),
    }
}

pub(super) fn fold(kind: JobKind, events: &[E]) -> Result<JobState, TransitionError> {
    let mut state: Option<JobState> = None;
    for (i, p) in std::iter::once(queued(kind))
        .chain(events.iter().cloned())
        .enumerate()
    {
        state = Some(JobState::next(state.as_ref(), job(), t(i as i64), &p)?);
    }
    Ok(state.unwrap())
}

#[test]
fn valid_lives_end_in_the_expected_status() {
    let stored = E::BackupStored {
        attempt: Attempt(1),
        manifest: manifest(),
    };
    let table: Vec<(&str, JobKind, Vec<E>, JobStatus, u32)> = vec![
        ("queued", JobKind::Backup, vec![], JobStatus::Queued, 0),
        (
            "claimed",
            JobKind::Backup,
            vec![claim(1)],
            JobStatus::Running,
            1,
        ),
        (
            "backup succeeds",
            JobKind::Backup,
            vec![
                claim(1),
                E::JobStarted {
                    attempt: Attempt(1),
                    server_version: "15".into(),
                },
                stored.clone(),
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
            ],
            JobStatus::Succeeded,
            1,
        ),
        (
            "retryable failure",
            JobKind::Backup,
            vec![claim(1), fail(1, true)],
            JobStatus::RetryDue,
            1,
        ),
        (
            "retry claimed",
            JobKind::Backup,
            vec![claim(1), fail(1, true), claim(2)],
            JobStatus::Running,
            2,
        ),
        (
            "final failure",
            JobKind::Backup,
            vec![claim(1), fail(1, false)],
            JobStatus::Failed,
            1,
        ),
        (
            "dead lettered",
            JobKind::Backup,
            vec![
                claim(1),
                fail(1, false),
                E::JobDeadLettered {
                    attempts: 1,
                    reason: "max".into(),
                    permanent: false,
                },
            ],
            JobStatus::Failed,
            1,
        ),
        (
            "lease expired",
            JobKind::Backup,
            vec![
                claim(1),
                E::LeaseExpired {
                    attempt: Attempt(1),
                    retry_at: Some(t(9)),
                },
            ],
            JobStatus::RetryDue,
            1,
        ),
        (
            "cancelled",
            JobKind::Backup,
            vec![E::JobCancelled {
                reason: "op".into(),
            }],
            JobStatus::Cancelled,
            0,
        ),
        (
            "restore succeeds",
            JobKind::Restore,
            vec![
                claim(1),
                E::RestoreApplied {
                    attempt: Attempt(1),
                    source: TargetName::parse("orders").unwrap(),
                    backup: BackupId::new(t(0), job()),
                    bytes: 3,
                },
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
            ],
            JobStatus::Succeeded,
            1,
        ),
        (
            "slot skipped",
            JobKind::Backup,
            vec![E::ScheduleSkipped {
                slot: t(0),
                policy_version: crate::schedule::PolicyVersion(1),
            }],
            JobStatus::Cancelled,
            0,
        ),
        (
            "slots missed",
            JobKind::Backup,
            vec![E::ScheduleMissed {
                first: t(0),
                last: t(3600),
                count: 2,
                policy_version: crate::schedule::PolicyVersion(1),
            }],
            JobStatus::Cancelled,
            0,
        ),
    ];
    for (name, kind, events, status, attempt) in table {
        let s = fold(kind, &events).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.status, status, "{name}");
        assert_eq!(s.attempt, attempt, "{name}");
        assert_eq!(s.seq, events.len() as u64 + 1, "{name}");
    }
}

#[test]
fn invalid_transitions_are_refused() {
    let stored = E::BackupStored {
        attempt: Attempt(1),
        manifest: manifest(),
    };
    let table: Vec<(&str, JobKind, Vec<E>)> = vec![
        (
            "double queue",
            JobKind::Backup,
            vec![queued(JobKind::Backup)],
        ),
        (
            "start before claim",
            JobKind::Backup,
            vec![E::JobStarted {
                attempt: Attempt(0),
                server_version: "1".into(),
            }],
        ),
        ("claim skips an attempt", JobKind::Backup, vec![claim(2)]),
        ("double claim", JobKind::Backup, vec![claim(1), claim(2)]),
        (
            "stale attempt's success",
            JobKind::Backup,
            vec![
                claim(1),
                fail(1, true),
                claim(2),
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
            ],
        ),
        (
            "stale attempt's progress",
            JobKind::Backup,
            vec![
                claim(1),
                fail(1, true),
                claim(2),
                E::JobProgress {
                    attempt: Attempt(1),
                    bytes_db: 1,
                    bytes_storage: 1,
                    lease_until: t(5),
                },
            ],
        ),
        (
            "backup success without artifact",
            JobKind::Backup,
            vec![
                claim(1),
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
            ],
        ),
        (
            "success after success",
            JobKind::Backup,
            vec![
                claim(1),
                stored.clone(),
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
            ],
        ),
        (
            "claim after success",
            JobKind::Backup,
            vec![
                claim(1),
                stored,
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
                claim(2),
            ],
        ),
        (
            "claim after final failure",
            JobKind::Backup,
            vec![claim(1), fail(1, false), claim(2)],
        ),
        (
            "cancel while running",
            JobKind::Backup,
            vec![claim(1), E::JobCancelled { reason: "x".into() }],
        ),
        (
            "dead letter while queued",
            JobKind::Backup,
            vec![E::JobDeadLettered {
                attempts: 0,
                reason: "x".into(),
                permanent: false,
            }],
        ),
        (
            "backup stored on a restore",
            JobKind::Restore,
            vec![
                claim(1),
                E::BackupStored {
                    attempt: Attempt(1),
                    manifest: manifest(),
                },
            ],
        ),
        (
            "restore applied on a backup",
            JobKind::Backup,
            vec![
                claim(1),
                E::RestoreApplied {
                    attempt: Attempt(1),
                    source: TargetName::parse("o").unwrap(),
                    backup: BackupId::new(t(0), job()),
                    bytes: 1,
                },
            ],
        ),
        (
            "slot skipped after a claim",
            JobKind::Backup,
            vec![
                claim(1),
                E::ScheduleSkipped {
                    slot: t(0),
                    policy_version: crate::schedule::PolicyVersion(1),
                },
            ],
        ),
        (
            "slots missed on a prune",
            JobKind::Prune,
            vec![E::ScheduleMissed {
                first: t(0),
                last: t(3600),
                count: 2,
                policy_version: crate::schedule::PolicyVersion(1),
            }],
        ),
    ];
    for (name, kind, events) in table {
        assert!(fold(kind, &events).is_err(), "{name} should be refused");
    }
}

#[test]
fn first_event_must_be_queued() {
    assert!(matches!(
        JobState::next(None, job(), t(0), &claim(1)),
        Err(TransitionError::NotQueuedFirst("JobClaimed"))
    ));
}

#[test]
fn claimability_and_leases() {
    let queued_job = fold(JobKind::Backup, &[]).unwrap();
    assert!(queued_job.claimable_at(t(0)));
    let retry = fold(JobKind::Backup, &[claim(1), fail(1, true)]).unwrap();
    assert!(!retry.claimable_at(t(49)));
    assert!(retry.claimable_at(t(50)));
    let running = fold(JobKind::Backup, &[claim(1)]).unwrap();
    assert!(!running.claimable_at(t(0)));
    assert!(!running.lease_expired_at(t(99)));
    assert!(running.lease_expired_at(t(100)));
    assert!(running.attempts_left());
}

#[test]
fn a_check_succeeds_on_its_preflight_alone_and_stores_nothing() {
    let started = E::JobStarted {
        attempt: Attempt(1),
        server_version: "15.4".into(),
    };
    let ok = fold(
        JobKind::Check,
        &[
            claim(1),
            started.clone(),
            E::JobSucceeded {
                attempt: Attempt(1),
            },
        ],
    )
    .unwrap();
    assert_eq!(ok.status, JobStatus::Succeeded);
    assert_eq!(ok.server_version.as_deref(), Some("15.4"));
    let stored = E::BackupStored {
        attempt: Attempt(1),
        manifest: manifest(),
    };
    assert!(matches!(
        fold(JobKind::Check, &[claim(1), started, stored]),
        Err(TransitionError::WrongKind { .. })
    ));
}
