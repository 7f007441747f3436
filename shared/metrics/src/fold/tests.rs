//! The fold and the registry, on hand-made logs: each test is one job's life.

use super::Outcome;
use crate::{Format, Metrics};
use cairn_domain::{
    Actor, Attempt, BackupId, Engine, EventEnvelope, EventId, EventPayload as E, Failure, JobId,
    JobSpec, Manifest, Scope, StorageName, TargetName, WorkerId,
};
use chrono::{DateTime, TimeZone, Utc};

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn target() -> TargetName {
    TargetName::parse("orders").unwrap()
}

/// A log of one job: `(seconds, payload)` turned into envelopes with sequence numbers.
struct Log {
    job: JobId,
    seq: u64,
}

impl Log {
    fn new(n: u128) -> Self {
        Self {
            job: JobId(uuid::Uuid::from_u128(n)),
            seq: 0,
        }
    }
    fn event(&mut self, at: i64, payload: E) -> EventEnvelope {
        self.seq += 1;
        EventEnvelope {
            event_id: EventId::new(),
            job_id: self.job,
            seq: self.seq,
            global_seq: self.seq,
            at: t(at),
            kind: cairn_domain::JobKind::Backup.into(),
            target: target(),
            attempt: None,
            actor: Actor::service("test"),
            payload,
        }
    }
}

fn queued_backup() -> E {
    E::JobQueued {
        spec: JobSpec::Backup {
            target: target(),
            storage: StorageName::default_storage(),
        },
        max_attempts: 3,
        requested_by: "test".into(),
    }
}

fn claim(n: u32, _at: i64) -> E {
    E::JobClaimed {
        attempt: Attempt(n),
        worker_id: WorkerId("w1".into()),
        lease_until: t(1000),
    }
}

fn stored(job: JobId, bytes: u64) -> E {
    E::BackupStored {
        attempt: Attempt(1),
        manifest: Manifest {
            format: 1,
            id: BackupId::new(t(0), job),
            target: target(),
            engine: Engine::Redis,
            server_version: "7".into(),
            scope: Scope::Server,
            artifact: "dump.redis.zst".into(),
            size_bytes: bytes * 3,
            stored_bytes: bytes,
            sha256: "00".into(),
            compression: "zstd".into(),
            format_name: "cairn-redis-v1".into(),
            job_id: job,
            created_at: t(0),
            duration_seconds: 1.0,
            client_version: None,
            encryption: None,
            signature: None,
        },
    }
}

fn feed(metrics: &Metrics, events: &[EventEnvelope]) {
    for e in events {
        metrics.observe(e, |_| Some(Engine::Postgres));
    }
}

/// The value of the one sample line that starts with `series ` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn a_successful_backup_sets_every_metric_of_its_target() {
    let m = Metrics::new("9.9.9");
    let mut log = Log::new(1);
    let job = log.job;
    let events = [
        log.event(0, queued_backup()),
        log.event(2, claim(1, 2)),
        log.event(3, stored(job, 4096)),
        log.event(
            12,
            E::JobSucceeded {
                attempt: Attempt(1),
            },
        ),
    ];
    feed(&m, &events[..2]);
    let text = m.encode(Format::Prometheus);
    assert_eq!(
        value(&text, r#"cairn_jobs_in_progress{kind="backup"}"#),
        Some(1.0)
    );
    feed(&m, &events[2..]);
    let text = m.encode(Format::Prometheus);
    assert_eq!(
        value(&text, r#"cairn_jobs_in_progress{kind="backup"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_jobs_total{kind="backup",engine="redis",target="orders",outcome="succeeded"}"#
        ),
        Some(1.0),
        "the manifest's engine wins: {text}"
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_last_success_timestamp_seconds{kind="backup",target="orders"}"#
        ),
        Some(t(12).timestamp() as f64)
    );
    assert_eq!(
        value(&text, r#"cairn_last_backup_size_bytes{target="orders"}"#),
        Some(4096.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_job_duration_seconds_sum{kind="backup",engine="redis"}"#
        ),
        Some(10.0),
        "first claim to end"
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_job_duration_seconds_bucket{kind="backup",engine="redis",le="15"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "cairn_ledger_events_total"), Some(4.0));
    assert_eq!(
        value(&text, r#"cairn_build_info{version="9.9.9"}"#),
        Some(1.0)
    );
}

#[test]
fn a_retried_failure_counts_once_as_dead_lettered() {
    let m = Metrics::new("1");
    let mut log = Log::new(2);
    let events = [
        log.event(0, queued_backup()),
        log.event(1, claim(1, 1)),
        log.event(
            2,
            E::JobFailed {
                attempt: Attempt(1),
                failure: Failure::retryable("connect", "refused"),
                retry_at: Some(t(4)),
            },
        ),
        log.event(4, claim(2, 4)),
        log.event(
            5,
            E::JobFailed {
                attempt: Attempt(2),
                failure: Failure::retryable("connect", "refused"),
                retry_at: None,
            },
        ),
        log.event(
            5,
            E::JobDeadLettered {
                attempts: 2,
                reason: "gave up after 2 attempts".into(),
                permanent: false,
            },
        ),
    ];
    feed(&m, &events);
    let text = m.encode(Format::Prometheus);
    let series = |outcome: &str| {
        format!(
            r#"cairn_jobs_total{{kind="backup",engine="postgres",target="orders",outcome="{outcome}"}}"#
        )
    };
    assert_eq!(value(&text, &series("dead_lettered")), Some(1.0), "{text}");
    assert_eq!(
        value(&text, &series("failed")),
        Some(0.0),
        "every outcome shows from the first job"
    );
    assert_eq!(
        value(&text, r#"cairn_jobs_in_progress{kind="backup"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_job_duration_seconds_count{kind="backup",engine="postgres"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_last_success_timestamp_seconds{kind="backup",target="orders"}"#
        ),
        None
    );
}

#[test]
fn outcomes_of_ending_events() {
    let permanent = Failure::permanent("auth", "denied");
    let retryable = Failure::retryable("io", "cut");
    let cases: Vec<(E, Option<Outcome>)> = vec![
        (
            E::JobSucceeded {
                attempt: Attempt(1),
            },
            Some(Outcome::Succeeded),
        ),
        (
            E::JobFailed {
                attempt: Attempt(1),
                failure: permanent.clone(),
                retry_at: None,
            },
            Some(Outcome::Failed),
        ),
        (
            E::JobFailed {
                attempt: Attempt(1),
                failure: retryable.clone(),
                retry_at: None,
            },
            None,
        ),
        (
            E::JobFailed {
                attempt: Attempt(1),
                failure: retryable,
                retry_at: Some(t(1)),
            },
            None,
        ),
        (
            E::LeaseExpired {
                attempt: Attempt(1),
                retry_at: None,
            },
            None,
        ),
        (
            E::JobDeadLettered {
                attempts: 3,
                reason: "x".into(),
                permanent: false,
            },
            Some(Outcome::DeadLettered),
        ),
        (
            E::JobRejected { failure: permanent },
            Some(Outcome::Rejected),
        ),
        (
            E::JobCancelled { reason: "x".into() },
            Some(Outcome::Cancelled),
        ),
        (claim(1, 0), None),
    ];
    for (payload, expected) in cases {
        assert_eq!(
            Outcome::of_event(&payload),
            expected,
            "{}",
            payload.type_name()
        );
    }
}

#[test]
fn a_rejected_job_has_no_duration_and_an_unknown_engine_when_its_target_is_gone() {
    let m = Metrics::new("1");
    let mut log = Log::new(3);
    let events = [
        log.event(0, queued_backup()),
        log.event(
            0,
            E::JobRejected {
                failure: Failure::permanent("unknown_target", "no such target"),
            },
        ),
    ];
    for e in &events {
        m.observe(e, |_| None);
    }
    let text = m.encode(Format::OpenMetrics);
    assert_eq!(
        value(
            &text,
            r#"cairn_jobs_total{kind="backup",engine="unknown",target="orders",outcome="rejected"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("cairn_job_duration_seconds_count"), "{text}");
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn events_of_jobs_queued_before_the_fold_started_are_ignored() {
    let mut fold = super::Fold::default();
    let mut log = Log::new(4);
    log.seq = 3;
    let step = fold.apply(
        &log.event(
            0,
            E::JobSucceeded {
                attempt: Attempt(1),
            },
        ),
        |_| None,
    );
    assert_eq!(step, super::Step::default());
    assert_eq!(fold.open_jobs(), 0);
}

#[test]
fn schedule_intervals_are_replaced_as_a_whole() {
    let m = Metrics::new("1");
    m.set_schedule_intervals([("a".to_string(), 3600.0), ("b".to_string(), 86400.0)]);
    m.set_schedule_intervals([("b".to_string(), 600.0)]);
    let text = m.encode(Format::Prometheus);
    assert_eq!(
        value(&text, r#"cairn_schedule_interval_seconds{target="b"}"#),
        Some(600.0)
    );
    assert_eq!(
        value(&text, r#"cairn_schedule_interval_seconds{target="a"}"#),
        None
    );
}

#[test]
fn accept_headers_choose_the_format() {
    assert_eq!(Format::from_accept(None), Format::Prometheus);
    assert_eq!(
        Format::from_accept(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
}
