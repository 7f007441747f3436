//! Notifiers (`/v1/notifiers`) and the record of their deliveries (`/v1/deliveries`), for
//! admins. A webhook URL at a link-local or cloud metadata address is refused unless the
//! request allows it; the signing secret is only a confined environment reference.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::targets::parse_target_name;
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use cairn_domain::notify::endpoint::parse_webhook;
use cairn_domain::notify::{Delivery, Notifier, NotifierAddRequest, NotifyOn};
use cairn_domain::{JobKind, NotifierName};
use cairn_ledger::LedgerError;
use chrono::Utc;
use serde::Deserialize;

/// Every value when none was named; each value once, in the order of `all`.
fn or_all<T: Copy + PartialEq>(named: &[T], all: &[T]) -> Vec<T> {
    all.iter()
        .copied()
        .filter(|x| named.is_empty() || named.contains(x))
        .collect()
}

fn parse_name(name: &str) -> ApiResult<NotifierName> {
    NotifierName::parse(name).map_err(|e| ApiError::invalid(format!("notifier {e}")))
}

pub async fn add(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<NotifierAddRequest>,
) -> ApiResult<(StatusCode, Json<Notifier>)> {
    let name = parse_name(&req.name)?;
    parse_webhook(&req.webhook, req.allow_private_endpoint)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let target = req.target.as_deref().map(parse_target_name).transpose()?;
    if let Some(var) = &req.secret_env {
        s.keyring()
            .policy()
            .check_env(var)
            .map_err(|e| ApiError::invalid(format!("--secret-env: {e}")))?;
    }
    let notifier = Notifier {
        name,
        webhook: req.webhook,
        on: or_all(&req.on, &NotifyOn::ALL),
        kinds: or_all(&req.kinds, &JobKind::ALL),
        target,
        secret_env: req.secret_env,
        allow_private_endpoint: req.allow_private_endpoint,
        created_at: Utc::now(),
        created_by: by.token.to_string(),
    };
    match s.ledger().put_notifier(&notifier).await {
        Ok(()) => {}
        Err(LedgerError::Exists(_)) => {
            return Err(ApiError::conflict(format!(
                "a notifier named {} exists; remove it first (`cairn notify remove {}`) or \
                 choose another name",
                notifier.name, notifier.name
            )))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(notifier = %notifier.name, by = %by.token, "notifier added");
    Ok((StatusCode::CREATED, Json(notifier)))
}

pub async fn list(State(s): State<Scheduler>) -> ApiResult<Json<Vec<Notifier>>> {
    Ok(Json(s.ledger().notifiers()?))
}

pub async fn remove(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = parse_name(&name)?;
    if !s.ledger().remove_notifier(&name).await? {
        return Err(ApiError::not_found(format!(
            "unknown notifier {name}; list notifiers with `cairn notify list`"
        )));
    }
    tracing::info!(notifier = %name, by = %by.token, "notifier removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DeliveryParams {
    limit: Option<usize>,
}

/// Delivery attempts, newest first (default 50).
pub async fn deliveries(
    State(s): State<Scheduler>,
    Query(p): Query<DeliveryParams>,
) -> ApiResult<Json<Vec<Delivery>>> {
    let limit = p
        .limit
        .unwrap_or(50)
        .clamp(1, cairn_ledger::DELIVERIES_KEEP as usize);
    Ok(Json(s.ledger().deliveries(limit)?))
}
