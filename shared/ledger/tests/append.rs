//! Appends: compare-and-swap, sequences, state-machine checks, durability across reopen,
//! concurrency and the outbox feed.

mod common;

use cairn_domain::{Attempt, JobId, JobKind, JobStatus};
use cairn_ledger::{JobAppend, Ledger, LedgerError};
use common::*;
use std::collections::HashSet;

#[tokio::test]
async fn append_is_compare_and_swap_on_the_job_sequence() {
    let (ledger, _dir) = ledger();
    let job = JobId::new_random();
    ledger
        .append(job, 0, vec![queued("orders", JobKind::Backup)])
        .await
        .unwrap();

    // A second "new job" append and a stale one both lose.
    for expected in [0, 2, 7] {
        let err = ledger
            .append(job, expected, vec![claim(1)])
            .await
            .unwrap_err();
        match err {
            LedgerError::Conflict {
                job_id,
                expected: e,
                actual,
            } => {
                assert_eq!((job_id, e, actual), (job, expected, 1));
            }
            other => panic!("expected a conflict, got {other}"),
        }
    }
    assert_eq!(ledger.events(job).unwrap().len(), 1);
    ledger.append(job, 1, vec![claim(1)]).await.unwrap();
    assert_eq!(ledger.job(job).unwrap().unwrap().seq, 2);
}

#[tokio::test]
async fn sequences_have_no_gaps_and_global_sequences_rise_across_jobs() {
    let (ledger, _dir) = ledger();
    let (a, b) = (JobId::new_random(), JobId::new_random());
    ledger
        .append(a, 0, vec![queued("orders", JobKind::Backup), claim(1)])
        .await
        .unwrap();
    ledger
        .append(b, 0, vec![queued("users", JobKind::Prune)])
        .await
        .unwrap();
    let stored = ledger
        .append(a, 2, vec![started(1), progress(1, 10), progress(1, 20)])
        .await
        .unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(
        stored.iter().map(|e| e.global_seq).collect::<Vec<_>>(),
        [4, 5, 6]
    );

    let events = ledger.events(a).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        events.iter().map(|e| e.global_seq).collect::<Vec<_>>(),
        [1, 2, 4, 5, 6]
    );
    let first = &events[0];
    assert_eq!(first.kind, JobKind::Backup.into());
    assert_eq!(first.target.as_str(), "orders");
    assert_eq!(first.attempt, None);
    assert_eq!(events[1].attempt, Some(Attempt(1)));
    assert_eq!(ledger.events(b).unwrap()[0].global_seq, 3);
    assert_eq!(ledger.last_global_seq(), 6);
    let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
}

#[tokio::test]
async fn an_invalid_transition_is_refused_and_nothing_of_the_append_is_written() {
    let (ledger, _dir) = ledger();
    let job = JobId::new_random();

    // The first event of a job must be JobQueued.
    let err = ledger.append(job, 0, vec![claim(1)]).await.unwrap_err();
    assert!(matches!(err, LedgerError::Transition(_)), "{err}");
    assert!(ledger.job(job).unwrap().is_none());
    assert!(ledger.events(job).unwrap().is_empty());

    // A valid event followed by an invalid one: the whole append is refused.
    ledger
        .append(job, 0, vec![queued("orders", JobKind::Backup)])
        .await
        .unwrap();
    let err = ledger
        .append(job, 1, vec![claim(1), claim(2)])
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Transition(_)), "{err}");
    let state = ledger.job(job).unwrap().unwrap();
    assert_eq!((state.seq, state.status), (1, JobStatus::Queued));
    assert_eq!(ledger.events(job).unwrap().len(), 1);
    assert_eq!(ledger.last_global_seq(), 1);
    assert_eq!(ledger.events_after(0, 10).unwrap().len(), 1);

    // The global counter did not move: the next append gets 2.
    let stored = ledger.append(job, 1, vec![claim(1)]).await.unwrap();
    assert_eq!(stored[0].global_seq, 2);
}

#[tokio::test]
async fn an_empty_append_does_nothing() {
    let (ledger, _dir) = ledger();
    let stored = ledger.append(JobId::new_random(), 5, vec![]).await.unwrap();
    assert!(stored.is_empty());
    assert_eq!(ledger.last_global_seq(), 0);
}

#[tokio::test]
async fn reopening_keeps_every_event_state_and_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobId::new_random();
    let before = {
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        ledger
            .append(job, 0, vec![queued("orders", JobKind::Backup), claim(1)])
            .await
            .unwrap();
        ledger.append(job, 2, vec![failed(1, true)]).await.unwrap();
        ledger.events(job).unwrap()
    };
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    assert_eq!(ledger.events(job).unwrap(), before);
    let state = ledger.job(job).unwrap().unwrap();
    assert_eq!((state.seq, state.status), (3, JobStatus::RetryDue));
    assert_eq!(ledger.last_global_seq(), 3);
    assert_eq!(ledger.jobs_in(&[JobStatus::RetryDue]).unwrap().len(), 1);
    let next = ledger.append(job, 3, vec![claim(2)]).await.unwrap();
    assert_eq!((next[0].seq, next[0].global_seq), (4, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_different_jobs_all_get_unique_contiguous_global_sequences() {
    let (ledger, _dir) = ledger();
    const TASKS: usize = 8;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let ledger = ledger.clone();
        handles.push(tokio::spawn(async move {
            let job = JobId::new_random();
            let mut globals = Vec::new();
            let mut steps = vec![
                queued(&format!("t{task}"), JobKind::Backup),
                claim(1),
                started(1),
            ];
            steps.extend((1..=12).map(|b| progress(1, b)));
            for (i, event) in steps.into_iter().enumerate() {
                let stored = ledger.append(job, i as u64, vec![event]).await.unwrap();
                assert_eq!(stored[0].seq, i as u64 + 1);
                assert!(ledger.last_global_seq() >= stored[0].global_seq);
                globals.push(stored[0].global_seq);
            }
            assert!(globals.windows(2).all(|w| w[0] < w[1]), "{globals:?}");
            (job, globals)
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        let (job, globals) = handle.await.unwrap();
        assert_eq!(ledger.events(job).unwrap().len(), globals.len());
        all.extend(globals);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected);
    assert_eq!(ledger.last_global_seq(), all.len() as u64);
}

#[tokio::test]
async fn the_outbox_feed_runs_in_global_order_and_subscribers_wake() {
    let (ledger, _dir) = ledger();
    let mut rx = ledger.subscribe();
    assert_eq!(*rx.borrow_and_update(), 0);
    let (a, b) = (JobId::new_random(), JobId::new_random());
    ledger
        .append(a, 0, vec![queued("orders", JobKind::Backup)])
        .await
        .unwrap();
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), 1);
    ledger
        .append(b, 0, vec![queued("users", JobKind::Backup), claim(1)])
        .await
        .unwrap();
    ledger.append(a, 1, vec![cancelled()]).await.unwrap();
    assert_eq!(*rx.borrow_and_update(), 4);

    let all = ledger.events_after(0, 100).unwrap();
    assert_eq!(
        all.iter().map(|e| e.global_seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        all.iter().map(|e| (e.job_id, e.seq)).collect::<Vec<_>>(),
        [(a, 1), (b, 1), (b, 2), (a, 2)]
    );
    let page = ledger.events_after(1, 2).unwrap();
    assert_eq!(
        page.iter().map(|e| e.global_seq).collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(ledger.events_after(4, 10).unwrap().is_empty());
    assert!(ledger.events_after(0, 0).unwrap().is_empty());
}

#[tokio::test]
async fn a_batch_writes_every_job_but_the_refused_ones_across_transactions_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let existing = JobId::new_random();
    // More jobs than one transaction takes, so the batch spans several.
    let fresh: Vec<JobId> = (0..cairn_ledger::BATCH_JOBS * 2 + 7)
        .map(|_| JobId::new_random())
        .collect();
    let refused_transition = JobId::new_random();
    let (results, stored_before) = {
        let ledger = Ledger::open(&path).unwrap();
        ledger
            .append(existing, 0, vec![queued("orders", JobKind::Backup)])
            .await
            .unwrap();
        let mut batch: Vec<JobAppend> = fresh
            .iter()
            .map(|&job_id| JobAppend {
                job_id,
                expected_seq: 0,
                events: vec![queued("orders", JobKind::Backup)],
            })
            .collect();
        // In the middle: a stale "new job" append, and a job whose first event is not
        // JobQueued. Neither is written; the jobs around them are.
        batch.insert(
            600,
            JobAppend {
                job_id: existing,
                expected_seq: 0,
                events: vec![queued("orders", JobKind::Backup)],
            },
        );
        batch.insert(
            601,
            JobAppend {
                job_id: refused_transition,
                expected_seq: 0,
                events: vec![claim(1)],
            },
        );
        // The same job twice: the second part sees the first.
        batch.push(JobAppend {
            job_id: fresh[0],
            expected_seq: 1,
            events: vec![claim(1)],
        });
        let results = ledger.append_batch(batch).await.unwrap();
        (results, ledger.events_after(0, 10_000).unwrap())
    };
    assert_eq!(results.len(), fresh.len() + 3);
    assert!(
        matches!(
            results[600],
            Err(LedgerError::Conflict {
                expected: 0,
                actual: 1,
                ..
            })
        ),
        "{:?}",
        results[600]
    );
    assert!(
        matches!(results[601], Err(LedgerError::Transition(_))),
        "{:?}",
        results[601]
    );
    let ok: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 600 && *i != 601)
        .map(|(_, r)| r.as_ref().expect("every other job is written"))
        .collect();
    assert_eq!(ok.len(), fresh.len() + 1);
    // Global sequences are contiguous after the first append, in the batch's order.
    let globals: Vec<u64> = ok
        .iter()
        .flat_map(|s| s.iter().map(|e| e.global_seq))
        .collect();
    assert_eq!(globals, (2..2 + globals.len() as u64).collect::<Vec<_>>());

    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.events_after(0, 10_000).unwrap(), stored_before);
    assert_eq!(ledger.last_global_seq(), 1 + fresh.len() as u64 + 1);
    assert!(ledger.job(refused_transition).unwrap().is_none());
    assert_eq!(ledger.job(existing).unwrap().unwrap().seq, 1);
    let first = ledger.job(fresh[0]).unwrap().unwrap();
    assert_eq!((first.seq, first.status), (2, JobStatus::Running));
    for job in &fresh[1..] {
        assert_eq!(ledger.job(*job).unwrap().unwrap().status, JobStatus::Queued);
    }
    // Every fresh job but the claimed one, and `existing`.
    assert_eq!(
        ledger.jobs_in(&[JobStatus::Queued]).unwrap().len(),
        fresh.len()
    );
}
