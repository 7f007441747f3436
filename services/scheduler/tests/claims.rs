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
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

struct Harness {
    scheduler: Scheduler,
    dir: tempfile::TempDir,
}

/// A scheduler on the ledger in `dir` (a new one, or the one a previous scheduler left).
async fn open_scheduler(dir: &Path, settings: Settings) -> Scheduler {
    let ledger = Ledger::open(&dir.join("ledger")).unwrap();
    let keyring = Keyring::from_hex(&"33".repeat(32)).unwrap();
    Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir,
        settings,
    )
    .await
    .unwrap()
}

async fn harness(settings: Settings) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = open_scheduler(dir.path(), settings).await;
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
        scheduler.ledger().put_target(&target, None).await.unwrap();
    }
    Harness { scheduler, dir }
}

impl Harness {
    /// Stops this scheduler (closing its ledger) and starts a new one on the same data
    /// dir, as a restarted process would.
    async fn restart(self, settings: Settings) -> Harness {
        let Harness { scheduler, dir } = self;
        drop(scheduler);
        let scheduler = open_scheduler(dir.path(), settings).await;
        Harness { scheduler, dir }
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

/// Claimers per job in each round of the race below.
const CLAIMERS_PER_JOB: usize = 2;
/// Jobs on the one target in each round, and rounds.
const JOBS: usize = 16;
const ROUNDS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_on_one_target_grant_exactly_one() {
    let h = harness(Settings::default()).await;
    let s = &h.scheduler;
    // Many rounds: each races every claimer of several jobs on one target, released at the
    // same moment by a barrier on four runtime threads; the round's winner then ends its
    // job, which frees the target for the next round (the losers stay queued, which does
    // not hold the target).
    for round in 0..ROUNDS {
        let mut jobs = Vec::new();
        for _ in 0..JOBS {
            jobs.push(s.enqueue(backup("orders"), "test").await.unwrap().job_id);
        }
        let claimers = jobs.len() * CLAIMERS_PER_JOB;
        let start = Arc::new(Barrier::new(claimers));
        let mut handles = Vec::new();
        for i in 0..claimers {
            let (s, start, job) = (s.clone(), start.clone(), jobs[i % jobs.len()]);
            handles.push(tokio::spawn(async move {
                start.wait().await;
                let reply = s.claim(job, &worker(i as u32)).await.unwrap();
                (job, reply)
            }));
        }
        let mut grants = Vec::new();
        for handle in handles {
            if let (job, ClaimReply::Granted(g)) = handle.await.unwrap() {
                grants.push((job, g.attempt));
            }
        }
        assert_eq!(grants.len(), 1, "round {round}: grants {grants:?}");
        let (winner, attempt) = grants[0];
        assert_eq!(attempt, Attempt(1), "round {round}");
        for job in &jobs {
            let state = s.ledger().job(*job).unwrap().unwrap();
            let claimed = s
                .ledger()
                .events(*job)
                .unwrap()
                .iter()
                .filter(|e| e.payload.type_name() == "JobClaimed")
                .count();
            let (status, claims) = if *job == winner {
                (JobStatus::Running, 1)
            } else {
                (JobStatus::Queued, 0)
            };
            assert_eq!((state.status, claimed), (status, claims), "round {round}");
        }
        s.fail(winner, attempt, Failure::permanent("test", "round over"))
            .await
            .unwrap();
    }
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
    let backoff = Duration::from_millis(1500);
    let settings = Settings {
        max_attempts: 2,
        retry_backoff: backoff,
        ..Settings::default()
    };
    let h = harness(settings).await;
    let s = &h.scheduler;
    let job = s.enqueue(backup("orders"), "test").await.unwrap().job_id;

    granted(s.claim(job, &worker(1)).await.unwrap());
    let failed_at = Instant::now();
    let reply = s
        .fail(
            job,
            Attempt(1),
            Failure::retryable("unreachable", "refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), Some(backoff));
    assert_eq!(
        s.ledger().job(job).unwrap().unwrap().status,
        JobStatus::RetryDue
    );

    // Not claimable before the backoff has passed, claimable after: poll the claim (a
    // grant whose reply came back before `failed_at + backoff` was decided too early).
    let deadline = failed_at + backoff + Duration::from_secs(10);
    let mut refused_early = 0;
    let g = loop {
        let reply = s.claim(job, &worker(1)).await.unwrap();
        let answered_after = failed_at.elapsed();
        match reply {
            ClaimReply::Granted(g) => {
                assert!(
                    answered_after >= backoff,
                    "granted {answered_after:?} after the failure, before the {backoff:?} backoff"
                );
                break *g;
            }
            ClaimReply::Busy {
                retry_after_ms,
                reason,
            } => {
                assert!(reason.contains("not due"), "{reason}");
                assert!(
                    retry_after_ms <= backoff.as_millis() as u64,
                    "{retry_after_ms} ms"
                );
                refused_early += 1;
                assert!(Instant::now() < deadline, "the retry never became due");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(
        refused_early > 0,
        "the first claim after the failure was granted at once"
    );
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
    let running = h
        .scheduler
        .enqueue(backup("orders"), "test")
        .await
        .unwrap()
        .job_id;
    granted(h.scheduler.claim(running, &worker(1)).await.unwrap());
    let waiting = h
        .scheduler
        .enqueue(backup("users"), "test")
        .await
        .unwrap()
        .job_id;
    let events_before = h.scheduler.ledger().events(running).unwrap().len();

    // The process stops with attempt 1 running; a new scheduler opens the same ledger.
    let h = h.restart(Settings::default()).await;
    let s = &h.scheduler;
    let state = s.ledger().job(running).unwrap().unwrap();
    assert_eq!(
        (state.status, state.attempt),
        (JobStatus::Running, 1),
        "the running attempt is in the reopened ledger"
    );
    assert_eq!(s.ledger().events(running).unwrap().len(), events_before);
    assert_eq!(
        s.ledger().job(waiting).unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(s
        .ledger()
        .target(&TargetName::parse("orders").unwrap())
        .unwrap()
        .is_some());

    assert_eq!(s.expire_orphaned_attempts().await.unwrap(), 1);
    let state = s.ledger().job(running).unwrap().unwrap();
    assert_eq!(state.status, JobStatus::RetryDue);
    assert_eq!(
        granted(s.claim(running, &worker(2)).await.unwrap()).attempt,
        Attempt(2)
    );

    assert!(s
        .ledger()
        .remove_target(&TargetName::parse("users").unwrap(), None)
        .await
        .unwrap());
    assert!(matches!(
        s.claim(waiting, &worker(1)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
    assert_eq!(
        s.ledger().job(waiting).unwrap().unwrap().status,
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
