//! The scheduler's decisions, table-driven.

use super::*;
use crate::control::wire::*;
use crate::event::EventPayload as E;
use crate::ids::{JobId, WorkerId};
use crate::job::JobSpec;
use crate::names::{StorageName, TargetName};
use chrono::TimeZone;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

/// A backup job (3 attempts) after `events`, each at +1 s, +2 s, …
fn job(events: &[E]) -> JobState {
    let queued = E::JobQueued {
        spec: JobSpec::Backup {
            target: TargetName::parse("orders").unwrap(),
            storage: StorageName::default_storage(),
        },
        max_attempts: 3,
        requested_by: "test".into(),
    };
    let id = JobId(uuid::Uuid::from_u128(9));
    let mut state = JobState::next(None, id, t(0), &queued).unwrap();
    for (i, e) in events.iter().enumerate() {
        state = JobState::next(Some(&state), id, t(i as i64 + 1), e).unwrap();
    }
    state
}

fn claim(n: u32) -> E {
    E::JobClaimed {
        attempt: Attempt(n),
        worker_id: WorkerId("w".into()),
        lease_until: t(100),
    }
}

fn failed(n: u32, retry_at: Option<i64>) -> E {
    E::JobFailed {
        attempt: Attempt(n),
        failure: Failure::retryable("x", "y"),
        retry_at: retry_at.map(t),
    }
}

#[test]
fn claim_decisions_table() {
    use ClaimDecision as D;
    let granted = |n| D::Claimable {
        attempt: Attempt(n),
    };
    let denied = |reason: &str| D::Denied {
        reason: reason.into(),
    };
    // (events after JobQueued, in-memory lease, now, decision)
    let table: Vec<(Vec<E>, Option<i64>, i64, D)> = vec![
        (vec![], None, 5, granted(1)),
        (
            vec![claim(1)],
            Some(50),
            10,
            denied("attempt 1 holds a live lease"),
        ),
        (
            vec![claim(1)],
            None,
            10,
            denied("attempt 1 holds a live lease"),
        ),
        (vec![claim(1)], Some(50), 50, D::ExpireLease),
        (vec![claim(1)], Some(50), 51, D::ExpireLease),
        (
            vec![claim(1), failed(1, Some(30))],
            None,
            20,
            D::NotDue {
                retry_after: Duration::from_secs(10),
            },
        ),
        (vec![claim(1), failed(1, Some(30))], None, 30, granted(2)),
        (vec![claim(1), failed(1, Some(30))], None, 31, granted(2)),
        (
            vec![claim(1), failed(1, None)],
            None,
            5,
            denied("the job is failed"),
        ),
        (
            vec![
                claim(1),
                E::JobSucceeded {
                    attempt: Attempt(1),
                },
            ],
            None,
            5,
            denied("the job is succeeded"),
        ),
        (
            vec![E::JobCancelled { reason: "x".into() }],
            None,
            5,
            denied("the job is cancelled"),
        ),
        (
            vec![
                claim(1),
                E::LeaseExpired {
                    attempt: Attempt(1),
                    retry_at: Some(t(3)),
                },
            ],
            None,
            3,
            granted(2),
        ),
    ];
    for (i, (events, lease, now, want)) in table.into_iter().enumerate() {
        // A succeeded backup needs its stored backup; the table only cares about status.
        let state = match job_or_succeeded(&events) {
            Some(s) => s,
            None => job(&events),
        };
        assert_eq!(
            decide_claim(&state, lease.map(t), t(now)),
            want,
            "row {i}: {:?}",
            events.iter().map(|e| e.type_name()).collect::<Vec<_>>()
        );
    }
}

/// Succeeded backups need a `BackupStored` first; the claim table only needs the status.
fn job_or_succeeded(events: &[E]) -> Option<JobState> {
    if !events.iter().any(|e| matches!(e, E::JobSucceeded { .. })) {
        return None;
    }
    let mut state = job(&[claim(1)]);
    state.status = JobStatus::Succeeded;
    Some(state)
}

#[test]
fn failure_decisions_table() {
    let policy = RetryPolicy {
        backoff: Duration::from_secs(2),
        max_backoff: Duration::from_secs(5),
        restore_resume_window: Duration::from_secs(600),
    };
    let retry = |secs: u64| {
        let delay = Duration::from_secs(secs);
        FailureDecision::Retry {
            delay,
            at: t(100) + chrono::Duration::from_std(delay).unwrap(),
        }
    };
    let expired = |n: u32| E::LeaseExpired {
        attempt: Attempt(n),
        retry_at: Some(t(1)),
    };
    let permanent = || FailureDecision::DeadLetter {
        reason: "unreachable is permanent: retrying cannot help; fix the cause and start a new job"
            .into(),
        permanent: true,
    };
    // (attempts claimed, retryable, decision)
    let table = [
        (1, true, retry(2)),
        (2, true, retry(4)),
        (1, false, permanent()),
        (3, false, permanent()),
        (
            3,
            true,
            FailureDecision::DeadLetter {
                reason: "gave up after 3 attempts".into(),
                permanent: false,
            },
        ),
    ];
    for (attempts, retryable, want) in table {
        let mut events = Vec::new();
        for n in 1..=attempts {
            if n > 1 {
                events.push(expired(n - 1));
            }
            events.push(claim(n));
        }
        let state = job(&events);
        let failure = Failure {
            code: "unreachable".into(),
            message: "refused".into(),
            retryable,
        };
        let got = decide_failure(&state, &failure, &policy, t(100));
        assert_eq!(got, want, "attempt {attempts}, retryable {retryable}");
        // The events it writes fit the job's state machine and end where the decision says.
        let mut after = state.clone();
        for e in got.events(Attempt(attempts), &failure) {
            after = JobState::next(Some(&after), after.job_id, t(100), &e).unwrap();
        }
        let want_status = match got {
            FailureDecision::Retry { .. } => JobStatus::RetryDue,
            _ => JobStatus::Failed,
        };
        assert_eq!(after.status, want_status);
        assert_eq!(
            after.dead_lettered,
            matches!(got, FailureDecision::DeadLetter { .. })
        );
        assert_eq!(
            got.retry_in(),
            after.retry_at.map(|_| got.retry_in().unwrap())
        );
    }
}

#[test]
fn backoff_doubles_and_is_capped() {
    let policy = RetryPolicy {
        backoff: Duration::from_secs(2),
        max_backoff: Duration::from_secs(300),
        ..RetryPolicy::default()
    };
    let table = [
        (1, 2),
        (2, 4),
        (3, 8),
        (8, 256),
        (9, 300),
        (40, 300),
        (u32::MAX, 300),
    ];
    for (attempt, secs) in table {
        assert_eq!(
            policy.backoff_after(Attempt(attempt)),
            Duration::from_secs(secs),
            "after attempt {attempt}"
        );
    }
}

#[test]
fn expiry_retries_while_attempts_are_left() {
    let policy = RetryPolicy::default();
    let once = job(&[claim(1)]);
    assert_eq!(
        decide_expiry(&once, &policy, t(50)),
        [E::LeaseExpired {
            attempt: Attempt(1),
            retry_at: Some(t(50)),
        }]
    );
    let expired = |n: u32| E::LeaseExpired {
        attempt: Attempt(n),
        retry_at: Some(t(1)),
    };
    let last = job(&[claim(1), expired(1), claim(2), expired(2), claim(3)]);
    let events = decide_expiry(&last, &policy, t(50));
    let types: Vec<_> = events.iter().map(|e| e.type_name()).collect();
    assert_eq!(types, ["LeaseExpired", "JobDeadLettered"]);
    let mut after = last.clone();
    for e in &events {
        after = JobState::next(Some(&after), after.job_id, t(50), e).unwrap();
    }
    assert_eq!(
        (after.status, after.dead_lettered),
        (JobStatus::Failed, true)
    );
}

#[test]
fn progress_is_recorded_rarely() {
    const GIB: u64 = PROGRESS_STEP;
    let mark = ProgressMark {
        at: t(0),
        bytes: 10,
    };
    // (last recorded, now, bytes, recorded?)
    let table = [
        (None, 0, 0, true),
        (Some(mark), 1, 11, false),
        (Some(mark), 14, GIB, false),
        (Some(mark), 15, 10, true),
        (Some(mark), 100, 10, true),
        (Some(mark), 1, GIB + 10, true),
        (Some(mark), 1, 5, false),
    ];
    for (last, now, bytes, want) in table {
        assert_eq!(
            progress_due(last.as_ref(), t(now), bytes),
            want,
            "last {last:?}, +{now}s, {bytes} bytes"
        );
    }
}

#[test]
fn worker_events_become_their_attempts_ledger_events() {
    let lease = t(77);
    let e = WorkerEvent::JobProgress {
        bytes_db: 5,
        bytes_storage: 2,
    }
    .into_event(Attempt(4), lease);
    assert_eq!(
        e,
        E::JobProgress {
            attempt: Attempt(4),
            bytes_db: 5,
            bytes_storage: 2,
            lease_until: lease
        }
    );
    let e = WorkerEvent::JobSucceeded.into_event(Attempt(2), lease);
    assert_eq!(e.attempt(), Some(Attempt(2)));
    assert_eq!(e.type_name(), WorkerEvent::JobSucceeded.type_name());
}

#[test]
fn wire_bodies_round_trip_and_read_as_documented() {
    let req = CtlRequest {
        token: "s3cret".into(),
        body: AppendRequest {
            job_id: JobId(uuid::Uuid::from_u128(1)),
            attempt: Attempt(2),
            events: vec![
                WorkerEvent::JobStarted {
                    server_version: "15".into(),
                },
                WorkerEvent::JobSucceeded,
            ],
        },
    };
    let json = serde_json::to_value(&req).unwrap();
    assert_eq!(json["token"], "s3cret");
    assert_eq!(json["attempt"], 2);
    assert_eq!(json["events"][0]["type"], "JobStarted");
    assert_eq!(
        json["events"][1],
        serde_json::json!({"type": "JobSucceeded"})
    );
    let back: CtlRequest<AppendRequest> = serde_json::from_value(json).unwrap();
    assert_eq!(back.body, req.body);
    assert!(
        !format!("{req:?}").contains("s3cret"),
        "the token is not in Debug"
    );

    // A worker cannot smuggle a scheduler decision in as one of its events.
    let forged =
        serde_json::json!({"type": "JobDeadLettered", "payload": {"attempts": 1, "reason": "x"}});
    assert!(serde_json::from_value::<WorkerEvent>(forged).is_err());

    let err: CtlResponse<AppendReply> = CtlResponse::Error(ControlError::Rejected {
        job_id: JobId(uuid::Uuid::from_u128(1)),
        attempt: Attempt(2),
        reason: "no".into(),
    });
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(json["error"]["code"], "rejected");
    let back: Result<AppendReply, ControlError> =
        serde_json::from_value::<CtlResponse<AppendReply>>(json)
            .unwrap()
            .into();
    assert!(matches!(back, Err(ControlError::Rejected { .. })));

    let queued = PlatformReply::Queued {
        job_id: JobId(uuid::Uuid::from_u128(3)),
    };
    let text = serde_json::to_string(&queued).unwrap();
    assert_eq!(text, r#"{"job_id":"00000000-0000-0000-0000-000000000003"}"#);
    assert_eq!(
        serde_json::from_str::<PlatformReply>(&text).unwrap(),
        queued
    );
    let refused = PlatformReply::Refused {
        error: "target: unknown target nosuch".into(),
        job_id: Some(JobId(uuid::Uuid::from_u128(4))),
    };
    let text = serde_json::to_string(&refused).unwrap();
    assert_eq!(
        serde_json::from_str::<PlatformReply>(&text).unwrap(),
        refused
    );
}
