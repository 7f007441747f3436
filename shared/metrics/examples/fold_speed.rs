//! How fast the metrics fold a ledger's events (what `cairn up` does once at start):
//! `cargo run -p cairn-metrics --example fold_speed --release [JOBS]`. Prints events/s.
//! Each job is a backup's typical log: queued, claimed, started, progress, stored, succeeded.

use cairn_domain::{
    Actor, Attempt, BackupId, Engine, EventEnvelope, EventId, EventPayload as E, JobId, JobKind,
    JobSpec, Manifest, Scope, StorageName, TargetName, WorkerId,
};
use cairn_metrics::{Format, Metrics};
use chrono::Utc;
use std::time::Instant;

fn main() {
    let jobs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let targets: Vec<TargetName> = (0..50)
        .map(|i| TargetName::parse(format!("db-{i}")).expect("name"))
        .collect();
    let now = Utc::now();
    let mut events = Vec::new();
    let mut global = 0;
    for n in 0..jobs {
        let job = JobId(uuid::Uuid::from_u128(u128::from(n) + 1));
        let target = targets[(n % 50) as usize].clone();
        let manifest = Manifest {
            format: 1,
            id: BackupId::new(now, job),
            target: target.clone(),
            engine: Engine::Postgres,
            server_version: "15".into(),
            scope: Scope::Server,
            artifact: "dump.sql.zst".into(),
            size_bytes: 3000,
            stored_bytes: 1000,
            sha256: "00".into(),
            compression: "zstd".into(),
            format_name: "pg_dump-plain".into(),
            job_id: job,
            created_at: now,
            duration_seconds: 1.0,
            client_version: None,
            encryption: None,
            signature: None,
        };
        let payloads = vec![
            E::JobQueued {
                spec: JobSpec::Backup {
                    target: target.clone(),
                    storage: StorageName::default_storage(),
                },
                max_attempts: 3,
                requested_by: "bench".into(),
            },
            E::JobClaimed {
                attempt: Attempt(1),
                worker_id: WorkerId("w".into()),
                lease_until: now,
            },
            E::JobStarted {
                attempt: Attempt(1),
                server_version: "15".into(),
            },
            E::JobProgress {
                attempt: Attempt(1),
                bytes_db: 1,
                bytes_storage: 1,
                lease_until: now,
            },
            E::BackupStored {
                attempt: Attempt(1),
                manifest,
            },
            E::JobSucceeded {
                attempt: Attempt(1),
            },
        ];
        for (i, payload) in payloads.into_iter().enumerate() {
            global += 1;
            events.push(EventEnvelope {
                event_id: EventId::new(),
                job_id: job,
                seq: i as u64 + 1,
                global_seq: global,
                at: now,
                kind: JobKind::Backup.into(),
                target: target.clone(),
                attempt: None,
                actor: Actor::service("bench"),
                payload,
            });
        }
    }
    let metrics = Metrics::new("bench");
    let start = Instant::now();
    for e in &events {
        metrics.observe(e, |_| Some(Engine::Postgres));
    }
    let took = start.elapsed();
    let text = metrics.encode(Format::OpenMetrics);
    println!(
        "folded {} events ({jobs} jobs, 50 targets) in {:.3} s: {:.0} events/s; exposition {} bytes",
        events.len(),
        took.as_secs_f64(),
        events.len() as f64 / took.as_secs_f64(),
        text.len()
    );
}
