//! `GET /v1/jobs/{id}/wait?after_seq=N`: the long poll answers with the job's state and
//! only the events after `N`, at once when there are some, else when the next one comes.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use cairn_bus::{ControlExt, WorkerEvent};
use cairn_domain::api::JobView;
use cairn_domain::{Attempt, JobId, JobStatus, Role, TokenName};
use cairn_ledger::TokenRecord;
use cairn_scheduler::conformance::{backup, granted, worker, Harness, InProcess};
use cairn_scheduler::{api, tokens, Scheduler, Settings};
use std::time::Duration;
use tower::ServiceExt;

async fn operator(s: &Scheduler) -> String {
    let new = tokens::generate();
    let record = TokenRecord {
        name: TokenName::parse("ops").unwrap(),
        role: Role::Operate,
        sha256: new.sha256,
        created_at: chrono::Utc::now(),
        created_by: None,
        revoked_at: None,
    };
    s.ledger().create_token(&record).await.unwrap();
    new.token
}

async fn wait(
    s: &Scheduler,
    token: &str,
    job: JobId,
    query: &str,
) -> (StatusCode, Option<JobView>) {
    let request = Request::get(format!("/v1/jobs/{job}/wait?{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = api::router(s.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).ok())
}

fn seqs(view: &JobView) -> Vec<u64> {
    view.events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn wait_returns_only_the_events_after_the_callers_sequence() {
    let h = Harness::start(&InProcess, Settings::default()).await;
    let s = &h.scheduler;
    let token = operator(s).await;
    let job = h.enqueue(backup("orders")).await;
    granted(h.control.claim_job(job, &worker(1)).await.unwrap());
    h.control
        .append_events(
            job,
            Attempt(1),
            vec![WorkerEvent::JobStarted {
                server_version: "15".into(),
            }],
        )
        .await
        .unwrap();

    let renewed = h.control.renew_lease(job, Attempt(1)).await.unwrap();

    // Without after_seq: the whole log. With it: only what follows.
    let (status, all) = wait(s, &token, job, "timeout_ms=1").await;
    assert_eq!(status, StatusCode::OK);
    let all = all.unwrap();
    assert_eq!(seqs(&all), [1, 2, 3]);
    assert_eq!(
        all.state.lease_until,
        Some(renewed.lease_until),
        "the view shows the lease the scheduler holds, not the last one recorded"
    );
    let (_, rest) = wait(s, &token, job, "after_seq=1&timeout_ms=1").await;
    let rest = rest.unwrap();
    assert_eq!(seqs(&rest), [2, 3]);
    assert_eq!(rest.state.seq, 3, "the state is whole");

    // Nothing new: the poll times out with no events, not the whole log again.
    let (status, none) = wait(s, &token, job, "after_seq=3&timeout_ms=200").await;
    assert_eq!(status, StatusCode::OK);
    let none = none.unwrap();
    assert!(none.events.is_empty(), "{:?}", seqs(&none));
    assert_eq!(none.state.status, JobStatus::Running);

    // A poll that is waiting answers when the next events come, with those alone.
    let waiting = {
        let (s, token) = (s.clone(), token.clone());
        tokio::spawn(async move { wait(&s, &token, job, "after_seq=3&timeout_ms=30000").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.control
        .fail_attempt(
            job,
            Attempt(1),
            cairn_domain::Failure::permanent("x", "ended"),
        )
        .await
        .unwrap();
    let (_, woke) = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the poll answered when the job changed")
        .unwrap();
    let woke = woke.unwrap();
    // The permanent failure and its dead letter, appended together.
    assert_eq!(seqs(&woke), [4, 5]);
    assert_eq!(woke.events[0].payload.type_name(), "JobFailed");
    assert_eq!(woke.events[1].payload.type_name(), "JobDeadLettered");
    assert_eq!(woke.state.status, JobStatus::Failed);
}
