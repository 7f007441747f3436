//! Crash-recovery driver: appends to a ledger forever until it is killed.
//!
//! `ledger-torture DIR [TASKS]` opens the ledger in DIR, finishes the jobs a previous run
//! left unfinished, then starts new ones, on several concurrent tasks. Each job lives
//! queued → claimed → started → progress → failed (retryable) → claimed → progress →
//! stored + succeeded, the last two in one append. After every acknowledged append it
//! prints one line per stored event, `job_id seq global_seq`, and flushes stdout, so a
//! test that kills it with SIGKILL knows exactly which events the ledger promised to keep.

use cairn_domain::{
    Actor, Attempt, BackupId, Engine, EventPayload, Failure, JobId, JobSpec, JobState, JobStatus,
    Manifest, NewEvent, Scope, StorageName, TargetName, WorkerId,
};
use cairn_ledger::Ledger;
use chrono::{Duration, Utc};
use std::io::Write;
use std::path::PathBuf;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: ledger-torture DIR [TASKS]")?);
    let tasks: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
    let ledger = Ledger::open(&dir)?;
    let unfinished =
        ledger.jobs_in(&[JobStatus::Queued, JobStatus::Running, JobStatus::RetryDue])?;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let ledger = ledger.clone();
        let mine: Vec<JobId> = unfinished
            .iter()
            .skip(task)
            .step_by(tasks)
            .map(|s| s.job_id)
            .collect();
        handles.push(tokio::spawn(async move {
            for job in mine {
                run_job(&ledger, job, task).await?;
            }
            loop {
                run_job(&ledger, JobId::new_random(), task).await?;
            }
        }));
    }
    for handle in handles {
        let result: Result<(), Error> = handle.await?;
        result?;
    }
    Ok(())
}

/// Drives one job to its end, printing every acknowledged event.
async fn run_job(ledger: &Ledger, job: JobId, task: usize) -> Result<(), Error> {
    let mut state = ledger.job(job)?;
    while let Some(payloads) = next_step(job, state.as_ref(), task) {
        let expected = state.as_ref().map_or(0, |s| s.seq);
        let events = payloads
            .into_iter()
            .map(|p| NewEvent::new(Actor::service("torture"), p))
            .collect();
        let stored = ledger.append(job, expected, events).await?;
        let mut out = std::io::stdout().lock();
        for e in &stored {
            writeln!(out, "{} {} {}", e.job_id, e.seq, e.global_seq)?;
        }
        out.flush()?;
        drop(out);
        state = ledger.job(job)?;
    }
    Ok(())
}

/// The next append of a job's scripted life, or `None` once it has ended.
fn next_step(job: JobId, state: Option<&JobState>, task: usize) -> Option<Vec<EventPayload>> {
    let now = Utc::now();
    let Some(s) = state else {
        let target = TargetName::parse(format!("torture-{}", task % 3)).expect("valid name");
        let spec = JobSpec::Backup {
            target,
            storage: StorageName::default_storage(),
        };
        return Some(vec![EventPayload::JobQueued {
            spec,
            max_attempts: 3,
            requested_by: "torture".into(),
        }]);
    };
    let attempt = Attempt(s.attempt);
    let step = match s.status {
        JobStatus::Queued | JobStatus::RetryDue => vec![EventPayload::JobClaimed {
            attempt: Attempt(s.attempt + 1),
            worker_id: WorkerId(format!("torture-{task}")),
            lease_until: now + Duration::seconds(30),
        }],
        JobStatus::Running if s.server_version.is_none() => vec![EventPayload::JobStarted {
            attempt,
            server_version: "15".into(),
        }],
        JobStatus::Running if s.bytes_db < 2 => vec![EventPayload::JobProgress {
            attempt,
            bytes_db: s.bytes_db + 1,
            bytes_storage: s.bytes_storage + 1,
            lease_until: now + Duration::seconds(30),
        }],
        JobStatus::Running if s.attempt == 1 => vec![EventPayload::JobFailed {
            attempt,
            failure: Failure::retryable("unreachable", "torture says no"),
            retry_at: Some(now),
        }],
        JobStatus::Running => vec![
            EventPayload::BackupStored {
                attempt,
                manifest: manifest(job),
            },
            EventPayload::JobSucceeded { attempt },
        ],
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled => return None,
    };
    Some(step)
}

fn manifest(job: JobId) -> Manifest {
    let now = Utc::now();
    Manifest {
        format: 1,
        id: BackupId::new(now, job),
        target: TargetName::parse("torture").expect("valid name"),
        engine: Engine::Postgres,
        server_version: "15".into(),
        scope: Scope::Server,
        artifact: "dump.sql.zst".into(),
        size_bytes: 2,
        stored_bytes: 1,
        sha256: "00".into(),
        compression: "zstd".into(),
        format_name: "pg_dumpall-plain".into(),
        job_id: job,
        created_at: now,
        duration_seconds: 0.5,
        signature: None,
        client_version: None,
        encryption: None,
    }
}
