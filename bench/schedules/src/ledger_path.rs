//! The real firing path: 100,000 policies in a real ledger (sled, flushed), and one pass of
//! the scheduler's firing loop (`Scheduler::fire_due`) at the instant 10,000 of them are
//! due, which queues each due backup durably (JobQueued appended and flushed through the
//! group commit, the message published on the in-process bus) and moves the cursors.
//!
//! `cairn up`'s loop sleeps until the earliest next fire, so a pass starts at the due
//! instant; the lag of a job is therefore measured from the pass's start to its JobQueued
//! (the event's own time, taken inside the append transaction, just before the flush that
//! acknowledges it), and the whole pass's end bounds every job's acknowledgement.

use cairn_bus::inproc::InProcessBus;
use cairn_domain::{CredentialRef, Endpoint, JobStatus, Policy, StorageName, Target, TargetName};
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use cairn_scheduler::{Scheduler, Settings};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;

/// How many configuration writes are in flight at once while setting up.
const SETUP_CONCURRENCY: usize = 256;

pub async fn run(
    policies: Vec<(TargetName, Policy)>,
    effective: DateTime<Utc>,
    slot: DateTime<Utc>,
    rss: impl Fn() -> (u64, u64),
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(&dir.path().join("ledger")).expect("ledger");
    let keyring = Keyring::from_hex(&"44".repeat(32)).expect("key");
    let scheduler = Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir.path(),
        Settings::default(),
    )
    .await
    .expect("scheduler");
    let ledger = scheduler.ledger().clone();
    let endpoint = Endpoint::parse("postgres://postgres@127.0.0.1:5432/app").expect("url");

    let t = Instant::now();
    futures::stream::iter(&policies)
        .for_each_concurrent(SETUP_CONCURRENCY, |(name, policy)| {
            let ledger = &ledger;
            let endpoint = &endpoint;
            async move {
                let target = Target {
                    name: name.clone(),
                    endpoint: endpoint.clone(),
                    credential: CredentialRef::None,
                    storage: StorageName::default_storage(),
                    created_at: effective,
                    ca_file: None,
                };
                ledger.put_target(&target, None).await.expect("target");
                ledger
                    .set_policy(name, Some(policy.clone()), None, effective)
                    .await
                    .expect("policy");
            }
        })
        .await;
    let setup = t.elapsed();
    let (rss_setup, _) = rss();
    println!(
        "ledger: {} targets and policies recorded (2 configuration events each, flushed) in {:.1} s",
        policies.len(),
        setup.as_secs_f64()
    );

    // The first pass reads every policy and cursor from the ledger and arms the heap.
    let t = Instant::now();
    let pass = scheduler.fire_due(effective).await.expect("pass");
    let arm = t.elapsed();
    let (rss_armed, hwm) = rss();
    println!(
        "read all {} policies from the ledger and compute their next fires (first pass): {:.1} ms, fired {}",
        policies.len(),
        arm.as_secs_f64() * 1e3,
        pass.fired.len()
    );
    println!(
        "RSS after setup {rss_setup} KiB, after arming {rss_armed} KiB (+{} KiB), peak {hwm} KiB",
        rss_armed.saturating_sub(rss_setup)
    );

    let before = ledger.last_global_seq();
    let start_wall = Utc::now();
    let t = Instant::now();
    let pass = scheduler.fire_due(slot).await.expect("pass");
    let whole = t.elapsed();
    let mut lags: Vec<f64> = Vec::with_capacity(pass.fired.len());
    let mut after = before;
    loop {
        let events = ledger.events_after(after, 10_000).expect("events");
        let Some(last) = events.last() else { break };
        after = last.global_seq;
        for e in &events {
            if e.payload.type_name() == "JobQueued" {
                lags.push((e.at - start_wall).as_seconds_f64());
            }
        }
    }
    lags.sort_by(f64::total_cmp);
    let pct = |p: usize| lags.get((lags.len() * p / 100).min(lags.len().saturating_sub(1)));
    let queued = ledger.jobs_in(&[JobStatus::Queued]).expect("jobs").len();
    println!(
        "real pass at {slot}: {} fired ({} queued in the ledger), skipped {}, missed {}; pass {:.1} ms",
        pass.fired.len(),
        queued,
        pass.skipped,
        pass.missed,
        whole.as_secs_f64() * 1e3
    );
    println!(
        "fire lag (pass start to JobQueued): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; every job acknowledged by {:.1} ms",
        pct(50).map_or(f64::NAN, |s| s * 1e3),
        pct(99).map_or(f64::NAN, |s| s * 1e3),
        lags.last().map_or(f64::NAN, |s| s * 1e3),
        whole.as_secs_f64() * 1e3
    );
}
