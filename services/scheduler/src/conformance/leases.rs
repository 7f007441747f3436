//! Leases and progress: a lease lives in the scheduler's memory and is kept by `renew`
//! (no ledger event); a silent attempt loses it; a restarted scheduler gives a running
//! attempt a fresh window; progress reaches the ledger only now and then.

use super::{backup, granted, worker, Harness, Wire};
use crate::Settings;
use cairn_bus::{ClaimReply, ControlError, ControlExt, WorkerEvent};
use cairn_domain::control::PROGRESS_STEP;
use cairn_domain::{Attempt, JobStatus};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_secs(2);

fn short_lease() -> Settings {
    Settings {
        lease: LEASE,
        ..Settings::default()
    }
}

/// Polls `claim` of `job` by worker 9 until it is granted (the lease lapsed), within
/// a generous deadline; returns how long that took.
async fn claim_when_lapsed(h: &Harness, job: cairn_domain::JobId) -> (Duration, Attempt) {
    let start = Instant::now();
    loop {
        match h.control.claim_job(job, &worker(9)).await.unwrap() {
            ClaimReply::Granted(g) => return (start.elapsed(), g.attempt),
            ClaimReply::Denied { reason } => assert!(reason.contains("live lease"), "{reason}"),
            busy => panic!("{busy:?}"),
        }
        assert!(
            start.elapsed() < LEASE * 15,
            "the lease never lapsed ({:?})",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn renewals_keep_the_lease_without_ledger_events(wire: &dyn Wire) {
    let h = Harness::start(wire, short_lease()).await;
    let c = &h.control;
    let job = h.enqueue(backup("orders")).await;
    let g = granted(c.claim_job(job, &worker(1)).await.unwrap());
    let events = h.events(job).len();

    // Renew for three lease lengths: every claim by another worker in that time is denied.
    let start = Instant::now();
    let mut last = g.lease_until;
    while start.elapsed() < LEASE * 3 {
        let reply = c.renew_lease(job, Attempt(1)).await.unwrap();
        assert!(
            reply.lease_until >= last,
            "a renewal never shortens the lease"
        );
        last = reply.lease_until;
        assert!(
            matches!(
                c.claim_job(job, &worker(2)).await.unwrap(),
                ClaimReply::Denied { .. }
            ),
            "a renewed lease holds"
        );
        tokio::time::sleep(LEASE / 8).await;
    }
    assert!(last > g.lease_until, "renewals moved the lease on");
    assert_eq!(
        h.events(job).len(),
        events,
        "renewals are not ledger events"
    );

    // Silence: the lease lapses, another worker gets attempt 2, attempt 1 is fenced.
    let (_, attempt) = claim_when_lapsed(&h, job).await;
    assert_eq!(attempt, Attempt(2));
    let stale = c.renew_lease(job, Attempt(1)).await;
    assert!(
        matches!(stale, Err(ControlError::Fenced { .. })),
        "{stale:?}"
    );
    assert_eq!(
        h.types(job),
        ["JobQueued", "JobClaimed", "LeaseExpired", "JobClaimed"]
    );
}

pub async fn the_reconciler_expires_a_silent_attempt(wire: &dyn Wire) {
    let h = Harness::start(wire, short_lease()).await;
    let job = h.enqueue(backup("orders")).await;
    granted(h.control.claim_job(job, &worker(1)).await.unwrap());
    h.scheduler.reconcile().await.unwrap();
    assert_eq!(h.job(job).status, JobStatus::Running, "the lease is live");
    let start = Instant::now();
    while h.job(job).status == JobStatus::Running {
        assert!(start.elapsed() < LEASE * 15, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.scheduler.reconcile().await.unwrap();
    }
    assert!(
        start.elapsed() >= LEASE / 2,
        "expired before the lease ran out"
    );
    assert_eq!(h.job(job).status, JobStatus::RetryDue);
}

/// After a restart the scheduler has no lease in memory: a running attempt gets a fresh
/// window from then (its worker may be alive), and can keep it by renewing.
pub async fn a_restarted_scheduler_gives_a_running_attempt_a_fresh_lease(wire: &dyn Wire) {
    let h = Harness::start(wire, short_lease()).await;
    let job = h.enqueue(backup("orders")).await;
    granted(h.control.claim_job(job, &worker(1)).await.unwrap());
    // Wait until the lease recorded in the ledger (the claim's) is over.
    let claimed_lease = h.job(job).lease_until.expect("the claim records a lease");
    while chrono::Utc::now() <= claimed_lease {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = h.restart(wire, short_lease()).await;
    h.scheduler.reconcile().await.unwrap();
    assert_eq!(
        h.job(job).status,
        JobStatus::Running,
        "a fresh window from the restart, not the ledger's lapsed lease"
    );
    // The worker is alive: it renews through the new scheduler and keeps its job.
    for _ in 0..4 {
        h.control.renew_lease(job, Attempt(1)).await.unwrap();
        tokio::time::sleep(LEASE / 4).await;
        h.scheduler.reconcile().await.unwrap();
        assert_eq!(h.job(job).status, JobStatus::Running);
    }
    let (_, attempt) = claim_when_lapsed(&h, job).await;
    assert_eq!(attempt, Attempt(2), "once silent, the attempt expires");
}

/// A long attempt reporting progress many times a second: the ledger gets a
/// `JobProgress` at most every 15 s or 1 GiB, and every report still renews the lease.
pub async fn frequent_progress_is_recorded_rarely(wire: &dyn Wire) {
    let h = Harness::start(wire, short_lease()).await;
    let c = &h.control;
    let job = h.enqueue(backup("orders")).await;
    granted(c.claim_job(job, &worker(1)).await.unwrap());
    let progress = |bytes: u64| {
        vec![WorkerEvent::JobProgress {
            bytes_db: bytes,
            bytes_storage: bytes / 4,
        }]
    };

    // 400 small steps over ~3 lease lengths: one event (the first), the lease kept.
    let start = Instant::now();
    let reports = 400u64;
    for i in 0..reports {
        c.append_events(job, Attempt(1), progress(i * 1000))
            .await
            .unwrap();
        tokio::time::sleep(LEASE * 3 / reports as u32).await;
    }
    let elapsed = start.elapsed();
    let recorded = |h: &Harness| h.types(job).iter().filter(|t| **t == "JobProgress").count();
    let bound = 1 + (elapsed.as_secs() / 15) as usize;
    assert!(
        (1..=bound).contains(&recorded(&h)),
        "{reports} reports in {elapsed:?} recorded {} JobProgress events",
        recorded(&h)
    );
    assert_eq!(
        h.job(job).status,
        JobStatus::Running,
        "progress renewed the lease"
    );

    // Large steps are recorded at once: 5 reports of +1 GiB each.
    let before = recorded(&h);
    let base = reports * 1000;
    for n in 1..=5u64 {
        c.append_events(job, Attempt(1), progress(base + n * PROGRESS_STEP))
            .await
            .unwrap();
    }
    assert_eq!(recorded(&h), before + 5, "every GiB step is recorded");
    let state = h.job(job);
    assert_eq!(
        state.bytes_db,
        base + 5 * PROGRESS_STEP,
        "the last step is in the state"
    );
}
