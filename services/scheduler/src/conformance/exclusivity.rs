//! Exclusivity per database: two targets naming the same database on the same server
//! (however the host is spelled) never hold claims at the same time; a whole-server target
//! holds every database of its server; a prune only holds its own target.

use super::{backup, granted, prune, worker, Harness, Wire};
use crate::Settings;
use cairn_bus::{ClaimReply, ControlExt};
use cairn_domain::{Attempt, Failure, JobSpec};

/// With a backup of `holder` running, whether a job `other` is held back.
async fn busy_while(wire: &dyn Wire, holder: &str, other: JobSpec) -> bool {
    let h = Harness::start(wire, Settings::default()).await;
    let first = h.enqueue(backup(holder)).await;
    let second = h.enqueue(other.clone()).await;
    granted(h.control.claim_job(first, &worker(1)).await.unwrap());
    match h.control.claim_job(second, &worker(2)).await.unwrap() {
        ClaimReply::Busy { reason, .. } => {
            assert!(
                reason.contains(holder),
                "the reason names the holder: {reason}"
            );
            true
        }
        ClaimReply::Granted(_) => false,
        denied => panic!("{holder} / {other:?}: {denied:?}"),
    }
}

pub async fn jobs_on_the_same_database_wait_for_each_other(wire: &dyn Wire) {
    let table: &[(&str, JobSpec, bool)] = &[
        ("orders", backup("orders-alias"), true),
        ("orders", backup("orders-v6"), true),
        ("orders-alias", backup("orders"), true),
        ("orders", backup("cluster"), true),
        ("cluster", backup("users"), true),
        ("orders", backup("users"), false),
        ("orders", backup("elsewhere"), false),
        // A prune touches storage only: it waits for its own target alone.
        ("orders", prune("orders-alias"), false),
        ("orders", prune("orders"), true),
    ];
    for (holder, other, want) in table {
        assert_eq!(
            busy_while(wire, holder, other.clone()).await,
            *want,
            "backup of {holder} running, then {other:?}"
        );
    }
}

pub async fn the_second_target_runs_once_the_first_ends(wire: &dyn Wire) {
    let h = Harness::start(wire, Settings::default()).await;
    let c = &h.control;
    let first = h.enqueue(backup("orders")).await;
    let second = h.enqueue(backup("orders-alias")).await;
    granted(c.claim_job(first, &worker(1)).await.unwrap());
    assert!(!matches!(
        c.claim_job(second, &worker(2)).await.unwrap(),
        ClaimReply::Granted(_)
    ));
    c.fail_attempt(
        first,
        Attempt(1),
        Failure::permanent("test", "the first backup ends"),
    )
    .await
    .unwrap();
    granted(c.claim_job(second, &worker(2)).await.unwrap());
}
