//! The claim path against a real ledger: exclusivity per target, fencing of stale
//! attempts, retry decisions, lease expiry and cancellation of orphaned jobs.

use cairn_bus::inproc::InProcessBus;
use cairn_bus::{ClaimReply, Control, ControlError, Grant};
use cairn_domain::{
    Attempt, CredentialRef, Endpoint, EventPayload, Failure, JobSpec, JobStatus, StorageName,
    Target, TargetName, WorkerId,
};
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use cairn_scheduler::{Scheduler, Settings};
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    scheduler: Scheduler,
    _dir: tempfile::TempDir,
}

async fn harness(settings: Settings) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let keyring = Keyring::from_hex(&"33".repeat(32)).unwrap();
    let scheduler = Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir.path(),
        settings,
    )
    .await
    .unwrap();
    for name in ["orders", "users"] {
        let target = Target {
            name: TargetName::parse(name).unwrap(),
            endpoint: Endpoint::parse(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
                .unwrap(),
            credential: CredentialRef::None,
            storage: StorageName::default_storage(),
            created_at: chrono::Utc::now(),
            ca_file: None,
        };
        scheduler.ledger().put_target(&target).await.unwrap();
    }
    Harness {
        scheduler,
        _dir: dir,
    }
}

fn backup(target: &str) -> JobSpec {
    JobSpec::Backup {
        target: TargetName::parse(target).unwrap(),
        storage: StorageName::default_storage(),
    }
}

fn worker(n: u32) -> WorkerId {
    WorkerId(format!("w{n}"))
}

fn granted(reply: ClaimReply) -> Grant {
    match reply {
        ClaimReply::Granted(g) => *g,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[tokio::test]
async fn a_job_is_granted_once_and_a_target_runs_one_job_at_a_time() {
    let h = harness(Settings::default()).await;
    let s = &h.scheduler;
    let first = s.enqueue(backup("orders"), "test").await.unwrap();
    let second = s.enqueue(backup("orders"), "test").await.unwrap();
    let other_target = s.enqueue(backup("users"), "test").await.unwrap();

    let g = granted(s.claim(first.job_id, &worker(1)).await.unwrap());
    assert_eq!(g.attempt, Attempt(1));
    assert_eq!(g.target.name.as_str(), "orders");
    assert!(
        matches!(
            s.claim(first.job_id, &worker(2)).await.unwrap(),
            ClaimReply::Denied { .. }
        ),
        "live lease"
    );
    assert!(
        matches!(
            s.claim(second.job_id, &worker(2)).await.unwrap(),
            ClaimReply::Busy { .. }
        ),
        "same target"
    );
    granted(s.claim(other_target.job_id, &worker(2)).await.unwrap());

    let state = s.ledger().job(second.job_id).unwrap().unwrap();
    assert_eq!(
        state.status,
        JobStatus::Queued,
        "a busy claim leaves the job queued"
    );
}

#[tokio::test]
async fn concurrent_claims_on_one_target_grant_exactly_one() {
    let h = harness(Settings::default()).await;
    let mut jobs = Vec::new();
    for _ in 0..6 {
        jobs.push(
            h.scheduler
                .enqueue(backup("orders"), "test")
                .await
                .unwrap()
                .job_id,
        );
    }
    let mut handles = Vec::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let s = h.scheduler.clone();
        handles.push(tokio::spawn(async move {
            s.claim(job, &worker(i as u32)).await.unwrap()
        }));
    }
    let mut grants = 0;
    for handle in handles {
        if matches!(handle.await.unwrap(), ClaimReply::Granted(_)) {
            grants += 1;
        }
    }
    assert_eq!(grants, 1);
}

#[tokio::test]
async fn a_stale_attempt_is_fenced_after_its_lease_lapses() {
    // A zero lease lapses at once, so the second claim expires attempt 1 without waiting.
    let h = harness(Settings {
        lease: Duration::ZERO,
        ..Settings::default()
    })
    .await;
    let s = &h.scheduler;
    let job = s.enqueue(backup("orders"), "test").await.unwrap().job_id;
    granted(s.claim(job, &worker(1)).await.unwrap());
    let second = granted(s.claim(job, &worker(2)).await.unwrap());
    assert_eq!(second.attempt, Attempt(2));

    let stale = s
        .append(
            job,
            Attempt(1),
            vec![EventPayload::JobStarted {
                attempt: Attempt(1),
                server_version: "15".into(),
            }],
        )
        .await;
    assert!(
        matches!(stale, Err(ControlError::Fenced { .. })),
        "{stale:?}"
    );
    let stale_fail = s
        .fail(job, Attempt(1), Failure::retryable("x", "late"))
        .await;
    assert!(matches!(stale_fail, Err(ControlError::Fenced { .. })));

    s.append(
        job,
        Attempt(2),
        vec![EventPayload::JobStarted {
            attempt: Attempt(2),
            server_version: "15".into(),
        }],
    )
    .await
    .unwrap();
    let types: Vec<_> = s
        .ledger()
        .events(job)
        .unwrap()
        .iter()
        .map(|e| e.payload.type_name())
        .collect();
    assert_eq!(
        types,
        [
            "JobQueued",
            "JobClaimed",
            "LeaseExpired",
            "JobClaimed",
            "JobStarted"
        ]
    );
}

#[tokio::test]
async fn retryable_failures_back_off_until_attempts_run_out() {
    let settings = Settings {
        max_attempts: 2,
        retry_backoff: Duration::from_millis(10),
        ..Settings::default()
    };
    let h = harness(settings).await;
    let s = &h.scheduler;
    let job = s.enqueue(backup("orders"), "test").await.unwrap().job_id;

    granted(s.claim(job, &worker(1)).await.unwrap());
    let reply = s
        .fail(
            job,
            Attempt(1),
            Failure::retryable("unreachable", "refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), Some(Duration::from_millis(10)));
    assert_eq!(
        s.ledger().job(job).unwrap().unwrap().status,
        JobStatus::RetryDue
    );

    // Claimable only once the retry is due; poll the claim until it is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let g = loop {
        match s.claim(job, &worker(1)).await.unwrap() {
            ClaimReply::Granted(g) => break *g,
            ClaimReply::Busy { retry_after_ms, .. } => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "retry never became due"
                );
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(g.attempt, Attempt(2));
    let reply = s
        .fail(
            job,
            Attempt(2),
            Failure::retryable("unreachable", "refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), None, "out of attempts");
    let state = s.ledger().job(job).unwrap().unwrap();
    assert_eq!(
        (state.status, state.dead_lettered),
        (JobStatus::Failed, true)
    );
    assert!(matches!(
        s.claim(job, &worker(3)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
}

#[tokio::test]
async fn a_permanent_failure_ends_the_job_at_once() {
    let h = harness(Settings::default()).await;
    let s = &h.scheduler;
    let job = s.enqueue(backup("orders"), "test").await.unwrap().job_id;
    granted(s.claim(job, &worker(1)).await.unwrap());
    let reply = s
        .fail(
            job,
            Attempt(1),
            Failure::permanent("auth_failed", "password refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), None);
    let state = s.ledger().job(job).unwrap().unwrap();
    assert_eq!(state.status, JobStatus::Failed);
    assert!(
        !state.dead_lettered,
        "a permanent failure is not a dead letter"
    );
    assert_eq!(state.failure.unwrap().code, "auth_failed");
}

#[tokio::test]
async fn restart_expires_orphaned_attempts_and_a_removed_target_cancels_its_jobs() {
    let h = harness(Settings::default()).await;
    let s = &h.scheduler;
    let running = s.enqueue(backup("orders"), "test").await.unwrap().job_id;
    granted(s.claim(running, &worker(1)).await.unwrap());
    assert_eq!(s.expire_orphaned_attempts().await.unwrap(), 1);
    let state = s.ledger().job(running).unwrap().unwrap();
    assert_eq!(state.status, JobStatus::RetryDue);
    assert_eq!(
        granted(s.claim(running, &worker(2)).await.unwrap()).attempt,
        Attempt(2)
    );

    let orphan = s.enqueue(backup("users"), "test").await.unwrap().job_id;
    assert!(s
        .ledger()
        .remove_target(&TargetName::parse("users").unwrap())
        .await
        .unwrap());
    assert!(matches!(
        s.claim(orphan, &worker(1)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
    assert_eq!(
        s.ledger().job(orphan).unwrap().unwrap().status,
        JobStatus::Cancelled
    );
}

#[tokio::test]
async fn a_rejected_request_is_recorded_but_never_runs() {
    let h = harness(Settings::default()).await;
    let s = &h.scheduler;
    let job = s
        .reject(
            backup("nosuch"),
            "api",
            Failure::permanent("unknown_target", "unknown target"),
        )
        .await
        .unwrap();
    let state = s.ledger().job(job).unwrap().unwrap();
    assert_eq!((state.status, state.attempt), (JobStatus::Failed, 0));
    assert_eq!(state.failure.unwrap().code, "unknown_target");
    assert!(matches!(
        s.claim(job, &worker(1)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
    let failed = s
        .ledger()
        .history(&cairn_ledger::HistoryQuery {
            status: Some(JobStatus::Failed),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(failed.iter().map(|j| j.job_id).collect::<Vec<_>>(), [job]);
}
