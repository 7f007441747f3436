//! The firing loop under a controlled clock: each pass gets its `now`, so these tests walk
//! through hours of schedule in milliseconds, with a real ledger underneath.

use cairn_bus::inproc::InProcessBus;
use cairn_bus::{ClaimReply, ControlExt};
use cairn_domain::api::ScheduleSetRequest;
use cairn_domain::schedule::{jitter, slot_job_id};
use cairn_domain::{
    CredentialRef, Endpoint, EventPayload, Failure, JobId, JobStatus, PolicyRecord, StorageName,
    Target, TargetName, WorkerId,
};
use cairn_keyring::Keyring;
use cairn_ledger::{Ledger, ScheduleCursor};
use cairn_scheduler::{Scheduler, Settings};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::Path;
use std::sync::Arc;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn orders() -> TargetName {
    TargetName::parse("orders").unwrap()
}

async fn scheduler(dir: &Path) -> Scheduler {
    let ledger = Ledger::open(&dir.join("ledger")).unwrap();
    let keyring = Keyring::from_hex(&"44".repeat(32)).unwrap();
    let s = Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir,
        Settings::default(),
    )
    .await
    .unwrap();
    if s.ledger().target(&orders()).unwrap().is_none() {
        let target = Target {
            name: orders(),
            endpoint: Endpoint::parse("postgres://postgres@127.0.0.1:5432/orders").unwrap(),
            credential: CredentialRef::None,
            storage: StorageName::default_storage(),
            created_at: Utc::now(),
            ca_file: None,
        };
        s.ledger().put_target(&target, None).await.unwrap();
    }
    s
}

/// Sets an hourly UTC policy on `orders` effective at `at`, with these extra flags.
async fn hourly(
    s: &Scheduler,
    at: &str,
    edit: impl FnOnce(&mut ScheduleSetRequest),
) -> PolicyRecord {
    let mut request = ScheduleSetRequest {
        every: Some("hourly".into()),
        ..Default::default()
    };
    edit(&mut request);
    let policy = request.to_policy().unwrap();
    s.ledger()
        .set_policy(&orders(), Some(policy), None, t(at))
        .await
        .unwrap()
}

fn slot_id(p: &PolicyRecord, slot: &str) -> JobId {
    slot_job_id(p.policy_id, p.version, t(slot))
}

fn last_event(s: &Scheduler, job: JobId) -> EventPayload {
    s.ledger()
        .events(job)
        .unwrap()
        .pop()
        .expect("the slot's job exists")
        .payload
}

#[tokio::test]
async fn a_slot_fires_once_across_passes_restarts_and_a_lost_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let p = {
        let s = scheduler(dir.path()).await;
        let p = hourly(&s, "2026-03-01T00:30:00Z", |_| {}).await;
        assert!(s
            .fire_due(t("2026-03-01T00:59:59Z"))
            .await
            .unwrap()
            .fired
            .is_empty());
        let pass = s.fire_due(t("2026-03-01T01:00:01Z")).await.unwrap();
        assert_eq!(pass.fired, [slot_id(&p, "2026-03-01T01:00:00Z")]);
        let job = s.ledger().job(pass.fired[0]).unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.requested_by, "schedule:orders");
        assert!(s
            .fire_due(t("2026-03-01T01:00:02Z"))
            .await
            .unwrap()
            .fired
            .is_empty());
        p
    };
    // A restart on the same data directory.
    let s = scheduler(dir.path()).await;
    assert_eq!(
        s.fire_due(t("2026-03-01T01:00:03Z")).await.unwrap(),
        Default::default()
    );
    // A crash between the fire and the cursor's write: the slot is decided again, and the
    // ledger refuses the second JobQueued.
    let lost = ScheduleCursor {
        policy_id: p.policy_id,
        version: p.version,
        handled_through: p.at,
    };
    s.ledger()
        .set_schedule_cursor(&orders(), &lost)
        .await
        .unwrap();
    assert!(s
        .fire_due(t("2026-03-01T01:00:04Z"))
        .await
        .unwrap()
        .fired
        .is_empty());
    let events = s
        .ledger()
        .events(slot_id(&p, "2026-03-01T01:00:00Z"))
        .unwrap();
    assert_eq!(events.len(), 1, "one JobQueued, nothing more: {events:?}");
}

#[tokio::test]
async fn after_downtime_the_newest_slot_catches_up_once_and_older_ones_are_missed() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let p = hourly(&s, "2026-03-01T00:30:00Z", |_| {}).await;
    // Down from 00:40 to 03:20: 01:00 and 02:00 are past, 03:00 is inside the 1 h window.
    let pass = s.fire_due(t("2026-03-01T03:20:00Z")).await.unwrap();
    assert_eq!(pass.fired, [slot_id(&p, "2026-03-01T03:00:00Z")]);
    assert_eq!(pass.missed, 2);
    for slot in ["2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z"] {
        let job = s.ledger().job(slot_id(&p, slot)).unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Cancelled, "{slot}");
        assert!(
            matches!(last_event(&s, job.job_id), EventPayload::ScheduleMissed { last, count: 1, .. } if last == t(slot)),
            "{slot}"
        );
    }
    assert_eq!(
        s.fire_due(t("2026-03-01T03:40:00Z")).await.unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn a_slot_older_than_the_catch_up_window_is_recorded_as_missed_not_fired() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let p = hourly(&s, "2026-03-01T00:30:00Z", |r| {
        r.catch_up = Some("10m".into())
    })
    .await;
    let pass = s.fire_due(t("2026-03-01T01:30:00Z")).await.unwrap();
    assert!(pass.fired.is_empty());
    assert_eq!(pass.missed, 1);
    let id = slot_id(&p, "2026-03-01T01:00:00Z");
    assert_eq!(
        s.ledger().job(id).unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    assert!(matches!(
        last_event(&s, id),
        EventPayload::ScheduleMissed { count: 1, .. }
    ));
    // Recorded once: a later pass neither fires it nor records it again.
    assert_eq!(
        s.fire_due(t("2026-03-01T01:31:00Z")).await.unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn a_slot_that_comes_while_the_previous_backup_runs_is_skipped_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let p = hourly(&s, "2026-03-01T00:30:00Z", |_| {}).await;
    let first = s.fire_due(t("2026-03-01T01:00:01Z")).await.unwrap().fired[0];
    let worker = WorkerId("w1".into());
    assert!(matches!(
        s.claim_job(first, &worker).await.unwrap(),
        ClaimReply::Granted(_)
    ));
    let pass = s.fire_due(t("2026-03-01T02:00:01Z")).await.unwrap();
    assert!(pass.fired.is_empty());
    assert_eq!(pass.skipped, 1);
    let skipped = slot_id(&p, "2026-03-01T02:00:00Z");
    assert_eq!(
        s.ledger().job(skipped).unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    assert!(matches!(
        last_event(&s, skipped),
        EventPayload::ScheduleSkipped { slot, .. } if slot == t("2026-03-01T02:00:00Z")
    ));
    // Once the previous backup ended, the next slot fires again.
    let attempt = s.ledger().job(first).unwrap().unwrap().attempt;
    s.fail_attempt(
        first,
        cairn_domain::Attempt(attempt),
        Failure::permanent("test", "ended"),
    )
    .await
    .unwrap();
    let pass = s.fire_due(t("2026-03-01T03:00:01Z")).await.unwrap();
    assert_eq!(pass.fired, [slot_id(&p, "2026-03-01T03:00:00Z")]);
}

#[tokio::test]
async fn jitter_delays_the_fire_but_keeps_the_slot_and_its_job_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let p = hourly(&s, "2026-03-01T00:30:00Z", |r| {
        r.jitter = Some("30m".into())
    })
    .await;
    let delay = jitter(&orders(), std::time::Duration::from_secs(1800));
    let due = t("2026-03-01T01:00:00Z") + TimeDelta::from_std(delay).unwrap();
    let early = due - TimeDelta::milliseconds(1);
    assert!(s.fire_due(early).await.unwrap().fired.is_empty());
    let pass = s.fire_due(due).await.unwrap();
    assert_eq!(pass.fired, [slot_id(&p, "2026-03-01T01:00:00Z")]);
}

#[tokio::test]
async fn a_new_version_never_fires_the_past_and_a_cleared_schedule_never_fires() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    hourly(&s, "2026-03-01T00:30:00Z", |_| {}).await;
    s.ledger()
        .set_policy(&orders(), None, None, t("2026-03-01T00:40:00Z"))
        .await
        .unwrap();
    assert_eq!(
        s.fire_due(t("2026-03-01T01:00:01Z")).await.unwrap(),
        Default::default()
    );
    let v3 = hourly(&s, "2026-03-01T01:10:00Z", |_| {}).await;
    assert_eq!(
        s.fire_due(t("2026-03-01T01:20:00Z")).await.unwrap(),
        Default::default()
    );
    let pass = s.fire_due(t("2026-03-01T02:00:01Z")).await.unwrap();
    assert_eq!(pass.fired, [slot_id(&v3, "2026-03-01T02:00:00Z")]);
}

/// The server trusts no client: it parses the flags itself and refuses bad ones with 400
/// naming the flag, and records the token that set a schedule.
#[tokio::test]
async fn the_api_refuses_bad_flags_and_names_the_token_that_set_a_schedule() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let new = cairn_scheduler::tokens::generate();
    let record = cairn_ledger::TokenRecord {
        name: cairn_domain::TokenName::parse("ops").unwrap(),
        role: cairn_domain::Role::Admin,
        sha256: new.sha256,
        created_at: Utc::now(),
        created_by: None,
        revoked_at: None,
    };
    s.ledger().create_token(&record).await.unwrap();
    let put = |body: &'static str| {
        let request = Request::builder()
            .method("PUT")
            .uri("/v1/schedules/orders")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", new.token))
            .body(Body::from(body))
            .unwrap();
        let router = cairn_scheduler::api::router(s.clone());
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&bytes).to_string())
        }
    };
    for (body, flag) in [
        (r#"{"at":"25:00"}"#, "--at"),
        (r#"{"every":"daily","keep":0}"#, "--keep 0"),
        (r#"{"cron":"@daily","tz":"Europe/Berlin"}"#, "--tz"),
    ] {
        let (status, text) = put(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains(flag), "{body} names {flag}: {text}");
    }
    assert!(s.ledger().policy(&orders()).unwrap().is_none());
    let (status, text) = put(r#"{"every":"weekly","tz":"Asia/Kathmandu"}"#).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let history = s.ledger().policy_history(&orders()).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].by.as_ref().map(|t| t.as_str()), Some("ops"));
}

#[tokio::test]
async fn a_removed_targets_schedule_does_not_fire() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    hourly(&s, "2026-03-01T00:30:00Z", |_| {}).await;
    assert!(s.ledger().remove_target(&orders(), None).await.unwrap());
    assert_eq!(
        s.fire_due(t("2026-03-01T01:00:01Z")).await.unwrap(),
        Default::default()
    );
}
