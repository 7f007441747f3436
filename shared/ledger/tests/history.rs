//! History queries and the status index, table-driven.

mod common;

use cairn_domain::{JobId, JobKind, JobStatus};
use cairn_ledger::{HistoryQuery, Ledger, DEFAULT_LIMIT};
use chrono::Utc;
use common::*;

#[tokio::test]
async fn history_filters_and_orders_newest_first() {
    let (ledger, _dir) = ledger();
    let mut ids = std::collections::HashMap::new();
    let mut queue = |label: &'static str, target: &'static str, kind: JobKind| {
        let ledger = ledger.clone();
        let job = JobId::new_random();
        ids.insert(label, job);
        async move {
            ledger
                .append(job, 0, vec![queued(target, kind)])
                .await
                .unwrap();
        }
    };
    queue("a", "alpha", JobKind::Backup).await;
    queue("b", "alpha", JobKind::Backup).await;
    queue("c", "beta", JobKind::Prune).await;
    let mid = Utc::now();
    queue("d", "beta", JobKind::Backup).await;
    queue("e", "alpha", JobKind::Restore).await;
    ledger.append(ids["b"], 1, vec![claim(1)]).await.unwrap();
    ledger.append(ids["d"], 1, vec![cancelled()]).await.unwrap();

    let q = |target: Option<&str>, kind, status, since, limit| HistoryQuery {
        target: target.map(name),
        kind,
        status,
        since,
        limit,
    };
    use JobKind::*;
    use JobStatus::*;
    let table: Vec<(&str, HistoryQuery, Vec<&str>)> = vec![
        (
            "everything",
            q(None, None, None, None, 0),
            vec!["e", "d", "c", "b", "a"],
        ),
        (
            "one target",
            q(Some("alpha"), None, None, None, 0),
            vec!["e", "b", "a"],
        ),
        (
            "target and kind",
            q(Some("alpha"), Some(Backup), None, None, 0),
            vec!["b", "a"],
        ),
        (
            "target and status",
            q(Some("alpha"), None, Some(Queued), None, 0),
            vec!["e", "a"],
        ),
        (
            "kind and status",
            q(None, Some(Backup), Some(Queued), None, 0),
            vec!["a"],
        ),
        (
            "status",
            q(None, None, Some(Queued), None, 0),
            vec!["e", "c", "a"],
        ),
        ("running", q(None, None, Some(Running), None, 0), vec!["b"]),
        (
            "cancelled backups",
            q(None, Some(Backup), Some(Cancelled), None, 0),
            vec!["d"],
        ),
        (
            "kind",
            q(None, Some(Backup), None, None, 0),
            vec!["d", "b", "a"],
        ),
        ("since", q(None, None, None, Some(mid), 0), vec!["e", "d"]),
        (
            "target since",
            q(Some("beta"), None, None, Some(mid), 0),
            vec!["d"],
        ),
        (
            "status since",
            q(None, None, Some(Queued), Some(mid), 0),
            vec!["e"],
        ),
        ("limit", q(None, None, None, None, 2), vec!["e", "d"]),
        (
            "limit on a target",
            q(Some("alpha"), None, None, None, 1),
            vec!["e"],
        ),
        (
            "unknown target",
            q(Some("gamma"), None, None, None, 0),
            vec![],
        ),
        (
            "no match",
            q(None, Some(Restore), Some(Running), None, 0),
            vec![],
        ),
    ];
    for (case, query, expected) in table {
        let got: Vec<JobId> = ledger
            .history(&query)
            .unwrap()
            .iter()
            .map(|s| s.job_id)
            .collect();
        let expected: Vec<JobId> = expected.iter().map(|l| ids[l]).collect();
        assert_eq!(got, expected, "{case}");
    }
}

#[tokio::test]
async fn a_limit_of_zero_means_the_default() {
    let (ledger, _dir) = ledger();
    for _ in 0..DEFAULT_LIMIT + 5 {
        let job = JobId::new_random();
        ledger
            .append(job, 0, vec![queued("many", JobKind::Backup)])
            .await
            .unwrap();
    }
    let all = ledger.history(&HistoryQuery::default()).unwrap();
    assert_eq!(all.len(), DEFAULT_LIMIT);
    assert!(all.windows(2).all(|w| w[0].queued_at >= w[1].queued_at));
}

#[tokio::test]
async fn the_status_index_follows_every_transition() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let job = JobId::new_random();
    let in_status = |ledger: &Ledger, status| -> Vec<JobId> {
        ledger
            .jobs_in(&[status])
            .unwrap()
            .iter()
            .map(|s| s.job_id)
            .collect()
    };
    let steps = [
        (queued("orders", JobKind::Backup), JobStatus::Queued),
        (claim(1), JobStatus::Running),
        (started(1), JobStatus::Running),
        (failed(1, true), JobStatus::RetryDue),
        (claim(2), JobStatus::Running),
        (failed(2, false), JobStatus::Failed),
    ];
    for (seq, (event, status)) in steps.into_iter().enumerate() {
        ledger.append(job, seq as u64, vec![event]).await.unwrap();
        for s in JobStatus::ALL {
            let expected = if s == status { vec![job] } else { vec![] };
            assert_eq!(in_status(&ledger, s), expected, "after step {seq}, {s}");
            let query = HistoryQuery {
                kind: Some(JobKind::Backup),
                status: Some(s),
                ..HistoryQuery::default()
            };
            let hits = ledger.history(&query).unwrap().len();
            assert_eq!(hits, expected.len(), "history after step {seq}, {s}");
        }
    }
    let several = ledger
        .jobs_in(&[JobStatus::Queued, JobStatus::Failed])
        .unwrap();
    assert_eq!(several.len(), 1);
    // The open-time check counts index entries: a stale entry would refuse the reopen.
    drop(ledger);
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    assert_eq!(in_status(&ledger, JobStatus::Failed), vec![job]);
}
