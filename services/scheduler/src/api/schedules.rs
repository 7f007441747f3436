//! Schedules (`/v1/schedules`): set, show, clear and list policies, and the next fires.
//!
//! Setting parses the flags with the same domain code the CLI uses, checks that the target
//! and the storage exist, and records a new policy version naming the request's token. The
//! next fires come from the same schedule code and jitter the firing loop uses.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::targets::{find_storage, find_target, parse_target_name};
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::Extension;
use cairn_domain::api::{ScheduleSetRequest, ScheduleView};
use cairn_domain::schedule::jitter;
use cairn_domain::{Policy, PolicyRecord, TargetName};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

/// The most fires `next` computes in one call.
pub const MAX_COUNT: u32 = 1000;

/// The instant the schedule fires for a slot: the slot plus the target's jitter.
fn fire_times<'a>(
    target: &TargetName,
    policy: &'a Policy,
    after: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + 'a {
    let delay = jitter(target, policy.jitter.as_duration());
    let delay = TimeDelta::from_std(delay).unwrap_or(TimeDelta::zero());
    // A slot whose jittered fire is still ahead may lie before `after`.
    let from = after - delay;
    policy
        .schedule
        .fires_after(from)
        .map(move |slot| slot + delay)
        .skip_while(move |fire| *fire <= after)
}

fn view(
    s: &Scheduler,
    record: &PolicyRecord,
    history: Vec<PolicyRecord>,
) -> ApiResult<ScheduleView> {
    let policy = record
        .policy
        .clone()
        .ok_or_else(|| no_schedule(&record.target))?;
    let storage = match &policy.storage {
        Some(name) => name.to_string(),
        None => s
            .ledger()
            .target(&record.target)?
            .map_or_else(|| "-".to_string(), |t| t.storage.to_string()),
    };
    let next_fire = fire_times(&record.target, &policy, Utc::now())
        .next()
        .ok_or_else(|| ApiError::internal("the schedule has no next fire"))?;
    Ok(ScheduleView {
        target: record.target.to_string(),
        policy_id: record.policy_id,
        version: record.version,
        describe: policy.schedule.to_string(),
        storage,
        set_at: record.at,
        set_by: record.by.as_ref().map(ToString::to_string),
        next_fire,
        history,
        policy,
    })
}

fn no_schedule(target: &TargetName) -> ApiError {
    ApiError::not_found(format!(
        "target {target} has no schedule; set one with `cairn schedule set {target} --every daily` (see `cairn schedule set --help`)"
    ))
}

/// The policy in force for `name`, or a 404 that says how to set one.
fn policy_of(s: &Scheduler, name: &str) -> ApiResult<PolicyRecord> {
    let target = parse_target_name(name)?;
    s.ledger()
        .policy(&target)?
        .ok_or_else(|| no_schedule(&target))
}

pub async fn set(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    Json(req): Json<ScheduleSetRequest>,
) -> ApiResult<Json<ScheduleView>> {
    let target = find_target(&s, &name)?;
    let policy = req
        .to_policy()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if let Some(storage) = &policy.storage {
        find_storage(&s, storage)?;
    }
    let record = s
        .ledger()
        .set_policy(
            &target.name,
            Some(policy),
            Some(by.token.clone()),
            Utc::now(),
        )
        .await?;
    tracing::info!(target = %target.name, version = %record.version, by = %by.token, "schedule set");
    Ok(Json(view(&s, &record, Vec::new())?))
}

pub async fn show(
    State(s): State<Scheduler>,
    Path(name): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let record = policy_of(&s, &name)?;
    let history = s.ledger().policy_history(&record.target)?;
    Ok(Json(view(&s, &record, history)?))
}

pub async fn clear(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Json<PolicyRecord>> {
    let record = policy_of(&s, &name)?;
    let cleared = s
        .ledger()
        .set_policy(&record.target, None, Some(by.token.clone()), Utc::now())
        .await?;
    tracing::info!(target = %record.target, version = %cleared.version, by = %by.token, "schedule cleared");
    Ok(Json(cleared))
}

pub async fn list(State(s): State<Scheduler>) -> ApiResult<Json<Vec<ScheduleView>>> {
    let views = s
        .ledger()
        .policies()?
        .iter()
        .map(|record| view(&s, record, Vec::new()))
        .collect::<ApiResult<_>>()?;
    Ok(Json(views))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NextParams {
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    after: Option<String>,
}

/// The next `count` (default 5, at most [`MAX_COUNT`]) fire times after `after` (default
/// now), as RFC 3339 UTC instants.
pub async fn next(
    State(s): State<Scheduler>,
    Path(name): Path<String>,
    Query(p): Query<NextParams>,
) -> ApiResult<Json<Vec<DateTime<Utc>>>> {
    let record = policy_of(&s, &name)?;
    let count = p.count.unwrap_or(5);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(ApiError::invalid(format!(
            "--count {count}: give a number from 1 to {MAX_COUNT}"
        )));
    }
    let after = match &p.after {
        None => Utc::now(),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|e| {
                ApiError::invalid(format!(
                    "--after {text:?} is not an RFC 3339 time ({e}); write e.g. 2026-03-29T00:00:00Z"
                ))
            })?
            .with_timezone(&Utc),
    };
    let policy = record
        .policy
        .as_ref()
        .ok_or_else(|| no_schedule(&record.target))?;
    Ok(Json(
        fire_times(&record.target, policy, after)
            .take(count as usize)
            .collect(),
    ))
}
