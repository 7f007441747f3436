//! Claims: one grant per job, one job per target at a time, fencing of stale attempts,
//! retries with backoff, dead letters, restarts and cancelled jobs.

use super::{backup, granted, worker, Harness, Wire};
use crate::Settings;
use cairn_bus::{ClaimReply, ControlError, ControlExt, WorkerEvent};
use cairn_domain::{Attempt, EventPayload, Failure, JobStatus, TargetName};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

pub async fn a_job_is_granted_once_and_a_target_runs_one_job_at_a_time(wire: &dyn Wire) {
    let h = Harness::start(wire, Settings::default()).await;
    let c = &h.control;
    let first = h.enqueue(backup("orders")).await;
    let second = h.enqueue(backup("orders")).await;
    let other_target = h.enqueue(backup("users")).await;

    let g = granted(c.claim_job(first, &worker(1)).await.unwrap());
    assert_eq!(g.attempt, Attempt(1));
    assert_eq!(g.target.name.as_str(), "orders");
    assert!(
        matches!(
            c.claim_job(first, &worker(2)).await.unwrap(),
            ClaimReply::Denied { .. }
        ),
        "live lease"
    );
    assert!(
        matches!(
            c.claim_job(second, &worker(2)).await.unwrap(),
            ClaimReply::Busy { .. }
        ),
        "same target"
    );
    granted(c.claim_job(other_target, &worker(2)).await.unwrap());
    assert_eq!(
        h.job(second).status,
        JobStatus::Queued,
        "a busy claim leaves the job queued"
    );
}

/// Many rounds: each races `claimers_per_job` claimers of each of `jobs` jobs on one
/// target, released at the same moment by a barrier; the round's winner then ends its
/// job, which frees the target for the next round (the losers stay queued, which does not
/// hold the target). Run it on a multi-threaded runtime.
pub async fn concurrent_claims_on_one_target_grant_exactly_one(
    wire: &dyn Wire,
    rounds: usize,
    jobs: usize,
    claimers_per_job: usize,
) {
    let h = Harness::start(wire, Settings::default()).await;
    for round in 0..rounds {
        let mut ids = Vec::new();
        for _ in 0..jobs {
            ids.push(h.enqueue(backup("orders")).await);
        }
        let claimers = ids.len() * claimers_per_job;
        let start = Arc::new(Barrier::new(claimers));
        let mut handles = Vec::new();
        for i in 0..claimers {
            let (c, start, job) = (h.control.clone(), start.clone(), ids[i % ids.len()]);
            handles.push(tokio::spawn(async move {
                start.wait().await;
                let reply = c.claim_job(job, &worker(i as u32)).await.unwrap();
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
        for job in &ids {
            let claimed = h.types(*job).iter().filter(|t| **t == "JobClaimed").count();
            let want = if *job == winner {
                (JobStatus::Running, 1)
            } else {
                (JobStatus::Queued, 0)
            };
            assert_eq!((h.job(*job).status, claimed), want, "round {round}");
        }
        h.control
            .fail_attempt(winner, attempt, Failure::permanent("test", "round over"))
            .await
            .unwrap();
    }
}

pub async fn a_stale_attempt_is_fenced_after_its_lease_lapses(wire: &dyn Wire) {
    // A zero lease lapses at once, so the second claim expires attempt 1 without waiting.
    let settings = Settings {
        lease: Duration::ZERO,
        ..Settings::default()
    };
    let h = Harness::start(wire, settings).await;
    let c = &h.control;
    let job = h.enqueue(backup("orders")).await;
    granted(c.claim_job(job, &worker(1)).await.unwrap());
    let second = granted(c.claim_job(job, &worker(2)).await.unwrap());
    assert_eq!(second.attempt, Attempt(2));

    let started = || {
        vec![WorkerEvent::JobStarted {
            server_version: "15".into(),
        }]
    };
    let stale = c.append_events(job, Attempt(1), started()).await;
    assert!(
        matches!(stale, Err(ControlError::Fenced { .. })),
        "{stale:?}"
    );
    let stale_fail = c
        .fail_attempt(job, Attempt(1), Failure::retryable("x", "late"))
        .await;
    assert!(
        matches!(stale_fail, Err(ControlError::Fenced { .. })),
        "{stale_fail:?}"
    );
    let stale_renew = c.renew_lease(job, Attempt(1)).await;
    assert!(
        matches!(stale_renew, Err(ControlError::Fenced { .. })),
        "{stale_renew:?}"
    );

    c.append_events(job, Attempt(2), started()).await.unwrap();
    assert_eq!(
        h.types(job),
        [
            "JobQueued",
            "JobClaimed",
            "LeaseExpired",
            "JobClaimed",
            "JobStarted"
        ]
    );
}

/// `Rejected` (the attempt is current but its events do not fit the job) is not
/// `Fenced` (the attempt is not current): a rejected worker reports the failure, and the
/// job ends failed; nothing the rejected append carried is in the ledger.
pub async fn a_transition_the_job_does_not_allow_is_rejected_not_fenced(wire: &dyn Wire) {
    let h = Harness::start(wire, Settings::default()).await;
    let c = &h.control;
    let job = h.enqueue(backup("orders")).await;
    granted(c.claim_job(job, &worker(1)).await.unwrap());
    let before = h.events(job).len();

    // A backup cannot succeed without a stored backup, and a restore's event does not
    // belong to it.
    let early = c
        .append_events(job, Attempt(1), vec![WorkerEvent::JobSucceeded])
        .await;
    assert!(
        matches!(
            &early,
            Err(ControlError::Rejected {
                attempt: Attempt(1),
                ..
            })
        ),
        "{early:?}"
    );
    let wrong_kind = c
        .append_events(
            job,
            Attempt(1),
            vec![WorkerEvent::RestoreApplied {
                source: TargetName::parse("orders").unwrap(),
                backup: cairn_domain::BackupId::new(chrono::Utc::now(), job),
                bytes: 1,
            }],
        )
        .await;
    assert!(
        matches!(&wrong_kind, Err(ControlError::Rejected { .. })),
        "{wrong_kind:?}"
    );
    assert_eq!(h.events(job).len(), before, "nothing rejected was recorded");
    assert_eq!(h.job(job).status, JobStatus::Running, "still the worker's");

    // The worker records the failure; the scheduler ends the job.
    let reply = c
        .fail_attempt(
            job,
            Attempt(1),
            Failure::permanent("rejected", "the control plane refused the events"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), None);
    assert_eq!(h.job(job).status, JobStatus::Failed);

    // Now the attempt has ended: anything more from it is fenced, not rejected.
    let late = c
        .append_events(job, Attempt(1), vec![WorkerEvent::JobSucceeded])
        .await;
    assert!(matches!(late, Err(ControlError::Fenced { .. })), "{late:?}");
    let future = c.renew_lease(job, Attempt(7)).await;
    assert!(
        matches!(future, Err(ControlError::Fenced { .. })),
        "{future:?}"
    );
    let unknown = c
        .renew_lease(cairn_domain::JobId::new_random(), Attempt(1))
        .await;
    assert!(
        matches!(unknown, Err(ControlError::NotFound { .. })),
        "{unknown:?}"
    );
}

pub async fn retryable_failures_back_off_until_attempts_run_out(wire: &dyn Wire) {
    let backoff = Duration::from_millis(1500);
    let settings = Settings {
        max_attempts: 2,
        retry_backoff: backoff,
        ..Settings::default()
    };
    let h = Harness::start(wire, settings).await;
    let c = &h.control;
    let job = h.enqueue(backup("orders")).await;

    granted(c.claim_job(job, &worker(1)).await.unwrap());
    let failed_at = Instant::now();
    let reply = c
        .fail_attempt(
            job,
            Attempt(1),
            Failure::retryable("unreachable", "refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), Some(backoff));
    assert_eq!(h.job(job).status, JobStatus::RetryDue);

    // Not claimable before the backoff has passed, claimable after: poll the claim (a
    // grant whose reply came back before `failed_at + backoff` was decided too early).
    let deadline = failed_at + backoff + Duration::from_secs(10);
    let mut refused_early = 0;
    let g = loop {
        let reply = c.claim_job(job, &worker(1)).await.unwrap();
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
    let reply = c
        .fail_attempt(
            job,
            Attempt(2),
            Failure::retryable("unreachable", "refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), None, "out of attempts");
    let state = h.job(job);
    assert_eq!(
        (state.status, state.dead_lettered),
        (JobStatus::Failed, true)
    );
    assert!(matches!(
        c.claim_job(job, &worker(3)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
}

pub async fn a_permanent_failure_is_dead_lettered_after_one_attempt(wire: &dyn Wire) {
    let h = Harness::start(wire, Settings::default()).await;
    let c = &h.control;
    let job = h.enqueue(backup("orders")).await;
    granted(c.claim_job(job, &worker(1)).await.unwrap());
    let reply = c
        .fail_attempt(
            job,
            Attempt(1),
            Failure::permanent("auth_failed", "password refused"),
        )
        .await
        .unwrap();
    assert_eq!(reply.retry_in(), None);
    let state = h.job(job);
    assert_eq!(
        (state.status, state.dead_lettered, state.attempt),
        (JobStatus::Failed, true, 1),
        "a permanent failure is dead-lettered at once"
    );
    assert_eq!(state.failure.unwrap().code, "auth_failed");
    let events = h.events(job);
    match &events.last().unwrap().payload {
        EventPayload::JobDeadLettered {
            attempts: 1,
            permanent: true,
            ..
        } => {}
        other => panic!("the job should end with a permanent dead letter: {other:?}"),
    }
    assert!(matches!(
        c.claim_job(job, &worker(2)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
}

pub async fn restart_expires_orphaned_attempts_and_a_removed_target_cancels_its_jobs(
    wire: &dyn Wire,
) {
    let h = Harness::start(wire, Settings::default()).await;
    let running = h.enqueue(backup("orders")).await;
    granted(h.control.claim_job(running, &worker(1)).await.unwrap());
    let waiting = h.enqueue(backup("users")).await;
    let events_before = h.events(running).len();

    // The process stops with attempt 1 running; a new scheduler opens the same ledger.
    let h = h.restart(wire, Settings::default()).await;
    let c = &h.control;
    let state = h.job(running);
    assert_eq!(
        (state.status, state.attempt),
        (JobStatus::Running, 1),
        "the running attempt is in the reopened ledger"
    );
    assert_eq!(h.events(running).len(), events_before);
    assert_eq!(h.job(waiting).status, JobStatus::Queued);

    assert_eq!(h.scheduler.expire_orphaned_attempts().await.unwrap(), 1);
    assert_eq!(h.job(running).status, JobStatus::RetryDue);
    assert_eq!(
        granted(c.claim_job(running, &worker(2)).await.unwrap()).attempt,
        Attempt(2)
    );

    let users = TargetName::parse("users").unwrap();
    assert!(h
        .scheduler
        .ledger()
        .remove_target(&users, None)
        .await
        .unwrap());
    assert!(matches!(
        c.claim_job(waiting, &worker(1)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
    assert_eq!(h.job(waiting).status, JobStatus::Cancelled);
}

pub async fn a_rejected_request_is_recorded_but_never_runs(wire: &dyn Wire) {
    let h = Harness::start(wire, Settings::default()).await;
    let job = h
        .scheduler
        .reject(
            backup("nosuch"),
            "api",
            Failure::permanent("unknown_target", "unknown target"),
        )
        .await
        .unwrap();
    let state = h.job(job);
    assert_eq!((state.status, state.attempt), (JobStatus::Failed, 0));
    assert_eq!(state.failure.unwrap().code, "unknown_target");
    assert!(matches!(
        h.control.claim_job(job, &worker(1)).await.unwrap(),
        ClaimReply::Denied { .. }
    ));
}
