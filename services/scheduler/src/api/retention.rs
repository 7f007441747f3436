//! Retention on demand: queue a prune (`POST /v1/prunes`), show what one would do without
//! doing it (`GET /v1/targets/{name}/prune`), and delete one backup (`POST /v1/forgets`).
//! Deletions run as jobs of kind `prune` in the retention sweeper, so each is recorded.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::jobs::created;
use super::targets::{find_target, store_of};
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use cairn_domain::api::{ForgetRequest, JobCreated, PrunePlanEntry, PruneRequest};
use cairn_domain::retention::{self, BackupInfo, KeepFlags};
use cairn_domain::{BackupId, JobSpec, Keep, Zone};
use serde::Deserialize;

pub async fn prune(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<PruneRequest>,
) -> ApiResult<(StatusCode, Json<JobCreated>)> {
    let target = find_target(&s, &req.target)?;
    let spec = JobSpec::prune(
        target.name.clone(),
        target.storage.clone(),
        req.keep.unwrap_or_default(),
    );
    let state = s.enqueue_for(spec, &by.token).await?;
    tracing::info!(job_id = %state.job_id, target = %target.name, token = %by.token, "prune queued");
    Ok((StatusCode::ACCEPTED, Json(created(&state))))
}

/// The `--keep …` flags of a dry run, as query parameters.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct KeepQuery {
    keep: Option<u32>,
    keep_hourly: Option<u32>,
    keep_daily: Option<u32>,
    keep_weekly: Option<u32>,
    keep_monthly: Option<u32>,
    keep_yearly: Option<u32>,
}

impl KeepQuery {
    fn keep(&self) -> Result<Keep, ApiError> {
        Keep::from_flags(KeepFlags {
            last: self.keep,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
        })
        .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

pub async fn plan(
    State(s): State<Scheduler>,
    Path(name): Path<String>,
    Query(query): Query<KeepQuery>,
) -> ApiResult<Json<Vec<PrunePlanEntry>>> {
    let keep = query.keep()?;
    let target = find_target(&s, &name)?;
    let listed = store_of(&s, &target)?.list_backups(&target.name).await?;
    let infos: Vec<BackupInfo> = listed.iter().map(BackupInfo::from).collect();
    let plan = retention::apply(&keep, &infos, Zone::UTC)
        .into_iter()
        .filter_map(|(id, verdict)| {
            let m = listed.iter().find(|m| m.id == id)?;
            Some(PrunePlanEntry {
                backup: id.to_string(),
                created_at: m.created_at,
                verdict,
            })
        })
        .collect();
    Ok(Json(plan))
}

pub async fn forget(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<ForgetRequest>,
) -> ApiResult<(StatusCode, Json<JobCreated>)> {
    let target = find_target(&s, &req.target)?;
    let backup = match (req.backup.as_deref(), req.purge) {
        (None, true) => {
            let spec = JobSpec::Purge {
                target: target.name.clone(),
                storage: target.storage.clone(),
            };
            let state = s.enqueue_for(spec, &by.token).await?;
            tracing::info!(job_id = %state.job_id, target = %target.name, token = %by.token, "purge queued");
            return Ok((StatusCode::ACCEPTED, Json(created(&state))));
        }
        (Some(b), false) => BackupId::parse(b).map_err(|e| ApiError::invalid(e.to_string()))?,
        _ => {
            return Err(ApiError::invalid(
                "give either a backup id or purge: true (every backup of the target)",
            ))
        }
    };
    match store_of(&s, &target)?.manifest(&target.name, &backup).await {
        Ok(_) => {}
        Err(cairn_storage::StorageError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!(
                "backup {backup} of {} not found; list backups with `cairn backups {}`",
                target.name, target.name
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let spec = JobSpec::Forget {
        target: target.name.clone(),
        storage: target.storage.clone(),
        backup,
    };
    let state = s.enqueue_for(spec, &by.token).await?;
    tracing::info!(job_id = %state.job_id, target = %target.name, token = %by.token, "forget queued");
    Ok((StatusCode::ACCEPTED, Json(created(&state))))
}
