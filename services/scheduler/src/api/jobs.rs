//! Job requests (backup, restore), job views with their timelines, long-poll waiting, and
//! the history query.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::targets::{backups_of, parse_target_name, store_of, BackupHome};
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use cairn_domain::api::{
    BackupRequest, CheckRequest, HistoryEntry, JobCreated, JobView, RestoreRequest,
};
use cairn_domain::{
    BackupId, Failure, JobId, JobKind, JobSpec, JobStatus, StorageName, TargetName,
};
use cairn_ledger::HistoryQuery;
use serde::Deserialize;
use std::time::Duration;

pub(super) fn created(state: &cairn_domain::JobState) -> JobCreated {
    let backup = match &state.spec {
        JobSpec::Restore { backup, .. } | JobSpec::Forget { backup, .. } => {
            Some(backup.to_string())
        }
        _ => None,
    };
    JobCreated {
        job_id: state.job_id,
        kind: state.kind(),
        target: state.spec.target().to_string(),
        backup,
    }
}

/// Refuses a request with 404 after recording it as a rejected job.
async fn reject(
    s: &Scheduler,
    by: &Principal,
    spec: JobSpec,
    code: &str,
    message: String,
) -> ApiError {
    match s
        .reject_for(spec, &by.token, Failure::permanent(code, message.clone()))
        .await
    {
        Ok(job_id) => ApiError {
            job_id: Some(job_id),
            ..ApiError::not_found(message)
        },
        Err(e) => ApiError::from(e),
    }
}

fn unknown_target(name: &TargetName) -> String {
    format!("unknown target \"{name}\"; list targets with `cairn target list`")
}

pub async fn backup(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<BackupRequest>,
) -> ApiResult<(StatusCode, Json<JobCreated>)> {
    let name = parse_target_name(&req.target)?;
    let Some(target) = s.ledger().target(&name)? else {
        let spec = JobSpec::Backup {
            target: name.clone(),
            storage: StorageName::default_storage(),
        };
        return Err(reject(&s, &by, spec, "unknown_target", unknown_target(&name)).await);
    };
    let spec = JobSpec::Backup {
        target: target.name.clone(),
        storage: target.storage.clone(),
    };
    let state = s.enqueue_for(spec, &by.token).await?;
    tracing::info!(job_id = %state.job_id, target = %target.name, token = %by.token, "backup queued");
    Ok((StatusCode::ACCEPTED, Json(created(&state))))
}

/// Queues a check: the target's preflight alone, as a job with one attempt.
pub async fn check(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<CheckRequest>,
) -> ApiResult<(StatusCode, Json<JobCreated>)> {
    let name = parse_target_name(&req.target)?;
    let spec = JobSpec::Check {
        target: name.clone(),
    };
    if s.ledger().target(&name)?.is_none() {
        return Err(reject(&s, &by, spec, "unknown_target", unknown_target(&name)).await);
    }
    let state = s.enqueue_for(spec, &by.token).await?;
    tracing::info!(job_id = %state.job_id, target = %name, token = %by.token, "check queued");
    Ok((StatusCode::ACCEPTED, Json(created(&state))))
}

pub async fn restore(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<RestoreRequest>,
) -> ApiResult<(StatusCode, Json<JobCreated>)> {
    let requested_id = (req.backup != "latest")
        .then(|| BackupId::parse(&req.backup))
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let name = parse_target_name(&req.target)?;
    let target = match (s.ledger().target(&name)?, &requested_id) {
        (Some(t), _) => t,
        (None, Some(id)) => {
            let source = req
                .from
                .as_deref()
                .map(parse_target_name)
                .transpose()?
                .unwrap_or_else(|| name.clone());
            let spec = JobSpec::Restore {
                target: name.clone(),
                source,
                backup: id.clone(),
                storage: StorageName::default_storage(),
                trust_unsigned: req.trust_unsigned,
            };
            return Err(reject(&s, &by, spec, "unknown_target", unknown_target(&name)).await);
        }
        (None, None) => return Err(ApiError::not_found(unknown_target(&name))),
    };
    let (source, store) = match req.from.as_deref() {
        Some(name) => backups_of(&s, name).await?,
        None => (
            BackupHome {
                name: target.name.clone(),
                storage: target.storage.clone(),
            },
            store_of(&s, &target)?,
        ),
    };
    let backup = match requested_id {
        None => {
            let list = store.list_backups(&source.name).await?;
            let newest = list.into_iter().next().ok_or_else(|| {
                ApiError::not_found(format!(
                    "target {} has no backups yet; run `cairn backup {}` first",
                    source.name, source.name
                ))
            })?;
            newest.id
        }
        Some(id) => match store.manifest(&source.name, &id).await {
            Ok(_) => id,
            Err(cairn_storage::StorageError::NotFound { .. }) => {
                let message = match owner_of(&s, &source.name, &id).await {
                    Some(owner) => format!(
                        "backup {id} is not a backup of target {}: it is one of target {owner}; \
                         add `--from {owner}` to restore it onto {}",
                        source.name, target.name
                    ),
                    None => format!(
                        "backup {id} of {} not found; list backups with `cairn backups {}`",
                        source.name, source.name
                    ),
                };
                let spec = JobSpec::Restore {
                    target: target.name.clone(),
                    source: source.name.clone(),
                    backup: id,
                    storage: source.storage.clone(),
                    trust_unsigned: req.trust_unsigned,
                };
                return Err(reject(&s, &by, spec, "backup_not_found", message).await);
            }
            Err(e) => return Err(e.into()),
        },
    };
    let spec = JobSpec::Restore {
        target: target.name.clone(),
        source: source.name.clone(),
        backup: backup.clone(),
        storage: source.storage.clone(),
        trust_unsigned: req.trust_unsigned,
    };
    let state = s.enqueue_for(spec, &by.token).await?;
    tracing::info!(job_id = %state.job_id, target = %target.name, source = %source.name, %backup, token = %by.token, trust_unsigned = req.trust_unsigned, "restore queued");
    Ok((StatusCode::ACCEPTED, Json(created(&state))))
}

/// The other target whose storage holds this backup, if any (a hint for `--from`).
async fn owner_of(s: &Scheduler, source: &TargetName, id: &BackupId) -> Option<TargetName> {
    let targets = s.ledger().targets().ok()?;
    for target in targets.iter().filter(|t| &t.name != source) {
        let Ok(store) = store_of(s, target) else {
            continue;
        };
        if store.manifest(&target.name, id).await.is_ok() {
            return Some(target.name.clone());
        }
    }
    None
}

fn parse_job_id(id: &str) -> ApiResult<JobId> {
    JobId::parse(id).map_err(|_| {
        ApiError::invalid(format!(
            "{id:?} is not a job id (a UUID as printed by `cairn backup`)"
        ))
    })
}

fn view(s: &Scheduler, job_id: JobId) -> ApiResult<JobView> {
    let state = s
        .ledger()
        .job(job_id)?
        .ok_or_else(|| ApiError::not_found(format!("unknown job {job_id}; see `cairn history`")))?;
    let events = s.ledger().events(job_id)?;
    let state = s.with_live_lease(state);
    Ok(JobView { state, events })
}

pub async fn show(State(s): State<Scheduler>, Path(id): Path<String>) -> ApiResult<Json<JobView>> {
    Ok(Json(view(&s, parse_job_id(&id)?)?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitParams {
    #[serde(default)]
    after_seq: u64,
    timeout_ms: Option<u64>,
}

/// Long poll: answers as soon as the job has an event after `after_seq` or has ended,
/// with the job's state and only the events after `after_seq` (a client passes the last
/// `seq` it saw, so each event crosses the wire once).
pub async fn wait(
    State(s): State<Scheduler>,
    Path(id): Path<String>,
    Query(p): Query<WaitParams>,
) -> ApiResult<Json<JobView>> {
    let job_id = parse_job_id(&id)?;
    let timeout = Duration::from_millis(p.timeout_ms.unwrap_or(25_000).min(60_000));
    let mut changes = s.ledger().subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let state = s.ledger().job(job_id)?.ok_or_else(|| {
            ApiError::not_found(format!("unknown job {job_id}; see `cairn history`"))
        })?;
        let answer = state.seq > p.after_seq || state.status.is_terminal();
        let timed_out = !answer
            && !matches!(
                tokio::time::timeout_at(deadline, changes.changed()).await,
                Ok(Ok(()))
            );
        if answer || timed_out {
            let state = s.with_live_lease(s.ledger().job(job_id)?.unwrap_or(state));
            let events = s.ledger().events_since(job_id, p.after_seq)?;
            return Ok(Json(JobView { state, events }));
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct HistoryParams {
    target: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

pub async fn history(
    State(s): State<Scheduler>,
    Query(p): Query<HistoryParams>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    let target = p.target.as_deref().map(parse_target_name).transpose()?;
    // `config` asks for configuration changes only; a job kind for jobs only.
    let config_only = p.kind.as_deref() == Some("config");
    let kind = match p.kind.as_deref() {
        None | Some("config") => None,
        Some(k) => Some(JobKind::parse(k).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown kind {k:?}; use backup, restore, prune, check or config"
            ))
        })?),
    };
    let jobs_wanted = !config_only;
    let status = match p.status.as_deref() {
        None => None,
        Some(st) => Some(JobStatus::parse(st).ok_or_else(|| {
            let all: Vec<_> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(format!(
                "unknown status {st:?}; use one of {}",
                all.join(", ")
            ))
        })?),
    };
    let since = match p.since.as_deref() {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "since {t:?} is not an RFC 3339 time (like 2026-11-26T03:00:00Z)"
                    ))
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let limit = p.limit.unwrap_or(50).clamp(1, 10_000);
    // A configuration change is done when recorded: it matches `succeeded` only.
    let config =
        (config_only || kind.is_none()) && status.is_none_or(|s| s == JobStatus::Succeeded);
    let mut entries: Vec<HistoryEntry> = Vec::new();
    if jobs_wanted {
        let query = HistoryQuery {
            target: target.clone(),
            kind,
            status,
            since,
            limit,
        };
        entries.extend(s.ledger().history(&query)?.iter().map(HistoryEntry::from));
    }
    if config {
        let changes = s.ledger().config_history(target.as_ref(), since, limit)?;
        entries.extend(changes.iter().filter_map(HistoryEntry::of_config_event));
        // Newest first across both, as the jobs alone were.
        entries.sort_by_key(|e| std::cmp::Reverse(e.queued_at));
        entries.truncate(limit);
    }
    Ok(Json(entries))
}
