//! `cairn job ID`: a job's state, its attempts and its whole event timeline.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::summary::failure_of;
use crate::cli::JobArgs;
use cairn_domain::api::JobView;
use cairn_domain::{Actor, EventPayload, JobSpec};

pub async fn show(client: &ApiClient, args: JobArgs, json: bool) -> Result<Outcome, CliError> {
    let view: JobView = client.get(&format!("/v1/jobs/{}", args.id)).await?;
    if json {
        output::json(&view)?;
        return Ok(Outcome::Success);
    }
    let s = &view.state;
    let mut fields = vec![
        ("job", s.job_id.to_string()),
        ("kind", s.kind().to_string()),
        ("target", s.spec.target().to_string()),
        ("status", s.status.to_string()),
        ("attempts", format!("{} of {}", s.attempt, s.max_attempts)),
        ("requested by", s.requested_by.clone()),
        ("queued", output::time(s.queued_at)),
        ("updated", output::time(s.updated_at)),
    ];
    match &s.spec {
        JobSpec::Backup { storage, .. } => fields.push(("storage", storage.to_string())),
        JobSpec::Restore {
            source,
            backup,
            storage,
            trust_unsigned,
            ..
        } => fields.push((
            "restores",
            format!(
                "backup {backup} of {source} ({storage}){}",
                if *trust_unsigned {
                    ", trusting an unsigned or foreign backup (--trust-unsigned)"
                } else {
                    ""
                }
            ),
        )),
        JobSpec::Prune { storage, keep, .. } => fields.push((
            "prunes",
            format!("{storage}, keeping {}", describe_keep(keep)),
        )),
        JobSpec::Forget {
            storage, backup, ..
        } => fields.push(("forgets", format!("{backup} in {storage}"))),
        JobSpec::Purge { storage, .. } => {
            fields.push(("purges", format!("every backup in {storage}")))
        }
        JobSpec::Check { .. } => {}
    }
    if let Some(m) = &s.backup {
        fields.push((
            "backup",
            format!(
                "{} ({} dumped, {} stored)",
                m.id,
                output::bytes(m.size_bytes),
                output::bytes(m.stored_bytes)
            ),
        ));
    }
    if let Some(at) = s.retry_at {
        fields.push(("retry at", output::time(at)));
    }
    if let Some(f) = failure_of(&view) {
        fields.push(("failure", f.to_string()));
    }
    output::fields(&fields)?;
    output::line("")?;
    let mut table = Table::new(&["SEQ", "TIME", "EVENT", "ATTEMPT", "BY", "DETAIL"]);
    for e in &view.events {
        table.row(vec![
            e.seq.to_string(),
            output::time(e.at),
            e.payload.type_name().to_string(),
            e.attempt.map(|a| a.to_string()).unwrap_or_default(),
            actor(&e.actor),
            detail(&e.payload),
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}

/// Who appended an event: `token:NAME` for a request, else the service.
fn actor(a: &Actor) -> String {
    match &a.token {
        Some(token) => format!("token:{token}"),
        None => a.service.clone(),
    }
}

/// One short line about an event, without repeating the envelope's columns.
fn detail(payload: &EventPayload) -> String {
    use EventPayload as E;
    let text = match payload {
        E::JobQueued {
            max_attempts,
            requested_by,
            ..
        } => format!("by {requested_by}, up to {max_attempts} attempts"),
        E::JobClaimed {
            worker_id,
            lease_until,
            ..
        } => format!(
            "worker {worker_id}, lease until {}",
            output::time(*lease_until)
        ),
        E::JobStarted { server_version, .. } => format!("server version {server_version}"),
        E::JobProgress {
            bytes_db,
            bytes_storage,
            ..
        } => format!(
            "database {}, storage {}",
            output::bytes(*bytes_db),
            output::bytes(*bytes_storage)
        ),
        E::BackupStored { manifest, .. } => format!(
            "backup {}: {} dumped, {} stored",
            manifest.id,
            output::bytes(manifest.size_bytes),
            output::bytes(manifest.stored_bytes)
        ),
        E::RestoreApplied {
            source,
            backup,
            bytes,
            ..
        } => format!(
            "backup {backup} of {source}, {} applied",
            output::bytes(*bytes)
        ),
        E::JobFailed {
            failure, retry_at, ..
        } => match retry_at {
            Some(at) => format!("{failure}; retry at {}", output::time(*at)),
            None => format!("{failure}; no retry"),
        },
        E::LeaseExpired { retry_at, .. } => match retry_at {
            Some(at) => format!("worker went silent; retry at {}", output::time(*at)),
            None => "worker went silent; no retry".to_string(),
        },
        E::JobDeadLettered {
            attempts: 1,
            reason,
            permanent: true,
        } => format!("after 1 attempt: {reason}"),
        E::JobDeadLettered {
            attempts, reason, ..
        } => format!("after {attempts} attempts: {reason}"),
        E::JobCancelled { reason } => reason.clone(),
        E::JobRejected { failure } => format!("refused: {failure}"),
        E::PartialArtifactRemoved { path, .. } => format!("removed {path}"),
        E::ScheduleSkipped { slot, .. } => format!(
            "slot {} skipped: the target's previous job still ran",
            output::time(*slot)
        ),
        E::ScheduleMissed {
            first, last, count, ..
        } => match count {
            1 => format!(
                "slot {} missed: past the catch-up window",
                output::time(*last)
            ),
            _ => format!(
                "{count} slots from {} to {} missed: past the catch-up window",
                output::time(*first),
                output::time(*last)
            ),
        },
        E::BackupDeleted { backup, reason, .. } => {
            format!("deleted backup {backup} ({})", reason.as_str())
        }
        E::JobSucceeded { .. } => String::new(),
        E::TargetAdded { .. }
        | E::TargetUpdated { .. }
        | E::TargetRemoved {}
        | E::ScheduleSet { .. }
        | E::ScheduleCleared { .. } => {
            cairn_domain::config::describe_change(payload).unwrap_or_default()
        }
    };
    output::shorten(&text, 120)
}

/// `the newest 3, 7 daily, 4 weekly`.
pub fn describe_keep(keep: &cairn_domain::Keep) -> String {
    let mut parts = vec![format!("the newest {}", keep.last)];
    for (n, unit) in [
        (keep.hourly, "hourly"),
        (keep.daily, "daily"),
        (keep.weekly, "weekly"),
        (keep.monthly, "monthly"),
        (keep.yearly, "yearly"),
    ] {
        if let Some(n) = n {
            parts.push(format!("{n} {unit}"));
        }
    }
    parts.join(", ")
}
