//! The claim path against a real ledger, through the in-process control plane: the
//! conformance suite of `cairn_scheduler::conformance` (the NATS transport runs the same
//! bodies).

use cairn_scheduler::conformance::{claims, leases, InProcess};

#[tokio::test]
async fn a_job_is_granted_once_and_a_target_runs_one_job_at_a_time() {
    claims::a_job_is_granted_once_and_a_target_runs_one_job_at_a_time(&InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_on_one_target_grant_exactly_one() {
    claims::concurrent_claims_on_one_target_grant_exactly_one(&InProcess, 150, 16, 2).await;
}

#[tokio::test]
async fn a_stale_attempt_is_fenced_after_its_lease_lapses() {
    claims::a_stale_attempt_is_fenced_after_its_lease_lapses(&InProcess).await;
}

#[tokio::test]
async fn a_transition_the_job_does_not_allow_is_rejected_not_fenced() {
    claims::a_transition_the_job_does_not_allow_is_rejected_not_fenced(&InProcess).await;
}

#[tokio::test]
async fn retryable_failures_back_off_until_attempts_run_out() {
    claims::retryable_failures_back_off_until_attempts_run_out(&InProcess).await;
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_after_one_attempt() {
    claims::a_permanent_failure_is_dead_lettered_after_one_attempt(&InProcess).await;
}

#[tokio::test]
async fn restart_expires_orphaned_attempts_and_a_removed_target_cancels_its_jobs() {
    claims::restart_expires_orphaned_attempts_and_a_removed_target_cancels_its_jobs(&InProcess)
        .await;
}

#[tokio::test]
async fn a_rejected_request_is_recorded_but_never_runs() {
    claims::a_rejected_request_is_recorded_but_never_runs(&InProcess).await;
}

#[tokio::test]
async fn renewals_keep_the_lease_without_ledger_events() {
    leases::renewals_keep_the_lease_without_ledger_events(&InProcess).await;
}

#[tokio::test]
async fn the_reconciler_expires_a_silent_attempt() {
    leases::the_reconciler_expires_a_silent_attempt(&InProcess).await;
}

#[tokio::test]
async fn a_restarted_scheduler_gives_a_running_attempt_a_fresh_lease() {
    leases::a_restarted_scheduler_gives_a_running_attempt_a_fresh_lease(&InProcess).await;
}

#[tokio::test]
async fn frequent_progress_is_recorded_rarely() {
    leases::frequent_progress_is_recorded_rarely(&InProcess).await;
}
