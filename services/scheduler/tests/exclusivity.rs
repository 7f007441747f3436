//! Exclusivity per database, through the in-process control plane (the conformance suite
//! of `cairn_scheduler::conformance::exclusivity`).

use cairn_scheduler::conformance::{exclusivity, InProcess};

#[tokio::test]
async fn jobs_on_the_same_database_wait_for_each_other() {
    exclusivity::jobs_on_the_same_database_wait_for_each_other(&InProcess).await;
}

#[tokio::test]
async fn the_second_target_runs_once_the_first_ends() {
    exclusivity::the_second_target_runs_once_the_first_ends(&InProcess).await;
}
